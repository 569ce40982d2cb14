//! Checkpoints as safetensors bytes: every parameter, batch-norm statistics, optimizer buffers
//! and the best-so-far weights as F32 tensors; the spec, RNG state, progress and history in the
//! metadata. Enough to resume a run exactly, or to predict.
//!
//! Tensor names: `hidden.{i}.weight` `(out, in)`, `hidden.{i}.bias`, `hidden.{i}.bn.weight`,
//! `hidden.{i}.bn.bias`, `hidden.{i}.bn.running_mean`, `hidden.{i}.bn.running_var`,
//! `hidden.{i}.proj.weight`, `output.weight` `(classes, in)`, `output.bias`;
//! `optimizer.{param}.{buffer}` (PyTorch's state names: `momentum_buffer`, `sum`, `square_avg`,
//! `acc_delta`, `grad_avg`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`); `best.{param or stat}`;
//! `member.{m}.{param or stat}` for the finished members of an ensemble.

use std::collections::HashMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::EngineError;
use super::model::{Dev, Mlp};
use super::one_class::Calibration;
use super::optim::{Optimizer, ParamState};
use super::train::EpochRecord;
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

/// Everything a run needs to continue, or to predict.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub spec: TrainingSpec,
    pub model: Mlp,
    pub optimizer: Optimizer,
    pub states: Vec<ParamState>,
    pub rng: ChaCha8Rng,
    /// Epochs finished.
    pub epochs_done: u64,
    pub history: Vec<EpochRecord>,
    /// Early stopping: the best weights, their epoch and monitored value, epochs waited.
    pub best: Option<(Mlp, u64, f64)>,
    pub waited: u64,
    /// The caller's feature encoding (opaque JSON), kept with the weights.
    pub encoding: Option<String>,
    /// Ensembles: the members finished before `model` (whose probabilities are averaged with
    /// its own), and the epochs they ran (the run's epoch numbers continue from there).
    pub members: Vec<Mlp>,
    pub epoch_offset: u64,
    /// `one_class`: `model` is an autoencoder whose errors this turns into probabilities.
    pub one_class: Option<Calibration>,
}

fn tensors_of(prefix: &str, model: &Mlp, out: &mut Vec<(String, Vec<usize>, Vec<u8>)>) {
    for p in &model.params {
        out.push((
            format!("{prefix}{}", p.name),
            p.shape.clone(),
            bytes(&p.data),
        ));
    }
    for (i, stats) in model.running.iter().enumerate() {
        if let Some(s) = stats {
            let n = s.mean.len();
            out.push((
                format!("{prefix}hidden.{i}.bn.running_mean"),
                vec![n],
                bytes(&s.mean),
            ));
            out.push((
                format!("{prefix}hidden.{i}.bn.running_var"),
                vec![n],
                bytes(&s.var),
            ));
        }
    }
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl Checkpoint {
    /// The safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EngineError> {
        self.serialize_with(true)
    }

    /// The bytes to resume from: as `to_bytes`, but the finished members of an ensemble are
    /// left out (they are stored once each, with `member_bytes`).
    pub fn to_resume_bytes(&self) -> Result<Vec<u8>, EngineError> {
        self.serialize_with(false)
    }

    /// The safetensors bytes, with the finished members' tensors or (`members: false`) only
    /// their count, as `members_apart`.
    fn serialize_with(&self, members: bool) -> Result<Vec<u8>, EngineError> {
        let mut tensors = Vec::new();
        tensors_of("", &self.model, &mut tensors);
        for (p, state) in self.model.params.iter().zip(&self.states) {
            for (name, buf) in &state.buffers {
                tensors.push((
                    format!("optimizer.{}.{name}", p.name),
                    p.shape.clone(),
                    bytes(buf),
                ));
            }
        }
        if let Some((best, _, _)) = &self.best {
            tensors_of("best.", best, &mut tensors);
        }
        if members {
            for (m, member) in self.members.iter().enumerate() {
                tensors_of(&format!("member.{m}."), member, &mut tensors);
            }
        }
        let json = |v: &dyn erased::Json| v.json();
        let mut meta = HashMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("spec".to_owned(), json(&self.spec)),
            ("inputs".to_owned(), self.model.inputs.to_string()),
            ("classes".to_owned(), self.model.classes.to_string()),
            ("epochs_done".to_owned(), self.epochs_done.to_string()),
            ("optimizer_step".to_owned(), self.optimizer.step.to_string()),
            ("rng_seed".to_owned(), hex::encode(self.rng.get_seed())),
            ("rng_stream".to_owned(), self.rng.get_stream().to_string()),
            (
                "rng_word_pos".to_owned(),
                self.rng.get_word_pos().to_string(),
            ),
            ("history".to_owned(), json(&self.history)),
            ("waited".to_owned(), self.waited.to_string()),
        ]);
        if let Some((_, epoch, value)) = &self.best {
            meta.insert("best_epoch".into(), epoch.to_string());
            meta.insert("best_value".into(), format!("{:e}", value));
        }
        if let Some(e) = &self.encoding {
            meta.insert("encoding".into(), e.clone());
        }
        if !self.members.is_empty() {
            meta.insert("members".into(), self.members.len().to_string());
            meta.insert("member_classes".into(), self.members[0].classes.to_string());
            if !members {
                meta.insert("members_apart".into(), self.members.len().to_string());
            }
        }
        if self.epoch_offset > 0 {
            meta.insert("epoch_offset".into(), self.epoch_offset.to_string());
        }
        if let Some(c) = &self.one_class {
            meta.insert("one_class".into(), json(c));
        }
        serialize(&tensors, meta)
    }

    /// Reads checkpoint bytes back.
    pub fn from_bytes(data: &[u8]) -> Result<Self, EngineError> {
        let st = SafeTensors::deserialize(data).map_err(corrupt)?;
        let (_, header) = SafeTensors::read_metadata(data).map_err(corrupt)?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| {
            meta.get(k)
                .ok_or_else(|| corrupt(format!("metadata {k:?} missing")))
        };
        let num = |k: &str| -> Result<u64, EngineError> { get(k)?.parse().map_err(corrupt) };
        if get("format")? != FORMAT {
            return Err(corrupt("not a crossfold checkpoint"));
        }
        let spec: TrainingSpec = serde_json::from_str(get("spec")?).map_err(corrupt)?;
        let (inputs, classes) = (num("inputs")? as usize, num("classes")? as usize);
        let read = |name: &str, into: &mut Vec<f32>| read_tensor(&st, name, into);
        let load_model =
            |prefix: &str, classes: usize| load_model(&st, &spec, inputs, classes, prefix);
        let model = load_model("", classes)?;
        let mut states = vec![ParamState::default(); model.params.len()];
        for (p, state) in model.params.iter().zip(states.iter_mut()) {
            for name in BUFFERS {
                let key = format!("optimizer.{}.{name}", p.name);
                if st.tensor(&key).is_ok() {
                    let mut buf = vec![0.0; p.data.len()];
                    read(&key, &mut buf)?;
                    state.buffers.push((name, buf));
                }
            }
        }
        let best = match meta.get("best_epoch") {
            Some(e) => Some((
                load_model("best.", classes)?,
                e.parse().map_err(corrupt)?,
                get("best_value")?.parse().map_err(corrupt)?,
            )),
            None => None,
        };
        let mut seed = [0u8; 32];
        hex::decode_to_slice(get("rng_seed")?, &mut seed).map_err(corrupt)?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(num("rng_stream")?);
        rng.set_word_pos(get("rng_word_pos")?.parse::<u128>().map_err(corrupt)?);
        let mut optimizer = Optimizer::new(spec.optimizer.clone());
        optimizer.step = num("optimizer_step")?;
        let members = match meta.get("members") {
            // Stored apart (a resume checkpoint): `from_resume_bytes` attaches them.
            Some(_) if meta.contains_key("members_apart") => Vec::new(),
            Some(n) => {
                let n: usize = n.parse().map_err(corrupt)?;
                let member_classes = num("member_classes")? as usize;
                (0..n)
                    .map(|m| load_model(&format!("member.{m}."), member_classes))
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => Vec::new(),
        };
        let one_class = match meta.get("one_class") {
            Some(c) => Some(serde_json::from_str(c).map_err(corrupt)?),
            None => None,
        };
        Ok(Self {
            optimizer,
            model,
            states,
            rng,
            epochs_done: num("epochs_done")?,
            history: serde_json::from_str(get("history")?).map_err(corrupt)?,
            best,
            waited: num("waited")?,
            encoding: meta.get("encoding").cloned(),
            members,
            epoch_offset: meta
                .get("epoch_offset")
                .map_or(Ok(0), |v| v.parse())
                .map_err(corrupt)?,
            one_class,
            spec,
        })
    }

    /// Finished member `m` alone, for `from_resume_bytes`.
    pub fn member_bytes(&self, m: usize) -> Result<Vec<u8>, EngineError> {
        let member = &self.members[m];
        let mut tensors = Vec::new();
        tensors_of("", member, &mut tensors);
        let meta = HashMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("classes".to_owned(), member.classes.to_string()),
        ]);
        serialize(&tensors, meta)
    }

    /// Reads resume bytes and attaches the finished members stored apart (`members`, in order).
    pub fn from_resume_bytes(data: &[u8], members: &[Vec<u8>]) -> Result<Self, EngineError> {
        let mut ck = Self::from_bytes(data)?;
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
            let classes: usize = header
                .metadata()
                .as_ref()
                .and_then(|m| m.get("classes"))
                .ok_or_else(|| corrupt("a member without its classes"))?
                .parse()
                .map_err(corrupt)?;
            ck.members
                .push(load_model(&st, &ck.spec, ck.model.inputs, classes, "")?);
        }
        Ok(ck)
    }

    /// The number of classes the checkpoint predicts.
    pub fn classes(&self) -> usize {
        self.one_class.map_or(self.model.classes, |c| c.classes)
    }

    /// Class probabilities (rows × classes) of `x` (rows × features, row-major): the model's,
    /// the mean of an ensemble's members, or an autoencoder's calibrated reconstruction error.
    pub fn proba(&mut self, dev: &Dev, x: &[f32], rows: usize) -> Vec<f64> {
        let inputs = self.model.inputs;
        if let Some(cal) = self.one_class {
            let labels = vec![0u32; rows];
            let all: Vec<usize> = (0..rows).collect();
            let rows = super::batch::Rows {
                x,
                y: &labels,
                features: inputs,
            };
            return super::train::reconstruction_errors(&mut self.model, dev, rows, &all)
                .into_iter()
                .flat_map(|e| cal.proba(e))
                .collect();
        }
        let x_t = super::model::transpose(x, rows, inputs);
        let mut sum = vec![0.0f64; rows * self.model.classes];
        let count = self.members.len() + 1;
        for model in self
            .members
            .iter_mut()
            .chain(std::iter::once(&mut self.model))
        {
            for (s, lp) in sum.iter_mut().zip(model.log_proba(dev, &x_t, rows)) {
                *s += f64::from(lp.exp());
            }
        }
        sum.iter_mut().for_each(|s| *s /= count as f64);
        sum
    }
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

/// A model of `spec`'s architecture with the tensors under `prefix`.
fn load_model(
    st: &SafeTensors<'_>,
    spec: &TrainingSpec,
    inputs: usize,
    classes: usize,
    prefix: &str,
) -> Result<Mlp, EngineError> {
    // The architecture follows from the spec; initial values are overwritten.
    let mut model = Mlp::new(
        &spec.model,
        inputs,
        classes,
        &mut ChaCha8Rng::seed_from_u64(0),
    );
    for p in &mut model.params {
        read_tensor(st, &format!("{prefix}{}", p.name), &mut p.data)?;
    }
    for (i, stats) in model.running.iter_mut().enumerate() {
        if let Some(s) = stats {
            read_tensor(
                st,
                &format!("{prefix}hidden.{i}.bn.running_mean"),
                &mut s.mean,
            )?;
            read_tensor(
                st,
                &format!("{prefix}hidden.{i}.bn.running_var"),
                &mut s.var,
            )?;
        }
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
