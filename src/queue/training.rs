//! Training a claimed run on its blocking thread: its table and rows, the strategy's fold plan,
//! the fine-tuning source and pretraining set, the engine's fold with the epoch writer and the
//! live diagnosis; then its result, held-out predictions, final checkpoint and the model as
//! predicting reads it.

use crate::diagnose::run_rules::RunEnd;
use crate::domain::dataset::Column;
use crate::domain::final_model::FOLD_LOSS_EPOCHS_FACTOR;
use crate::domain::heldout::HeldOut;
use crate::domain::job::JobSpec;
use crate::domain::results::RunResult;
use crate::domain::search::asha::{self, RungLoss};
use crate::domain::spec::TrainingSpec;
use crate::engine::EngineError;
use crate::engine::checkpoint;
use crate::engine::data::table::Table;
use crate::engine::fold::{self, FoldOptions, FoldOutcome};
use crate::engine::imbalance::plan;
use crate::engine::predict::Predictor;
use crate::engine::train::{EpochRecord, Leg, Phase, Stop, TrainState};
use crate::jobs::models::StoredModel;
use crate::jobs::results;
use crate::store::run_data::RunInputs;
use crate::store::runs::{Claimed, RunTail};

use super::diagnosis::{Watch, chance_loss};
use super::epochs::EpochWriter;
use super::final_run::Recipe;
use super::flags::{Flags, RunError};
use super::run_input;

/// How a run's training ended, for the worker to write.
pub(super) enum Finished {
    Done {
        result: Box<RunResult>,
        predictions: Option<HeldOut>,
        checkpoint: Vec<u8>,
        /// The model as predicting reads it back from `checkpoint`.
        model: Box<StoredModel>,
        /// The epochs and findings not written yet, written with the result.
        tail: RunTail,
    },
    /// Paused at a search's rung: its newest checkpoint written, `tail` still to write with
    /// the pause.
    Paused { tail: RunTail },
    /// Cancelled, shutting down, or the lease was lost.
    Stopped,
}

/// Trains the run (on the calling, blocking thread): its rows, the strategy's fold plan, the
/// engine's fold; then its result, held-out predictions and final checkpoint.
pub(super) fn train_blocking(
    claimed: &Claimed,
    inputs: RunInputs,
    recipe: Recipe,
    resume: Option<TrainState>,
    mut writer: EpochWriter,
    flags: &Flags,
) -> Result<Finished, RunError> {
    let RunInputs {
        spec,
        data,
        assignment,
        init,
        pretrain_columns,
        test_columns,
        ..
    } = inputs;
    let rows = data.columns.first().map_or(0, |c| c.data.len());
    let columns = run_input::run_columns(&data.columns, &spec, test_columns.as_deref());
    let appended = columns.first().map_or(0, |c| c.data.len()) - rows;
    let mut table =
        run_input::table(&columns, data.sequences.as_ref(), &spec).map_err(RunError::Permanent)?;
    let (train_rows, test_rows) = run_input::rows_of_run(claimed, &assignment, (rows, appended))
        .map_err(RunError::Permanent)?;
    let sources = (init, pretrain_columns);
    let variant = recipe.variant;
    let (options, training) = fold_setup(claimed, &spec, &mut table, sources, &recipe, resume)?;
    let resumed = options.resume.as_ref().map(|s| s.history.as_slice());
    let chance = chance_loss(&table, &train_rows, variant.strategy);
    let mut watch = Watch::new(&training, chance, resumed.unwrap_or_default());
    let mut progress = |record: &EpochRecord, state: Option<&TrainState>| {
        count_epoch(record);
        writer.record(record, state);
        watch.epoch(record, &mut writer, flags);
    };
    let rows = (&train_rows, &test_rows);
    let outcome = fold::run_fold(
        &table,
        &training,
        rows.0,
        rows.1,
        options,
        &flags.cancel,
        &mut progress,
    );
    // A run that completes writes what is buffered, its last findings and its final checkpoint
    // with its result; any other writes them now, keeping the newest epoch checkpoint to
    // resume from (a pause's findings go with the pause).
    let stop = outcome.as_ref().map(|o| o.trained.stop).ok();
    let completes = !matches!(stop, None | Some(Stop::Cancelled | Stop::Paused));
    let end = match &outcome {
        Err(EngineError::Diverged { epoch, .. }) => RunEnd::Diverged { epoch: *epoch },
        _ => RunEnd::Finished,
    };
    let last = watch.end(end);
    if !completes {
        writer.flush(true);
    }
    if !completes && stop != Some(Stop::Paused) {
        writer.diagnosis(&last);
    }
    let outcome = outcome.map_err(|e| match e {
        EngineError::InvalidInput(m) => RunError::Permanent(m),
        e @ EngineError::Diverged { .. } => RunError::Permanent(e.to_string()),
        other => RunError::Retryable(other.to_string()),
    })?;
    let tail = RunTail {
        epochs: writer.into_pending(),
        diagnosis: Some(last),
        // Only a halving search's runs (every leg of theirs pauses or halts) are ranked by it.
        losses: match claimed.leg {
            Leg::ToTheEnd => Vec::new(),
            _ => holdout_losses(&outcome.trained.history),
        },
    };
    let rungs = spec.halving().map(|h| h.rungs).unwrap_or_default();
    let stopped_early = outcome.trained.stop == Stop::EarlyStopped;
    let rung_losses = asha::rung_losses(&rungs, &tail.losses, stopped_early);
    match outcome.trained.stop {
        Stop::Cancelled => return Ok(Finished::Stopped),
        Stop::Paused => return Ok(Finished::Paused { tail }),
        _ => {}
    }
    finished(&table, &outcome, recipe, (tail, rung_losses))
}

/// The held-out loss of each training epoch (a search ranks trials by it at its rungs); none
/// for a run without held-out rows (a final model).
fn holdout_losses(history: &[EpochRecord]) -> Vec<f64> {
    (history.iter())
        .filter(|r| r.phase == Phase::Train)
        .map_while(|r| r.holdout_loss)
        .collect()
}

/// The process's counters of epochs trained and samples seen.
fn count_epoch(record: &EpochRecord) {
    metrics::counter!("crossfold_epochs_total").increment(1);
    metrics::counter!("crossfold_training_samples_total").increment(record.samples);
    if record.seconds > 0.0 {
        metrics::gauge!("crossfold_training_samples_per_second")
            .set(record.samples as f64 / record.seconds);
    }
}

/// The fold's options (strategy, seed, resume state, the fine-tuning source's warm start and
/// encoding, the pretraining set) and its training spec (a final model's with the folds'
/// epochs and no early stopping of its own).
fn fold_setup(
    claimed: &Claimed,
    spec: &JobSpec,
    table: &mut Table<'_>,
    (init, pretrain_columns): (Option<Vec<u8>>, Option<Vec<Column>>),
    recipe: &Recipe,
    resume: Option<TrainState>,
) -> Result<(FoldOptions, TrainingSpec), RunError> {
    let (warm, encoding) = match (&init, &spec.init) {
        (Some(bytes), Some(i)) => {
            let (warm, encoding) =
                run_input::warm_start(bytes, i, table).map_err(RunError::Permanent)?;
            (Some(warm), Some(encoding))
        }
        _ => (None, None),
    };
    let (weighting, sampler, method) = plan::plan(recipe.variant.strategy, &spec.imbalance);
    let mut options = FoldOptions {
        weighting,
        sampler,
        method,
        seed: claimed.seed,
        resume,
        checkpoint_every: 1,
        correct_probabilities: spec.imbalance.correct_probabilities,
        warm,
        encoding,
        pretrain: run_input::pretrain_input(spec, table, pretrain_columns)
            .map_err(RunError::Permanent)?,
        leg: claimed.leg,
    };
    let mut training = spec.training_spec(recipe.variant.model);
    if let Some(cv) = &recipe.cv_epochs {
        training.training.epochs = cv.epochs;
        training.training.early_stopping = None;
    }
    if let Some(target) = recipe.loss_target {
        to_loss(&mut options, &mut training, target);
    }
    Ok((options, training))
}

/// A `{"epochs": "fold_loss"}` final model: no early stopping of its own, until its training
/// loss reaches `target`, for at most `FOLD_LOSS_EPOCHS_FACTOR` times the spec's epochs.
fn to_loss(options: &mut FoldOptions, training: &mut TrainingSpec, target: f64) {
    options.leg = Leg::ToLoss(target);
    training.training.epochs *= FOLD_LOSS_EPOCHS_FACTOR;
    training.training.early_stopping = None;
}

/// A completed run's result, out-of-fold predictions and final checkpoint.
fn finished(
    table: &Table,
    outcome: &FoldOutcome,
    recipe: Recipe,
    (tail, rung_losses): (RunTail, Vec<RungLoss>),
) -> Result<Finished, RunError> {
    let encoding = serde_json::to_string(&outcome.encoding)
        .map_err(|e| RunError::Retryable(format!("encoding the feature encoding: {e}")))?;
    let checkpoint = checkpoint::to_bytes_with(
        &outcome.trained.state,
        &checkpoint::Extras {
            calibration: outcome.trained.calibration.as_ref(),
            encoding: Some(&encoding),
            prior_correction: outcome.prior_correction.as_deref(),
            class_names: Some(&table.class_names),
            threshold: recipe.threshold,
        },
    )
    .map_err(|e| RunError::Retryable(e.to_string()))?;
    let mut result = results::run_result(outcome, recipe.variant);
    result.cv_epochs = recipe.cv_epochs;
    result.loss_target = recipe.loss_target;
    result.rung_losses = rung_losses;
    let state = &outcome.trained.state;
    let calibration = outcome.trained.calibration;
    let model = StoredModel {
        predictor: Predictor::new(state.model.clone(), state.members.clone(), calibration)
            .with_prior_correction(outcome.prior_correction.clone())
            .with_threshold(recipe.threshold),
        encoding: outcome.encoding.clone(),
    };
    Ok(Finished::Done {
        result: Box::new(result),
        predictions: results::run_predictions(table, outcome),
        checkpoint,
        model: Box::new(model),
        tail,
    })
}
