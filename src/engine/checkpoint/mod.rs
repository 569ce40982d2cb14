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
//! `averaged.{param or stat}` (weight averaging's running average, `averaged_epochs` of them);
//! `member.{m}.{param or stat}` for the finished members of an ensemble. Metadata `model` names
//! the model kind (`mlp`, `autoencoder`; files without it are `mlp`, or `autoencoder` when they
//! carry `one_class`).

mod format;
mod read;
mod write;

pub use read::{Stored, StoredPredictor, from_bytes, from_resume_bytes, predictor_from_bytes};
pub use write::{Extras, member_bytes, to_bytes, to_bytes_with, to_resume_bytes};
