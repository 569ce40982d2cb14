//! Training one model: the request and its checks (`request`), the epoch loop (`epochs`), early
//! stopping (`early`), layer-wise pretraining (`pretrain`), the per-epoch history (`history`),
//! the resumable state (`state`) and what a run returns (`trained`).
//!
//! A run trains on the calling thread, its products on as many cores as the thread's share of
//! the node allows (`engine::cores`); `train` blocks the caller until done.

pub mod early;
pub mod epochs;
pub mod history;
mod measure;
pub mod pretrain;
pub mod request;
pub mod state;
mod step;
pub mod trained;
mod warm;

use std::sync::atomic::AtomicBool;

pub use self::history::{EpochRecord, Phase, Stop};
pub use self::request::{Leg, Objective, Pretraining, TrainRequest, WarmStart};
pub use self::state::TrainState;
pub use self::trained::{Progress, Trained};
use crate::engine::EngineError;

/// Trains a model. `cancel` is checked before every batch; `progress` sees each epoch.
pub fn train(
    req: &TrainRequest<'_>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<Trained, EngineError> {
    request::check(req)?;
    match (&req.pretrain, &req.resume) {
        (Some(p), None) => {
            let warm = pretrain::pretrain(req, p, cancel, progress)?;
            let req = TrainRequest {
                warm: Some(warm),
                ..req.clone()
            };
            epochs::run(&req, cancel, progress)
        }
        _ => epochs::run(req, cancel, progress),
    }
}
