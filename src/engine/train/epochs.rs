//! The epoch loop: batches, forward and backward, penalties, clipping, the optimizer step, the
//! learning-rate schedule, early stopping on an inner validation split, and the per-epoch
//! history, with divergence (a non-finite value) ending the run. An epoch is its steps
//! (`step`), an evaluation of held-back rows (`measure`) and a record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::early::EarlyStop;
use super::history::{EpochRecord, Stop};
use super::measure::{diverged, evaluate, weight_movement};
use super::request::{Leg, Objective, TrainRequest};
use super::state::{Averaged, TrainState};
use super::step::{Buffers, Shape, StepStats, step};
use super::trained::{Progress, Trained};
use crate::domain::learning_rate::RateRange;
use crate::domain::spec::BatchSize;
use crate::engine::EngineError;
use crate::engine::data::rows;
use crate::engine::model::infer::predict_rows;
use crate::engine::model::registry::{self, Learns};
use crate::engine::model::{Input, Model};
use crate::engine::optim::optimizer::Optimizer;
use crate::engine::optim::schedule;
use crate::engine::optim::state::ParamState;

/// What a run fixes before its first epoch.
pub(super) struct Plan {
    pub(super) shape: Shape,
    /// Training rows, in the fixed order each epoch shuffles afresh.
    pub(super) train: Vec<usize>,
    /// The inner validation split early stopping watches (empty without it).
    validation: Vec<usize>,
    pub(super) batch_size: usize,
}

/// Trains on the calling thread (its products on as many cores as its share allows), at the
/// spec's fixed rate; a fresh state keeps `rate_range`, the test that chose it.
pub fn run(
    req: &TrainRequest<'_>,
    rate_range: Option<RateRange>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<Trained, EngineError> {
    let spec = req.spec;
    let base = (spec.optimizer.learning_rate().fixed()).ok_or_else(|| {
        EngineError::InvalidInput("the learning rate is \"auto\": the range test chooses it".into())
    })?;
    let (plan, mut st) = prepare(req, rate_range)?;
    let early_stop = spec.training.early_stopping.as_ref().map(EarlyStop::new);
    // A run that stopped at its last checkpoint stays stopped when resumed.
    let mut stop = resumed_stop(req, &st, early_stop.as_ref());
    let last = match (stop, req.leg) {
        (Stop::EarlyStopped | Stop::ReachedLoss, _) | (_, Leg::Halt) => st.epochs_done,
        (_, Leg::PauseAt(rung)) => rung.min(spec.training.epochs),
        (_, Leg::ToTheEnd | Leg::ToLoss(_)) => spec.training.epochs,
    };
    let mut bufs = Buffers::default();
    for epoch in st.epochs_done..last {
        let started = Instant::now();
        let lr = schedule::learning_rate(&spec.schedule, base, epoch, spec.training.epochs);
        let Some(trained) = train_epoch((req, &plan), &mut st, &mut bufs, cancel, (epoch, lr))?
        else {
            stop = Stop::Cancelled;
            break;
        };
        let (val, holdout) = evaluation(req, &plan, &mut st.model, epoch)?;
        let record = record(
            (&st, &plan, &bufs),
            (trained, val, holdout),
            (epoch, lr),
            started,
        );
        st.history.push(record);
        st.epochs_done = epoch + 1;
        if spec
            .training
            .swa_epochs
            .is_some_and(|n| epoch + n >= spec.training.epochs)
        {
            st.averaged = Some(Averaged::add(st.averaged.take(), &st.model));
        }
        let stopping = match (&early_stop, val) {
            (Some(e), Some((vloss, vacc))) => e.observe(&mut st, epoch + 1, vloss, vacc),
            _ => false,
        };
        let record = st.history.last().expect("just pushed");
        let due = req.checkpoint_every > 0 && (epoch + 1) % req.checkpoint_every == 0
            || req.leg == Leg::PauseAt(epoch + 1);
        progress(record, due.then_some(&st));
        if stopping {
            stop = Stop::EarlyStopped;
            break;
        }
        if reached(req.leg, record) {
            stop = Stop::ReachedLoss;
            break;
        }
    }
    let stop = leg_end(req, &st, stop);
    finish(req, st, stop)
}

/// How a resumed state's run already ended (early stopping out of patience, or its training
/// loss at the target), else `Completed` for now.
fn resumed_stop(req: &TrainRequest<'_>, st: &TrainState, early: Option<&EarlyStop>) -> Stop {
    if early.is_some_and(|e| e.exhausted(st.waited)) {
        return Stop::EarlyStopped;
    }
    match st.history.last() {
        Some(record) if reached(req.leg, record) => Stop::ReachedLoss,
        _ => Stop::Completed,
    }
}

/// Whether `record`'s training loss reached a `Leg::ToLoss` target.
fn reached(leg: Leg, record: &EpochRecord) -> bool {
    matches!(leg, Leg::ToLoss(target) if record.train_loss <= target)
}

/// How a leg that ran its epochs ended: paused at a rung, halted by its search, or completed.
fn leg_end(req: &TrainRequest<'_>, st: &TrainState, stop: Stop) -> Stop {
    let short = st.epochs_done < req.spec.training.epochs;
    match req.leg {
        Leg::PauseAt(rung) if stop == Stop::Completed && short && st.epochs_done == rung => {
            Stop::Paused
        }
        Leg::Halt if stop == Stop::Completed && short => Stop::Halted,
        _ => stop,
    }
}

/// The model (fine-tuning's warm start applied), the split and batch size, and the state to
/// train from: fresh (keeping the range test that chose its rate), or a resume's after checking
/// it is of this spec and data.
pub(super) fn prepare(
    req: &TrainRequest<'_>,
    rate_range: Option<RateRange>,
) -> Result<(Plan, TrainState), EngineError> {
    let spec = req.spec;
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    let features = req.train.features;
    let learns = match req.objective {
        Objective::Classify => Learns::Classes(req.classes),
        Objective::Reconstruct => Learns::Reconstruction,
    };
    let inputs = req.channels.unwrap_or(features);
    let model = registry::build(&spec.model, inputs, learns, &mut rng);
    // Fine-tuning: the fresh model (its RNG draws as from scratch) takes the source's weights,
    // but for the output layer when it is reset or of another shape.
    let model = match &req.warm {
        Some(warm) => super::warm::warm_started(model, warm),
        None => model,
    };
    let layer_of = model.layer_of();
    let frozen_below = req.warm.as_ref().map_or(0, |w| w.freeze_layers);
    let shape = Shape {
        frozen: layer_of.iter().map(|&l| l < frozen_below).collect(),
        layers: model.layer_count(),
        layer_of,
        // A packed sequence's first value is its length: noise never touches it.
        clean_prefix: usize::from(model.input() == Input::Sequence),
    };
    let (train, validation) = match &spec.training.early_stopping {
        Some(es) => {
            rows::stratified_split(req.train.y, req.classes, es.validation_fraction, &mut rng)
        }
        None => ((0..req.train.len()).collect(), Vec::new()),
    };
    let batch_size = match spec.training.batch_size {
        BatchSize::Rows(n) => (n as usize).clamp(1, train.len()),
        BatchSize::Full(_) => train.len(),
    };
    // Set-up above consumed the RNG exactly as the original run did; a resume takes its state.
    let st = match req.resume.clone() {
        Some(resumed) => resumed_state(resumed, &model, req)?,
        None => TrainState {
            spec: spec.clone(),
            optimizer: Optimizer::new(spec.optimizer.clone()),
            states: vec![ParamState::default(); model.params().len()],
            model,
            rng,
            epochs_done: 0,
            history: Vec::new(),
            best: None,
            averaged: None,
            waited: 0,
            members: Vec::new(),
            epoch_offset: 0,
            member_best_epochs: Vec::new(),
            rate_range,
        },
    };
    let plan = Plan {
        shape,
        train,
        validation,
        batch_size,
    };
    Ok((plan, st))
}

/// A resumed state with its models of `model`'s kind, refused when of another spec or shape.
fn resumed_state(
    mut resumed: TrainState,
    model: &Model,
    req: &TrainRequest<'_>,
) -> Result<TrainState, EngineError> {
    resumed.model = resumed.model.as_kind_of(model);
    if let Some(best) = resumed.best.as_mut() {
        best.model = best.model.clone().as_kind_of(model);
    }
    if resumed.spec != *req.spec || !resumed.model.same_shape(model) {
        return Err(EngineError::InvalidInput(
            "the checkpoint is of another spec or data".into(),
        ));
    }
    Ok(resumed)
}

/// What an epoch's pass over the training rows gives.
struct Pass {
    stats: StepStats,
    /// Where the penalized weights started, for how far the epoch moved them.
    start_weights: Vec<Vec<f32>>,
}

/// One pass over the shuffled training rows; `None` when cancelled.
fn train_epoch(
    (req, plan): (&TrainRequest<'_>, &Plan),
    st: &mut TrainState,
    bufs: &mut Buffers,
    cancel: &AtomicBool,
    (epoch, lr): (u64, f64),
) -> Result<Option<Pass>, EngineError> {
    // A fresh shuffle of a fixed order: the RNG state alone decides it, so resumes match.
    let mut order = plan.train.clone();
    bufs.ws.begin_epoch();
    let start_weights: Vec<Vec<f32>> = st
        .model
        .params()
        .iter()
        .map(|p| match p.penalized {
            true => p.data.clone(),
            false => Vec::new(),
        })
        .collect();
    order.shuffle(&mut st.rng);
    let mut stats = StepStats::new(plan.shape.layers);
    for chunk in order.chunks(plan.batch_size) {
        if cancel.load(Ordering::Relaxed) {
            return Ok(None);
        }
        step((req, &plan.shape), st, bufs, chunk, (epoch, lr), &mut stats)?;
    }
    // A step can overflow the weights even from finite gradients (a huge learning rate).
    let params = st.model.params();
    if !params.iter().all(|p| p.data.iter().all(|v| v.is_finite())) {
        return Err(diverged(epoch, "a weight"));
    }
    Ok(Some(Pass {
        stats,
        start_weights,
    }))
}

/// A loss and, when classifying, an accuracy.
type Scores = (f64, Option<f64>);

/// The epoch's scores on the inner validation split and the held-out set (each when there is
/// one), a non-finite loss ending the run.
fn evaluation(
    req: &TrainRequest<'_>,
    plan: &Plan,
    model: &mut Model,
    epoch: u64,
) -> Result<(Option<Scores>, Option<Scores>), EngineError> {
    let val =
        (!plan.validation.is_empty()).then(|| evaluate(model, req, req.train, &plan.validation));
    if val.is_some_and(|v| !v.0.is_finite()) {
        return Err(diverged(epoch, "the validation loss"));
    }
    let holdout = req.holdout.map(|h| {
        let idx: Vec<usize> = (0..h.len()).collect();
        evaluate(model, req, h, &idx)
    });
    if holdout.is_some_and(|v| !v.0.is_finite()) {
        return Err(diverged(epoch, "the held-out loss"));
    }
    Ok((val, holdout))
}

/// The history's record of epoch `epoch` (0-based).
fn record(
    (st, plan, bufs): (&TrainState, &Plan, &Buffers),
    (pass, val, holdout): (Pass, Option<Scores>, Option<Scores>),
    (epoch, lr): (u64, f64),
    started: Instant,
) -> EpochRecord {
    let shape = &plan.shape;
    let stats = &pass.stats;
    let moved = weight_movement(
        st.model.params(),
        &pass.start_weights,
        &shape.layer_of,
        shape.layers,
    );
    EpochRecord {
        epoch: epoch + 1,
        train_loss: stats.mean_loss(),
        val_loss: val.map(|v| v.0),
        val_accuracy: val.and_then(|v| v.1),
        holdout_loss: holdout.map(|v| v.0),
        holdout_accuracy: holdout.and_then(|v| v.1),
        learning_rate: lr,
        grad_norm: stats.grad_norm(),
        layer_grad_norms: stats.layer_grad_norms(),
        layer_weight_norms: moved.norms,
        layer_update_ratios: moved.ratios,
        dead_unit_fractions: bufs.ws.dead_fractions(),
        saturated_fractions: bufs.ws.saturated_fractions(),
        seconds: started.elapsed().as_secs_f64(),
        samples: stats.seen as u64,
        member: None,
        phase: Default::default(),
        layer: None,
    }
}

/// The best weights restored when early stopping asks for them, or the weight average of a
/// run that ends here (not one paused to go on), and the held-out set's probabilities
/// (checked finite).
fn finish(req: &TrainRequest<'_>, mut st: TrainState, stop: Stop) -> Result<Trained, EngineError> {
    let mut best_epoch = st.history.len() as u64;
    if let (Some(es), Some(b)) = (&req.spec.training.early_stopping, st.best.take())
        && es.restore_best
    {
        st.model = b.model;
        best_epoch = b.epoch;
    }
    if !matches!(stop, Stop::Paused | Stop::Cancelled)
        && let Some(average) = st.averaged.take()
    {
        st.model = average.model;
    }
    let holdout_proba = req
        .holdout
        .filter(|_| req.objective == Objective::Classify)
        .map(|h| predict_rows(&mut st.model, h, &(0..h.len()).collect::<Vec<_>>()));
    if holdout_proba
        .as_ref()
        .is_some_and(|p| !p.iter().all(|v| v.is_finite()))
    {
        return Err(diverged(
            st.history.len().saturating_sub(1) as u64,
            "a held-out probability",
        ));
    }
    st.epochs_done = st.history.len() as u64;
    Ok(Trained {
        history: st.history.clone(),
        best_epoch,
        stop,
        holdout_proba,
        calibration: None,
        state: st,
    })
}
