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
pub mod rate_range;
pub mod request;
pub mod state;
mod step;
pub mod trained;
mod warm;

use std::sync::atomic::AtomicBool;

pub use self::history::{EpochRecord, Phase, Stop};
use self::rate_range::RangeTest;
pub use self::request::{Leg, Objective, Pretraining, TrainRequest, WarmStart};
pub use self::state::TrainState;
pub use self::trained::{Progress, Trained};
use crate::domain::learning_rate::{LearningRate, RateRange};
use crate::domain::spec::TrainingSpec;
use crate::engine::EngineError;

/// Trains a model. `cancel` is checked before every batch; `progress` sees each epoch. A rate
/// of `"auto"` is chosen first by a range test on the training rows (a resumed run keeps the
/// rate its state was trained at).
pub fn train(
    req: &TrainRequest<'_>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<Trained, EngineError> {
    request::check(req)?;
    if req.spec.optimizer.learning_rate() != LearningRate::Auto {
        return train_fixed(req, None, cancel, progress);
    }
    let range = match &req.resume {
        Some(state) => (state.rate_range.clone()).ok_or_else(|| {
            EngineError::InvalidInput("the checkpoint holds no range test's rate".into())
        })?,
        None => rate_range::range_test(req, &RangeTest::default(), cancel)?,
    };
    let spec = TrainingSpec {
        optimizer: req.spec.optimizer.clone().with_learning_rate(range.chosen),
        ..req.spec.clone()
    };
    let req = TrainRequest {
        spec: &spec,
        ..req.clone()
    };
    train_fixed(&req, Some(range), cancel, progress)
}

/// Pretrains when asked (not when resuming), then trains at the spec's fixed rate.
fn train_fixed(
    req: &TrainRequest<'_>,
    range: Option<RateRange>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<Trained, EngineError> {
    match (&req.pretrain, &req.resume) {
        (Some(p), None) => {
            let warm = pretrain::pretrain(req, p, cancel, progress)?;
            let req = TrainRequest {
                warm: Some(warm),
                ..req.clone()
            };
            epochs::run(&req, range, cancel, progress)
        }
        _ => epochs::run(req, range, cancel, progress),
    }
}
