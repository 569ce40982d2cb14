//! The checkpoint file format: safetensors bytes holding a run's `TrainState` (every parameter,
//! batch-norm statistics, optimizer buffers, the best-so-far weights as F32 tensors; the spec,
//! RNG state, progress and history in the metadata) and what predicting needs beyond it (an
//! ensemble's members, a one-class calibration, the feature encoding). Enough to resume a run
//! exactly, or to build a `Predictor`. Only the format lives here.
//!
//! Tensor names: `hidden.{i}.weight` `(out, in)`, `hidden.{i}.bias`, `hidden.{i}.bn.weight`,
//! `hidden.{i}.bn.bias`, `hidden.{i}.bn.running_mean`, `hidden.{i}.bn.running_var`,
//! `hidden.{i}.proj.weight`, `output.weight` `(classes, in)`, `output.bias`;
//! `optimizer.{param}.{buffer}` (PyTorch's state names: `momentum_buffer`, `sum`, `square_avg`,
//! `acc_delta`, `grad_avg`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`); `best.{param or stat}`;
//! `member.{m}.{param or stat}` for the finished members of an ensemble. Metadata `model` names
//! the model kind (`mlp`, `autoencoder`; files without it are `mlp`, or `autoencoder` when they
//! carry `one_class`).

use std::collections::HashMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::EngineError;
use super::imbalance::calibration::Calibration;
use super::model::Model;
use super::optim::optimizer::Optimizer;
use super::optim::state::ParamState;
use super::predict::Predictor;
use super::train::state::{Best, TrainState};
use crate::domain::spec::TrainingSpec;

const FORMAT: &str = "crossfold-checkpoint-v1";
const BUFFERS: [&str; 8] = [
    "momentum_buffer",
    "sum",
    "square_avg",
    "acc_delta",
    "grad_avg",
    "exp_avg",
    "exp_avg_sq",
    "max_exp_avg_sq",
];

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

fn tensors_of(prefix: &str, model: &Model, out: &mut Vec<(String, Vec<usize>, Vec<u8>)>) {
    for p in model.params() {
        out.push((
            format!("{prefix}{}", p.name),
            p.shape.clone(),
            bytes(&p.data),
        ));
    }
    for (name, values) in model.buffers() {
        out.push((format!("{prefix}{name}"), vec![values.len()], bytes(values)));
    }
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The bytes of a finished run: its state with the members, calibration and encoding.
pub fn to_bytes(
    state: &TrainState,
    calibration: Option<&Calibration>,
    encoding: Option<&str>,
) -> Result<Vec<u8>, EngineError> {
    let extras = Extras {
        calibration,
        encoding,
        ..Extras::default()
    };
    serialize_state(state, true, &extras)
}

/// What a model's checkpoint carries besides its weights: what predicting needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    pub calibration: Option<&'a Calibration>,
    /// The feature encoding, as JSON.
    pub encoding: Option<&'a str>,
    /// The prior-shift correction predictions get (`imbalance.correct_probabilities`).
    pub prior_correction: Option<&'a [f64]>,
    /// The class names, in the order of the model's outputs.
    pub class_names: Option<&'a [String]>,
}

/// As `to_bytes`, with everything predicting needs (`Extras`).
pub fn to_bytes_with(state: &TrainState, extras: &Extras<'_>) -> Result<Vec<u8>, EngineError> {
    serialize_state(state, true, extras)
}

/// The bytes to resume from: the state without the finished members of an ensemble (they are
/// stored once each, with `member_bytes`).
pub fn to_resume_bytes(state: &TrainState) -> Result<Vec<u8>, EngineError> {
    serialize_state(state, false, &Extras::default())
}

/// The safetensors bytes, with the finished members' tensors or (`members: false`) only their
/// count, as `members_apart`.
fn serialize_state(
    state: &TrainState,
    members: bool,
    extras: &Extras<'_>,
) -> Result<Vec<u8>, EngineError> {
    let Extras {
        calibration,
        encoding,
        prior_correction,
        class_names,
    } = *extras;
    let mut tensors = Vec::new();
    tensors_of("", &state.model, &mut tensors);
    for (p, buffers) in state.model.params().iter().zip(&state.states) {
        for (name, buf) in &buffers.buffers {
            tensors.push((
                format!("optimizer.{}.{name}", p.name),
                p.shape.clone(),
                bytes(buf),
            ));
        }
    }
    if let Some(best) = &state.best {
        tensors_of("best.", &best.model, &mut tensors);
    }
    if members {
        for (m, member) in state.members.iter().enumerate() {
            tensors_of(&format!("member.{m}."), member, &mut tensors);
        }
    }
    let json = |v: &dyn erased::Json| v.json();
    let rng = &state.rng;
    let mut meta = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("model".to_owned(), state.model.kind().to_owned()),
        ("spec".to_owned(), json(&state.spec)),
        ("inputs".to_owned(), state.model.inputs().to_string()),
        ("classes".to_owned(), state.model.outputs().to_string()),
        ("epochs_done".to_owned(), state.epochs_done.to_string()),
        (
            "optimizer_step".to_owned(),
            state.optimizer.step.to_string(),
        ),
        ("rng_seed".to_owned(), hex::encode(rng.get_seed())),
        ("rng_stream".to_owned(), rng.get_stream().to_string()),
        ("rng_word_pos".to_owned(), rng.get_word_pos().to_string()),
        ("history".to_owned(), json(&state.history)),
        ("waited".to_owned(), state.waited.to_string()),
    ]);
    if let Some(best) = &state.best {
        meta.insert("best_epoch".into(), best.epoch.to_string());
        meta.insert("best_value".into(), format!("{:e}", best.value));
    }
    if let Some(e) = encoding {
        meta.insert("encoding".into(), e.to_owned());
    }
    if let Some(c) = prior_correction {
        meta.insert("prior_correction".into(), json(&c.to_vec()));
    }
    if let Some(names) = class_names {
        meta.insert("class_names".into(), json(&names.to_vec()));
    }
    if let Some(first) = state.members.first() {
        meta.insert("members".into(), state.members.len().to_string());
        meta.insert("member_classes".into(), first.outputs().to_string());
        if !members {
            meta.insert("members_apart".into(), state.members.len().to_string());
        }
    }
    if state.epoch_offset > 0 {
        meta.insert("epoch_offset".into(), state.epoch_offset.to_string());
    }
    if let Some(c) = calibration {
        meta.insert("one_class".into(), json(c));
    }
    serialize(&tensors, meta)
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
        .with_prior_correction(o.prior_correction()?);
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
        waited: o.num("waited")?,
        members: o.members()?,
        epoch_offset: o
            .meta
            .get("epoch_offset")
            .map_or(Ok(0), |v| v.parse())
            .map_err(corrupt)?,
        spec: o.spec.clone(),
    };
    Ok(Stored {
        state,
        calibration: o.calibration,
        encoding: o.meta.get("encoding").cloned(),
        prior_correction: o.prior_correction()?,
    })
}

/// One finished ensemble member alone, for `from_resume_bytes`.
pub fn member_bytes(member: &Model) -> Result<Vec<u8>, EngineError> {
    let mut tensors = Vec::new();
    tensors_of("", member, &mut tensors);
    let meta = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("model".to_owned(), member.kind().to_owned()),
        ("classes".to_owned(), member.outputs().to_string()),
    ]);
    serialize(&tensors, meta)
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

/// The safetensors bytes of F32 `tensors` (name, shape, little-endian data) and `meta`.
fn serialize(
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    meta: HashMap<String, String>,
) -> Result<Vec<u8>, EngineError> {
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    safetensors::serialize(views, Some(meta)).map_err(internal)
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
    let mut model = Model::blank(kind, &spec.model, inputs, classes)
        .ok_or_else(|| corrupt(format!("unknown model kind {kind:?}")))?;
    for p in model.params_mut() {
        read_tensor(st, &format!("{prefix}{}", p.name), &mut p.data)?;
    }
    for (name, values) in model.buffers_mut() {
        read_tensor(st, &format!("{prefix}{name}"), values)?;
    }
    Ok(model)
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("writing a checkpoint: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidInput(format!("unreadable checkpoint: {e}"))
}

/// JSON for metadata values (the types here always serialize).
mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("checkpoint metadata serializes")
        }
    }
}
