//! The training engine: plain data, a spec, a seed, a cancel flag and a progress callback in;
//! per-epoch history, weights and predictions out. No tokio, no SQL, no HTTP here.

pub mod batch;
pub mod checkpoint;
pub mod clip;
pub mod cv;
pub mod encode;
pub mod ensemble;
pub mod folds;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod one_class;
pub mod optim;
pub mod resample;
pub mod schedule;
pub mod train;
pub mod weights;

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
