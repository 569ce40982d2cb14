//! One worker: claim → train (on a blocking thread) → write, until shutdown. Runs of the same
//! job train in parallel on different workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use serde_json::Value;
use sqlx::SqlitePool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::epochs::EpochWriter;
use super::{QueueTiming, results};
use crate::domain::job::{JobSpec, Strategy};
use crate::engine::EngineError;
use crate::engine::checkpoint::Checkpoint;
use crate::engine::cv::{self, FoldOptions, Table};
use crate::engine::folds;
use crate::engine::train::Stop;
use crate::store::{self, runs::Beat, runs::Claimed};

/// Claims and runs work until `shutdown` fires.
pub async fn run(
    pool: SqlitePool,
    owner: String,
    timing: QueueTiming,
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
                execute(&pool, claimed, timing, &shutdown)
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
                    if let Err(e) =
                        store::jobs::settle_job_if_done(&pool, &job, results::summary).await
                    {
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
                    if let Err(e) =
                        store::jobs::settle_job_if_done(&pool, &job, results::summary).await
                    {
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

/// Why training stopped early, as the worker sees it.
#[derive(Default)]
pub(super) struct Flags {
    pub(super) cancel: AtomicBool,
    pub(super) lost: AtomicBool,
    shutting_down: AtomicBool,
    /// A write failed: whether retrying can help, and why.
    failure: std::sync::Mutex<Option<(bool, String)>>,
}

impl Flags {
    /// Stops the run with a failure to record (the first one wins).
    pub(super) fn fail(&self, permanent: bool, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert((permanent, reason));
        self.cancel.store(true, Ordering::SeqCst);
    }

    fn failure(&self) -> Option<(bool, String)> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn execute(
    pool: &SqlitePool,
    claimed: Claimed,
    timing: QueueTiming,
    shutdown: &CancellationToken,
) {
    let flags = Arc::new(Flags::default());
    let beat = tokio::spawn(heartbeat(
        pool.clone(),
        claimed.id.clone(),
        claimed.token,
        timing,
        flags.clone(),
        shutdown.clone(),
    ));
    let outcome = train_run(pool, &claimed, flags.clone(), timing).await;
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
    if let Err(e) = store::jobs::settle_job_if_done(pool, &claimed.job_id, results::summary).await {
        tracing::error!(error = %format!("{e:#}"), "settling the job failed");
    }
}

async fn heartbeat(
    pool: SqlitePool,
    run_id: String,
    token: i64,
    timing: QueueTiming,
    flags: Arc<Flags>,
    shutdown: CancellationToken,
) {
    let lease_ms = timing.lease.as_millis() as i64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(timing.lease / 3) => {}
            _ = shutdown.cancelled() => {
                flags.shutting_down.store(true, Ordering::SeqCst);
                flags.cancel.store(true, Ordering::SeqCst);
                return;
            }
        }
        match store::runs::heartbeat(&pool, &run_id, token, lease_ms).await {
            Ok(Beat::Held) => {}
            Ok(Beat::CancelRequested) => flags.cancel.store(true, Ordering::SeqCst),
            Ok(Beat::Lost) => {
                flags.lost.store(true, Ordering::SeqCst);
                flags.cancel.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "heartbeat failed"),
        }
    }
}

enum Finished {
    Done {
        result: Value,
        predictions: Option<crate::domain::heldout::HeldOut>,
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

async fn train_run(
    pool: &SqlitePool,
    claimed: &Claimed,
    flags: Arc<Flags>,
    timing: QueueTiming,
) -> Result<Finished, RunError> {
    let retry = |e: anyhow::Error| RunError::Retryable(format!("{e:#}"));
    let stored = store::jobs::job_spec(pool, &claimed.job_id)
        .await
        .map_err(retry)?
        .context("the run's job")
        .map_err(retry)?;
    let spec = JobSpec::from_json(stored.clone())
        .map_err(|e| RunError::Permanent(format!("stored spec unreadable: {e:?}")))?;
    let strategy = match claimed.strategy.as_deref().and_then(Strategy::parse) {
        Some(s) => s,
        // A comparison's final run: every fold run has ended, so the leaderboard is final.
        None => {
            let runs =
                store::runs::runs_of_job(pool, &claimed.job_id, store::runs::Detail::Summary)
                    .await
                    .map_err(retry)?;
            let folds = results::fold_results(&runs);
            let winner = results::chosen_strategy(&stored, &folds).unwrap_or_default();
            store::runs::set_strategy(pool, &claimed.id, claimed.token, winner.as_str())
                .await
                .map_err(retry)?;
            winner
        }
    };
    let columns = store::datasets::load_columns(pool, &spec.dataset_id)
        .await
        .map_err(retry)?
        .ok_or_else(|| RunError::Permanent(format!("dataset {} was deleted", spec.dataset_id)))?;
    let assignment = store::jobs::fold_assignment(pool, &claimed.job_id)
        .await
        .map_err(retry)?;
    let resume = match &claimed.checkpoint {
        Some(bytes) => {
            let members = store::runs::members(pool, &claimed.id)
                .await
                .map_err(retry)?;
            Some(
                Checkpoint::from_resume_bytes(bytes, &members)
                    .map_err(|e| RunError::Retryable(e.to_string()))?,
            )
        }
        None => None,
    };
    let members_written = resume.as_ref().map_or(0, |c| c.members.len());
    let handle = tokio::runtime::Handle::current();
    let (pool, claimed, flags2) = (pool.clone(), claimed.clone(), flags.clone());
    let span = tracing::Span::current();
    let joined = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let label = columns
            .iter()
            .position(|c| c.info.role == crate::domain::dataset::ColumnRole::Label)
            .unwrap_or(0);
        let table = Table::new(&columns, label).map_err(|e| RunError::Permanent(e.to_string()))?;
        let (train_rows, test_rows) = match (claimed.kind.as_str(), claimed.fold, claimed.repeat) {
            ("fold", Some(fold), Some(repeat)) => folds::split(&assignment[repeat as usize], fold),
            // The final model trains on every row outside the test set and scores the test set.
            _ => {
                let marks = assignment.first().map(Vec::as_slice).unwrap_or(&[]);
                let in_test = |i: usize| marks.get(i) == Some(&folds::TEST_SET);
                (
                    (0..table.y.len()).filter(|&i| !in_test(i)).collect(),
                    (0..table.y.len()).filter(|&i| in_test(i)).collect(),
                )
            }
        };
        let (weighting, sampler, method) = cv::plan(strategy, &spec.imbalance);
        let options = FoldOptions {
            weighting,
            sampler,
            method,
            seed: claimed.seed,
            resume,
            checkpoint_every: 1,
        };
        let mut writer = EpochWriter::new(
            handle,
            pool,
            claimed.id.clone(),
            claimed.token,
            flags2.clone(),
            timing,
            members_written,
        );
        let mut progress = |record: &crate::engine::train::EpochRecord, ck: Option<&Checkpoint>| {
            metrics::counter!("crossfold_epochs_total").increment(1);
            metrics::counter!("crossfold_training_samples_total").increment(record.samples);
            if record.seconds > 0.0 {
                metrics::gauge!("crossfold_training_samples_per_second")
                    .set(record.samples as f64 / record.seconds);
            }
            writer.record(record, ck);
        };
        let outcome = cv::run_fold(
            &table,
            &spec.training_spec(),
            &train_rows,
            &test_rows,
            options,
            &flags2.cancel,
            &mut progress,
        );
        // What is buffered goes out now; a run that completes writes its final checkpoint with
        // its result, any other keeps the newest epoch checkpoint to resume from.
        let completes = matches!(&outcome, Ok(o) if o.trained.stop != Stop::Cancelled);
        writer.flush(!completes);
        let outcome = outcome.map_err(|e| match e {
            EngineError::InvalidInput(m) => RunError::Permanent(m),
            e @ EngineError::Diverged { .. } => RunError::Permanent(e.to_string()),
            other => RunError::Retryable(other.to_string()),
        })?;
        if outcome.trained.stop == Stop::Cancelled {
            return Ok(Finished::Stopped);
        }
        let checkpoint = outcome
            .trained
            .checkpoint
            .to_bytes()
            .map_err(|e| RunError::Retryable(e.to_string()))?;
        Ok(Finished::Done {
            result: results::run_result(&outcome, strategy),
            predictions: results::run_predictions(&table, &outcome),
            checkpoint,
        })
    })
    .await;
    match joined {
        Ok(r) => r,
        Err(e) => Err(RunError::Retryable(format!(
            "the training thread crashed: {e}"
        ))),
    }
}
