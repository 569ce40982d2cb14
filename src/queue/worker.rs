//! One worker: claim → train (on a blocking thread) → write, until shutdown. Runs of the same
//! job train in parallel on different workers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::store::Db;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::QueueTiming;
use super::epochs::EpochWriter;
use super::flags::{Flags, RunError};
use super::shared::Shared;
use super::training::Finished;
use crate::engine::train::{Leg, TrainState};
use crate::engine::{checkpoint, kernels};
use crate::store::run_data::InputsError;
use crate::store::runs::{Claimed, RunTail};
use crate::store::{self};

/// Claims and runs work until `shutdown` fires; idle, it waits for `shared.wake` or its poll.
pub async fn run(
    pool: Db,
    owner: String,
    (timing, shared): (QueueTiming, Shared),
    shutdown: CancellationToken,
) {
    let wake = &shared.wake;
    let lease_ms = timing.lease.as_millis() as i64;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match store::runs::claim_next(&pool, &owner, lease_ms, kernels::kernel_set()).await {
            Ok(Some(claimed)) => {
                let span = tracing::info_span!("run", job_id = %claimed.job_id, run_id = %claimed.id, attempt = claimed.attempt);
                execute(&pool, claimed, (timing, &shared), &shutdown)
                    .instrument(span)
                    .await;
            }
            Ok(None) => {
                let woken = async {
                    match wake {
                        Some(wake) => wake.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(idle_wait(timing, wake.is_some())) => {}
                    _ = woken => {}
                    _ = shared.made_work.notified() => {}
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

/// How long an idle worker sleeps before polling again: its poll, or with notifications a
/// jittered `NOTIFIED_POLL` (so many workers do not poll in step).
fn idle_wait(timing: QueueTiming, notified: bool) -> std::time::Duration {
    if !notified {
        return timing.poll;
    }
    super::NOTIFIED_POLL.mul_f64(0.5 + rand::random::<f64>())
}

/// Returns runs of dead workers to the queue, now and then, and settles jobs that ended.
pub async fn reap(pool: Db, timing: QueueTiming, shutdown: CancellationToken) {
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
            Ok(jobs) => settle_each(&pool, jobs, "settling a cancelled job failed").await,
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "finishing cancels failed"),
        }
        // A search whose decision a crash or an outage cut short decides now.
        match store::rungs::waiting_jobs(&pool).await {
            Ok(jobs) => {
                for job in jobs {
                    if let Err(e) = crate::jobs::halving::advance(&pool, &job).await {
                        tracing::warn!(job_id = %job, error = %format!("{e:#}"), "a search's decision failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "listing waiting searches failed"),
        }
        // A job whose last run ended while its settle could not be written or read (a store
        // unreachable) is settled now.
        match store::jobs::unsettled(&pool).await {
            Ok(jobs) => settle_each(&pool, jobs, "settling an ended job failed").await,
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "listing unsettled jobs failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(timing.lease / 3) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

/// Settles each of `jobs` that is done, logging `failed` for those that cannot be settled yet.
async fn settle_each(pool: &Db, jobs: Vec<String>, failed: &str) {
    for job in jobs {
        if let Err(e) = crate::jobs::settle::settle_if_done(pool, &job).await {
            tracing::warn!(job_id = %job, error = %format!("{e:#}"), "{failed}");
        }
    }
}

async fn execute(
    pool: &Db,
    claimed: Claimed,
    (timing, shared): (QueueTiming, &Shared),
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
    let outcome = train_run(pool, &claimed, flags.clone(), (timing, shared)).await;
    beat.abort();
    let (id, token) = (claimed.id.as_str(), claimed.token);
    let backoff = super::retry_delay(timing.backoff, claimed.attempt, rand::random::<f64>())
        .as_millis() as i64;
    let outcome = match flags.failure() {
        Some(failure) => Err(failure),
        None => outcome,
    };
    let written = match outcome {
        _ if flags.lost.load(Ordering::SeqCst) => {
            tracing::warn!("lost the lease; writing nothing");
            Ok(())
        }
        Ok(Finished::Done {
            checkpoint, tail, ..
        }) if checkpoint.len() as u64 > timing.max_checkpoint_bytes => {
            let reason = super::epochs::oversized(checkpoint.len(), timing.max_checkpoint_bytes);
            tracing::warn!(error = %reason, "the run's final checkpoint cannot be stored");
            write_tail(pool, (id, token), &tail).await;
            store::runs::fail(pool, id, token, &reason, true, 0).await
        }
        Ok(Finished::Done {
            result,
            predictions,
            checkpoint,
            model,
            tail,
        }) => {
            let files = (predictions.as_ref(), checkpoint.as_slice());
            match store::runs::complete(pool, (id, token), &result, files, &tail).await {
                Ok(completed) => {
                    if completed {
                        crate::jobs::models::keep(id, checkpoint.len(), &model);
                    }
                    Ok(())
                }
                // Record why, so the run does not sit `running` until its lease expires.
                Err(e) => {
                    let error = RunError::from_store(&e, "storing the run's result");
                    tracing::error!(error = %error.reason(), "completing the run failed");
                    record_failure(pool, (id, token), error, backoff).await
                }
            }
        }
        Ok(Finished::Paused { tail }) => {
            store::rungs::park(pool, id, token, &tail).await.map(|_| ())
        }
        Ok(Finished::Stopped) if flags.shutting_down.load(Ordering::SeqCst) => {
            store::runs::release(pool, id, token, 0, None).await
        }
        Ok(Finished::Stopped) => store::runs::cancelled(pool, id, token).await,
        Err(error) => record_failure(pool, (id, token), error, backoff).await,
    };
    if let Err(e) = written {
        tracing::error!(error = %format!("{e:#}"), "recording the run's end failed");
    }
    if claimed.leg != Leg::ToTheEnd {
        match crate::jobs::halving::advance(pool, &claimed.job_id).await {
            Ok(()) => shared.made_work.notify_waiters(),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "the search's decision failed; the reaper retries it")
            }
        }
    }
    after_run(pool, &claimed.job_id, shared).await;
}

/// Writes the epochs and findings of a run that trained to its end but cannot complete: they
/// show what it did. A failure is logged; the run's end is recorded either way.
async fn write_tail(pool: &Db, (id, token): (&str, i64), tail: &RunTail) {
    let written = async {
        store::runs::append_epochs(pool, id, token, &tail.epochs, None, &[]).await?;
        if let Some(diagnosis) = &tail.diagnosis {
            store::run_notes::set_diagnosis(pool, id, token, diagnosis).await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = written.await {
        tracing::warn!(error = %format!("{e:#}"), "storing the run's last epochs failed");
    }
}

/// A run of `job` ended: refresh the job's findings (the job-level rules compare finished runs,
/// so this end can change them) when `shared.refresher` says, and settle the job if it is done.
async fn after_run(pool: &Db, job: &str, shared: &Shared) {
    let last = matches!(store::jobs::open_runs(pool, job).await, Ok(0));
    super::shared::refresh_when_due(pool, job, shared, last).await;
    if last && let Err(e) = crate::jobs::settle::settle_if_done(pool, job).await {
        tracing::error!(error = %format!("{e:#}"), "settling the job failed");
    }
}

/// Records why a run stopped: failed for good, back to the queue with the attempt counted, or
/// (an outage) back to the queue after `backoff_ms` without counting it.
async fn record_failure(
    pool: &Db,
    (id, token): (&str, i64),
    error: RunError,
    backoff_ms: i64,
) -> anyhow::Result<()> {
    match error {
        RunError::Permanent(e) => {
            tracing::warn!(error = %e, "the run cannot succeed; failing it");
            store::runs::fail(pool, id, token, &e, true, 0).await
        }
        RunError::Retryable(e) => {
            tracing::warn!(error = %e, "the run failed; it will be retried if attempts remain");
            store::runs::fail(pool, id, token, &e, false, backoff_ms).await
        }
        RunError::Unavailable(e) => {
            tracing::warn!(error = %e, "a store is unreachable; the run waits for it");
            store::runs::release(pool, id, token, backoff_ms, Some(&e)).await
        }
    }
}

/// Loads the claimed run's inputs, trains it on a blocking thread, and returns what to write.
async fn train_run(
    pool: &Db,
    claimed: &Claimed,
    flags: Arc<Flags>,
    (timing, shared): (QueueTiming, &Shared),
) -> Result<Finished, RunError> {
    let retry = |e: anyhow::Error| RunError::from_store(&e, "reading the run's inputs");
    let inputs = store::run_data::run_inputs(pool, claimed)
        .await
        .map_err(|e| match e {
            InputsError::Gone(reason) => RunError::Permanent(reason),
            InputsError::Store(e) => retry(e),
        })?;
    let recipe = super::final_run::recipe(pool, claimed, &inputs.spec)
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
        (timing, shared.clone()),
        resume.as_ref().map_or(0, |s: &TrainState| s.members.len()),
    );
    let claimed = claimed.clone();
    let span = tracing::Span::current();
    let cores = shared.cores.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        // The share lives as long as the run trains: its end widens the others.
        let share = cores.share();
        share.install(|| {
            super::training::train_blocking(&claimed, inputs, recipe, resume, writer, &flags)
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
