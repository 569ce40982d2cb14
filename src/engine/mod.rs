//! The training engine: plain data, a spec, a seed, a cancel flag and a progress callback in;
//! per-epoch history, weights and predictions out. No tokio, no SQL, no HTTP here.
//!
//! By concept: `data` (table, encoding, splits, rows), `model` (the `Model` type and its
//! families), `optim`, `train` (one model), `imbalance` (strategies), `eval` (scores and
//! summaries), `fold` (one fold end to end), `predict` (a stored model's `Predictor`),
//! `checkpoint` (the file format), `onnx` (ONNX's messages and graphs), `export` (a predictor
//! as an ONNX model), `memory` (a job's estimated peak), `sequence` (GRU, LSTM and attention
//! kernels) and `conv` (the convolutional families).

pub mod checkpoint;
pub mod conv;
pub mod cores;
pub mod data;
pub mod eval;
pub mod export;
pub mod fold;
pub mod imbalance;
pub mod kernels;
pub mod memory;
pub mod model;
pub mod onnx;
pub mod optim;
pub mod predict;
pub mod sequence;
pub mod train;

/// Why the engine could not train.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The data or spec cannot be trained on (a permanent failure: retrying will not help).
    #[error("invalid training input: {0}")]
    InvalidInput(String),
    /// Training produced a non-finite value (a permanent failure: the same spec and seed diverge
    /// again). Says where and what to try.
    #[error(
        "training diverged in epoch {epoch}: {quantity} is not finite; try a lower \
         optimizer.learning_rate, training.clip_grad_norm (e.g. 1.0), batch_norm, or smaller \
         penalties and class weights"
    )]
    Diverged {
        /// 1-based.
        epoch: u64,
        /// What was non-finite: the training loss, the gradient, the weights, the validation loss.
        quantity: &'static str,
    },
    /// Something failed that is not the input's fault.
    #[error("training failed: {0}")]
    Internal(String),
}
