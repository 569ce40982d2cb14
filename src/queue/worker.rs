//! One worker: claim → train (on a blocking thread) → write, until shutdown. Runs of the same
//! job train in parallel on different workers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sqlx::SqlitePool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::QueueTiming;
use super::diagnosis::{Watch, chance_loss};
use super::epochs::EpochWriter;
use super::flags::Flags;
use super::run_input;
use crate::config::Limits;
use crate::diagnose::job_rules::job_findings;
use crate::diagnose::run_rules::RunEnd;
use crate::domain::final_model::CvEpochs;
use crate::domain::heldout::HeldOut;
use crate::domain::results::RunResult;
use crate::engine::EngineError;
use crate::engine::checkpoint;
use crate::engine::fold::{self, FoldOptions};
use crate::engine::imbalance::plan;
use crate::engine::train::{EpochRecord, Stop, TrainState};
use crate::jobs::results::{self, Variant};
use crate::store::run_data::{InputsError, RunInputs};
use crate::store::runs::Claimed;
use crate::store::{self};

/// Claims and runs work until `shutdown` fires.
pub async fn run(
    pool: SqlitePool,
    owner: String,
    (timing, limits): (QueueTiming, Arc<Limits>),
    shutdown: CancellationToken,
) {
    let lease_ms = timing.lease.as_millis() as i64;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match store::runs::claim_next(&pool, &owner, lease_ms).await {
            Ok(Some(claimed)) => {
                let span = tracing::info_span!("run", job_id = %claimed.job_id, run_id = %claimed.id, attempt = claimed.attempt);
                execute(&pool, claimed, (timing, &limits), &shutdown)
                    .instrument(span)
                    .await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(timing.poll) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "claiming a run failed; retrying");
                tokio::time::sleep(timing.poll).await;
            }
        }
    }
}

/// Returns runs of dead workers to the queue, now and then, and settles jobs that ended.
pub async fn reap(pool: SqlitePool, timing: QueueTiming, shutdown: CancellationToken) {
    loop {
        match store::runs::reap_expired(&pool, timing.backoff.as_millis() as i64).await {
            Ok(jobs) => {
                for job in jobs {
                    tracing::warn!(job_id = %job, "a run's lease expired; returned to the queue");
                    if let Err(e) = crate::jobs::settle::settle_if_done(&pool, &job).await {
                        tracing::warn!(job_id = %job, error = %format!("{e:#}"), "settling a reaped job failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "reaping failed"),
        }
        // A run reaped (or handed back) after its job's cancel was asked for ends cancelled.
        match store::runs::finish_requested_cancels(&pool).await {
            Ok(jobs) => {
                for job in jobs {
                    if let Err(e) = crate::jobs::settle::settle_if_done(&pool, &job).await {
                        tracing::warn!(job_id = %job, error = %format!("{e:#}"), "settling a cancelled job failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "finishing cancels failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(timing.lease / 3) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

async fn execute(
    pool: &SqlitePool,
    claimed: Claimed,
    (timing, limits): (QueueTiming, &Arc<Limits>),
    shutdown: &CancellationToken,
) {
    let flags = Arc::new(Flags::default());
    let beat = tokio::spawn(super::heartbeat::heartbeat(
        pool.clone(),
        claimed.id.clone(),
        claimed.token,
        timing,
        flags.clone(),
        shutdown.clone(),
    ));
    let outcome = train_run(pool, &claimed, flags.clone(), (timing, limits.clone())).await;
    beat.abort();
    let (id, token) = (claimed.id.as_str(), claimed.token);
    let backoff = super::retry_delay(timing.backoff, claimed.attempt, rand::random::<f64>())
        .as_millis() as i64;
    let outcome = match (flags.failure(), outcome) {
        (Some((true, reason)), _) => Err(RunError::Permanent(reason)),
        (Some((false, reason)), _) => Err(RunError::Retryable(reason)),
        (None, outcome) => outcome,
    };
    let written = match outcome {
        _ if flags.lost.load(Ordering::SeqCst) => {
            tracing::warn!("lost the lease; writing nothing");
            Ok(())
        }
        Ok(Finished::Done { checkpoint, .. })
            if checkpoint.len() as u64 > timing.max_checkpoint_bytes =>
        {
            let reason = super::epochs::oversized(checkpoint.len(), timing.max_checkpoint_bytes);
            tracing::warn!(error = %reason, "the run's final checkpoint cannot be stored");
            store::runs::fail(pool, id, token, &reason, true, 0).await
        }
        Ok(Finished::Done {
            result,
            predictions,
            checkpoint,
        }) => {
            match store::runs::complete(pool, id, token, &result, predictions.as_ref(), &checkpoint)
                .await
            {
                Ok(_) => Ok(()),
                // Record why, so the run does not sit `running` until its lease expires.
                Err(e) => {
                    let permanent =
                        matches!(store::health::classify(&e), store::health::Fault::TooBig(_));
                    let reason = format!("storing the run's result failed: {e:#}");
                    tracing::error!(error = %reason, "completing the run failed");
                    store::runs::fail(pool, id, token, &reason, permanent, backoff).await
                }
            }
        }
        Ok(Finished::Stopped) if flags.shutting_down.load(Ordering::SeqCst) => {
            store::runs::release(pool, id, token).await
        }
        Ok(Finished::Stopped) => store::runs::cancelled(pool, id, token).await,
        Err(RunError::Permanent(e)) => {
            tracing::warn!(error = %e, "the run cannot succeed; failing it");
            store::runs::fail(pool, id, token, &e, true, 0).await
        }
        Err(RunError::Retryable(e)) => {
            tracing::warn!(error = %e, "the run failed; it will be retried if attempts remain");
            store::runs::fail(pool, id, token, &e, false, backoff).await
        }
    };
    if let Err(e) = written {
        tracing::error!(error = %format!("{e:#}"), "recording the run's end failed");
    }
    // The job-level rules compare finished runs: this one's end can change them.
    let findings = |spec: &_, runs: &[_]| job_findings(spec, runs, limits);
    if let Err(e) = store::jobs::refresh_diagnostics(pool, &claimed.job_id, findings).await {
        tracing::warn!(error = %format!("{e:#}"), "refreshing the job's findings failed");
    }
    if let Err(e) = crate::jobs::settle::settle_if_done(pool, &claimed.job_id).await {
        tracing::error!(error = %format!("{e:#}"), "settling the job failed");
    }
}

enum Finished {
    Done {
        result: Box<RunResult>,
        predictions: Option<HeldOut>,
        checkpoint: Vec<u8>,
    },
    /// Cancelled, shutting down, or the lease was lost.
    Stopped,
}

enum RunError {
    /// Bad input: retrying cannot help.
    Permanent(String),
    /// Infrastructure or a crash: retry while attempts remain.
    Retryable(String),
}

/// Loads the claimed run's inputs, trains it on a blocking thread, and returns what to write.
async fn train_run(
    pool: &SqlitePool,
    claimed: &Claimed,
    flags: Arc<Flags>,
    (timing, limits): (QueueTiming, Arc<Limits>),
) -> Result<Finished, RunError> {
    let retry = |e: anyhow::Error| RunError::Retryable(format!("{e:#}"));
    let inputs = store::run_data::run_inputs(pool, claimed)
        .await
        .map_err(|e| match e {
            InputsError::Gone(reason) => RunError::Permanent(reason),
            InputsError::Store(e) => retry(e),
        })?;
    let (variant, cv_epochs) = super::final_run::variant_of(pool, claimed, &inputs.spec)
        .await
        .map_err(retry)?;
    let resume = match &inputs.resume {
        Some((bytes, members)) => Some(
            checkpoint::from_resume_bytes(bytes, members)
                .map_err(|e| RunError::Retryable(e.to_string()))?,
        ),
        None => None,
    };
    let writer = EpochWriter::new(
        tokio::runtime::Handle::current(),
        pool.clone(),
        (claimed.job_id.clone(), claimed.id.clone()),
        claimed.token,
        flags.clone(),
        (timing, limits),
        resume.as_ref().map_or(0, |s: &TrainState| s.members.len()),
    );
    let claimed = claimed.clone();
    let span = tracing::Span::current();
    let joined = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        train_blocking(
            &claimed,
            inputs,
            (variant, cv_epochs),
            resume,
            writer,
            &flags,
        )
    })
    .await;
    match joined {
        Ok(r) => r,
        Err(e) => Err(RunError::Retryable(format!(
            "the training thread crashed: {e}"
        ))),
    }
}

/// Trains the run (on the calling, blocking thread): its rows, the strategy's fold plan, the
/// engine's fold; then its result, held-out predictions and final checkpoint.
fn train_blocking(
    claimed: &Claimed,
    inputs: RunInputs,
    (variant, cv_epochs): (Variant, Option<CvEpochs>),
    resume: Option<TrainState>,
    mut writer: EpochWriter,
    flags: &Flags,
) -> Result<Finished, RunError> {
    let RunInputs {
        spec,
        columns,
        sequences,
        assignment,
        init,
        pretrain_columns,
        test_columns,
        ..
    } = inputs;
    let rows = columns.first().map_or(0, |c| c.data.len());
    let columns = match &test_columns {
        Some(test) => run_input::append_rows(run_input::relabel(columns, &spec), test),
        None => run_input::relabel(columns, &spec),
    };
    let appended = columns.first().map_or(0, |c| c.data.len()) - rows;
    let mut table =
        run_input::table(&columns, sequences.as_ref(), &spec).map_err(RunError::Permanent)?;
    let (train_rows, test_rows) = run_input::rows_of_run(claimed, &assignment, (rows, appended))
        .map_err(RunError::Permanent)?;
    let (warm, encoding) = match (&init, &spec.init) {
        (Some(bytes), Some(i)) => {
            let (warm, encoding) =
                run_input::warm_start(bytes, i, &mut table).map_err(RunError::Permanent)?;
            (Some(warm), Some(encoding))
        }
        _ => (None, None),
    };
    let (weighting, sampler, method) = plan::plan(variant.strategy, &spec.imbalance);
    let options = FoldOptions {
        weighting,
        sampler,
        method,
        seed: claimed.seed,
        resume,
        checkpoint_every: 1,
        correct_probabilities: spec.imbalance.correct_probabilities,
        warm,
        encoding,
        pretrain: run_input::pretrain_input(&spec, &table, pretrain_columns)
            .map_err(RunError::Permanent)?,
    };
    let mut training = spec.training_spec(variant.model);
    // The folds chose the epochs: no early stopping of its own.
    if let Some(cv) = &cv_epochs {
        training.training.epochs = cv.epochs;
        training.training.early_stopping = None;
    }
    let resumed = options.resume.as_ref().map(|s| s.history.as_slice());
    let mut watch = Watch::new(
        &training,
        chance_loss(&table, &train_rows, variant.strategy),
        resumed.unwrap_or_default(),
    );
    let mut progress = |record: &EpochRecord, state: Option<&TrainState>| {
        metrics::counter!("crossfold_epochs_total").increment(1);
        metrics::counter!("crossfold_training_samples_total").increment(record.samples);
        if record.seconds > 0.0 {
            metrics::gauge!("crossfold_training_samples_per_second")
                .set(record.samples as f64 / record.seconds);
        }
        writer.record(record, state);
        watch.epoch(record, &mut writer, flags);
    };
    let outcome = fold::run_fold(
        &table,
        &training,
        &train_rows,
        &test_rows,
        options,
        &flags.cancel,
        &mut progress,
    );
    // What is buffered goes out now; a run that completes writes its final checkpoint with
    // its result, any other keeps the newest epoch checkpoint to resume from.
    let completes = matches!(&outcome, Ok(o) if o.trained.stop != Stop::Cancelled);
    writer.flush(!completes);
    let end = match &outcome {
        Err(EngineError::Diverged { epoch, .. }) => RunEnd::Diverged { epoch: *epoch },
        _ => RunEnd::Finished,
    };
    watch.end(end, &mut writer);
    let outcome = outcome.map_err(|e| match e {
        EngineError::InvalidInput(m) => RunError::Permanent(m),
        e @ EngineError::Diverged { .. } => RunError::Permanent(e.to_string()),
        other => RunError::Retryable(other.to_string()),
    })?;
    if outcome.trained.stop == Stop::Cancelled {
        return Ok(Finished::Stopped);
    }
    let encoding = serde_json::to_string(&outcome.encoding)
        .map_err(|e| RunError::Retryable(format!("encoding the feature encoding: {e}")))?;
    let checkpoint = checkpoint::to_bytes_with(
        &outcome.trained.state,
        &checkpoint::Extras {
            calibration: outcome.trained.calibration.as_ref(),
            encoding: Some(&encoding),
            prior_correction: outcome.prior_correction.as_deref(),
            class_names: Some(&table.class_names),
        },
    )
    .map_err(|e| RunError::Retryable(e.to_string()))?;
    let mut result = results::run_result(&outcome, variant);
    result.cv_epochs = cv_epochs;
    Ok(Finished::Done {
        result: Box::new(result),
        predictions: results::run_predictions(&table, &outcome),
        checkpoint,
    })
}
