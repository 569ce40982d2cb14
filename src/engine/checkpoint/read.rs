//! Reading checkpoint bytes back: the predicting part alone, or everything a run resumes from.

use std::collections::HashMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, SafeTensors};

use super::format::{BUFFERS, FORMAT, corrupt};
use crate::domain::spec::TrainingSpec;
use crate::engine::EngineError;
use crate::engine::imbalance::calibration::Calibration;
use crate::engine::model::{Model, registry};
use crate::engine::optim::optimizer::Optimizer;
use crate::engine::optim::state::ParamState;
use crate::engine::predict::Predictor;
use crate::engine::train::state::{Averaged, Best, TrainState};

/// What one checkpoint file holds.
#[derive(Debug, Clone)]
pub struct Stored {
    pub state: TrainState,
    pub calibration: Option<Calibration>,
    /// The caller's feature encoding (opaque JSON), kept with the weights.
    pub encoding: Option<String>,
    /// Per class, what predicted probabilities are multiplied by before renormalizing.
    pub prior_correction: Option<Vec<f64>>,
}

impl Stored {
    /// What predicts with the stored weights.
    pub fn predictor(self) -> Predictor {
        Predictor::new(self.state.model, self.state.members, self.calibration)
            .with_prior_correction(self.prior_correction)
    }
}

/// What every reader of a checkpoint needs first: its tensors, its metadata, and the model's
/// spec, kind and shape.
struct Opened<'a> {
    st: SafeTensors<'a>,
    meta: HashMap<String, String>,
    spec: TrainingSpec,
    calibration: Option<Calibration>,
    kind: String,
    inputs: usize,
    classes: usize,
}

impl<'a> Opened<'a> {
    fn open(data: &'a [u8]) -> Result<Self, EngineError> {
        let st = SafeTensors::deserialize(data).map_err(corrupt)?;
        let (_, header) = SafeTensors::read_metadata(data).map_err(corrupt)?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(corrupt("not a crossfold checkpoint"));
        }
        let parsed = |k: &str| -> Result<&String, EngineError> {
            meta.get(k)
                .ok_or_else(|| corrupt(format!("metadata {k:?} missing")))
        };
        let spec: TrainingSpec = serde_json::from_str(parsed("spec")?).map_err(corrupt)?;
        let calibration: Option<Calibration> = match meta.get("one_class") {
            Some(c) => Some(serde_json::from_str(c).map_err(corrupt)?),
            None => None,
        };
        let kind = match meta.get("model") {
            Some(k) => k.clone(),
            None if calibration.is_some() => "autoencoder".into(),
            None => "mlp".into(),
        };
        let inputs = parsed("inputs")?.parse().map_err(corrupt)?;
        let classes = parsed("classes")?.parse().map_err(corrupt)?;
        Ok(Self {
            st,
            meta,
            spec,
            calibration,
            kind,
            inputs,
            classes,
        })
    }

    fn get(&self, k: &str) -> Result<&str, EngineError> {
        self.meta
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| corrupt(format!("metadata {k:?} missing")))
    }

    fn num(&self, k: &str) -> Result<u64, EngineError> {
        self.get(k)?.parse().map_err(corrupt)
    }

    /// The model whose tensors start with `prefix`.
    fn model(&self, prefix: &str, classes: usize) -> Result<Model, EngineError> {
        load_model(
            &self.st,
            &self.spec,
            &self.kind,
            self.inputs,
            classes,
            prefix,
        )
    }

    /// An ensemble's finished members stored with it (none when stored apart).
    fn members(&self) -> Result<Vec<Model>, EngineError> {
        match self.meta.get("members") {
            // Stored apart (a resume checkpoint): `from_resume_bytes` attaches them.
            Some(_) if self.meta.contains_key("members_apart") => Ok(Vec::new()),
            Some(n) => {
                let n: usize = n.parse().map_err(corrupt)?;
                let member_classes = self.num("member_classes")? as usize;
                (0..n)
                    .map(|m| self.model(&format!("member.{m}."), member_classes))
                    .collect()
            }
            None => Ok(Vec::new()),
        }
    }

    fn threshold(&self) -> Result<Option<f64>, EngineError> {
        (self.meta.get("decision_threshold"))
            .map(|t| t.parse::<f64>().map_err(corrupt))
            .transpose()
    }

    fn prior_correction(&self) -> Result<Option<Vec<f64>>, EngineError> {
        self.meta
            .get("prior_correction")
            .map(|c| serde_json::from_str(c).map_err(corrupt))
            .transpose()
    }
}

/// What predicting reads from a checkpoint: no optimizer state, best copy or history.
#[derive(Debug, Clone)]
pub struct StoredPredictor {
    pub predictor: Predictor,
    /// The caller's feature encoding (opaque JSON), kept with the weights.
    pub encoding: Option<String>,
    /// The class names, in the order of the outputs (checkpoints written before they were kept
    /// have none).
    pub class_names: Option<Vec<String>>,
}

/// Reads the predicting part of checkpoint bytes.
pub fn predictor_from_bytes(data: &[u8]) -> Result<StoredPredictor, EngineError> {
    let o = Opened::open(data)?;
    let model = o.model("", o.classes)?;
    let predictor = Predictor::new(model, o.members()?, o.calibration)
        .with_prior_correction(o.prior_correction()?)
        .with_threshold(o.threshold()?);
    let class_names = o
        .meta
        .get("class_names")
        .map(|c| serde_json::from_str(c).map_err(corrupt))
        .transpose()?;
    Ok(StoredPredictor {
        predictor,
        encoding: o.meta.get("encoding").cloned(),
        class_names,
    })
}

/// Reads checkpoint bytes back, the resume state with the rest.
pub fn from_bytes(data: &[u8]) -> Result<Stored, EngineError> {
    let o = Opened::open(data)?;
    let model = o.model("", o.classes)?;
    let mut states = vec![ParamState::default(); model.params().len()];
    for (p, state) in model.params().iter().zip(states.iter_mut()) {
        for name in BUFFERS {
            let key = format!("optimizer.{}.{name}", p.name);
            if o.st.tensor(&key).is_ok() {
                let mut buf = vec![0.0; p.data.len()];
                read_tensor(&o.st, &key, &mut buf)?;
                state.buffers.push((name, buf));
            }
        }
    }
    let best = match o.meta.get("best_epoch") {
        Some(e) => Some(Best {
            model: o.model("best.", o.classes)?,
            epoch: e.parse().map_err(corrupt)?,
            value: o.get("best_value")?.parse().map_err(corrupt)?,
        }),
        None => None,
    };
    let averaged = match o.meta.get("averaged_epochs") {
        Some(e) => Some(Averaged {
            model: o.model("averaged.", o.classes)?,
            epochs: e.parse().map_err(corrupt)?,
        }),
        None => None,
    };
    let mut seed = [0u8; 32];
    hex::decode_to_slice(o.get("rng_seed")?, &mut seed).map_err(corrupt)?;
    let mut rng = ChaCha8Rng::from_seed(seed);
    rng.set_stream(o.num("rng_stream")?);
    rng.set_word_pos(o.get("rng_word_pos")?.parse::<u128>().map_err(corrupt)?);
    let mut optimizer = Optimizer::new(o.spec.optimizer.clone());
    optimizer.step = o.num("optimizer_step")?;
    let state = TrainState {
        optimizer,
        model,
        states,
        rng,
        epochs_done: o.num("epochs_done")?,
        history: serde_json::from_str(o.get("history")?).map_err(corrupt)?,
        best,
        averaged,
        waited: o.num("waited")?,
        members: o.members()?,
        epoch_offset: o
            .meta
            .get("epoch_offset")
            .map_or(Ok(0), |v| v.parse())
            .map_err(corrupt)?,
        // Absent from checkpoints of single models and of ensembles written before it was kept.
        member_best_epochs: match o.meta.get("member_best_epochs") {
            Some(v) => serde_json::from_str(v).map_err(corrupt)?,
            None => Vec::new(),
        },
        rate_range: match o.meta.get("rate_range") {
            Some(v) => Some(serde_json::from_str(v).map_err(corrupt)?),
            None => None,
        },
        spec: o.spec.clone(),
    };
    Ok(Stored {
        state,
        calibration: o.calibration,
        encoding: o.meta.get("encoding").cloned(),
        prior_correction: o.prior_correction()?,
    })
}

/// Reads resume bytes and attaches the finished members stored apart (`members`, in order).
pub fn from_resume_bytes(data: &[u8], members: &[Vec<u8>]) -> Result<TrainState, EngineError> {
    let mut state = from_bytes(data)?.state;
    let (_, header) = SafeTensors::read_metadata(data).map_err(corrupt)?;
    let apart: usize = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("members_apart"))
        .map_or(Ok(0), |n| n.parse())
        .map_err(corrupt)?;
    if members.len() < apart {
        return Err(corrupt(format!(
            "{apart} ensemble members stored apart, {} found",
            members.len()
        )));
    }
    for bytes in &members[..apart] {
        let st = SafeTensors::deserialize(bytes).map_err(corrupt)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
        let meta = header.metadata().clone().unwrap_or_default();
        let classes: usize = meta
            .get("classes")
            .ok_or_else(|| corrupt("a member without its classes"))?
            .parse()
            .map_err(corrupt)?;
        let kind = meta.get("model").map_or("mlp", String::as_str);
        let inputs = state.model.inputs();
        let member = load_model(&st, &state.spec, kind, inputs, classes, "")?;
        state.members.push(member);
    }
    Ok(state)
}

/// Reads F32 tensor `name` into `into` (which has its size).
fn read_tensor(st: &SafeTensors<'_>, name: &str, into: &mut [f32]) -> Result<(), EngineError> {
    let view = st.tensor(name).map_err(corrupt)?;
    if view.dtype() != Dtype::F32 || view.data().len() != into.len() * 4 {
        return Err(corrupt(format!("tensor {name} has the wrong type or size")));
    }
    for (v, w) in into.iter_mut().zip(view.data().chunks_exact(4)) {
        *v = f32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    }
    Ok(())
}

/// A model of `spec`'s architecture and `kind` with the tensors under `prefix`.
fn load_model(
    st: &SafeTensors<'_>,
    spec: &TrainingSpec,
    kind: &str,
    inputs: usize,
    classes: usize,
    prefix: &str,
) -> Result<Model, EngineError> {
    // The architecture follows from the spec; initial values are overwritten.
    let mut model = registry::blank(kind, &spec.model, inputs, classes)
        .ok_or_else(|| corrupt(format!("unknown model kind {kind:?}")))?;
    for p in model.params_mut() {
        read_tensor(st, &format!("{prefix}{}", p.name), &mut p.data)?;
    }
    for (name, values) in model.buffers_mut() {
        read_tensor(st, &format!("{prefix}{name}"), values)?;
    }
    Ok(model)
}
