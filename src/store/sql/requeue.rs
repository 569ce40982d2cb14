//! Runs whose worker is gone, back to the queue (or ended): expired leases, cancels never
//! carried out, a single node's runs at its start.

use super::Pool;
use crate::domain::ids;

/// Returns runs whose lease expired (their worker died) to the queue after `backoff_ms`, or
/// fails them when their attempts are used up; returns the affected jobs.
pub async fn reap_expired(pool: &Pool, backoff_ms: i64) -> anyhow::Result<Vec<String>> {
    let jobs: Vec<String> = sqlx::query_scalar(concat!(
        "UPDATE runs SET
            state = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
            finished_at = CASE WHEN attempt >= max_attempts THEN $1 ELSE NULL END,
            last_error = 'the worker stopped answering (lease expired; crashed or killed?)',
            run_at = ",
        now_ms!(),
        " + $2, lease_owner = NULL, lease_expires_at = NULL
         WHERE state = 'running' AND lease_expires_at < ",
        now_ms!(),
        "
         RETURNING job_id",
    ))
    .bind(ids::now_rfc3339())
    .bind(backoff_ms)
    .fetch_all(pool)
    .await?;
    let mut woken = jobs.clone();
    woken.sort();
    woken.dedup();
    for job in &woken {
        super::notify(pool, super::QUEUE_CHANNEL, job).await?;
    }
    Ok(jobs)
}

/// Finishes cancels that were asked for but never carried out (the process died between the
/// request and the stop, so the run went back to the queue of a job no claim looks at): such
/// runs end `cancelled`. Returns the jobs touched, to settle.
pub async fn finish_requested_cancels(pool: &Pool) -> anyhow::Result<Vec<String>> {
    let mut jobs: Vec<String> = sqlx::query_scalar(
        "UPDATE runs SET state = 'cancelled', finished_at = $1, lease_owner = NULL,
                lease_expires_at = NULL
         WHERE state = 'queued'
           AND job_id IN (SELECT id FROM jobs WHERE cancel_requested_at IS NOT NULL)
         RETURNING job_id",
    )
    .bind(ids::now_rfc3339())
    .fetch_all(pool)
    .await?;
    // A job left `cancelling` with every run already ended (it died before settling).
    let stuck: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM jobs j WHERE status = 'cancelling' AND NOT EXISTS (
            SELECT 1 FROM runs r WHERE r.job_id = j.id AND r.state IN ('queued', 'running'))",
    )
    .fetch_all(pool)
    .await?;
    jobs.extend(stuck);
    jobs.sort();
    jobs.dedup();
    Ok(jobs)
}

/// At start-up of a single node: every run still marked running belongs to a process that
/// died; return them to the queue now (their attempt counts) instead of waiting for leases.
pub async fn requeue_orphans(pool: &Pool) -> anyhow::Result<Vec<String>> {
    let jobs: Vec<String> = sqlx::query_scalar(concat!(
        "UPDATE runs SET
            state = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
            finished_at = CASE WHEN attempt >= max_attempts THEN $1 ELSE NULL END,
            last_error = 'the worker stopped (crashed or killed) while training',
            run_at = ",
        now_ms!(),
        ", lease_owner = NULL, lease_expires_at = NULL
         WHERE state = 'running'
         RETURNING job_id",
    ))
    .bind(ids::now_rfc3339())
    .fetch_all(pool)
    .await?;
    Ok(jobs)
}
