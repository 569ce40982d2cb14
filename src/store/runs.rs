//! `runs` and `epoch_metrics`: the claimable unit of work. A claim is one conditional
//! `UPDATE … RETURNING`; every later write of a running run names its `lease_token`, so a
//! worker that lost its lease (expired, reaped, re-claimed elsewhere) writes nothing.

use anyhow::Context;
use sqlx::{Row, SqlitePool};

use crate::domain::heldout::HeldOut;
use crate::domain::ids;
use crate::domain::job::Strategy;
use crate::domain::results::{RunKind, RunResult};
use crate::engine::train::{EpochRecord, Phase};

/// A run a worker now holds.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub job_id: String,
    pub kind: RunKind,
    pub fold: Option<u32>,
    pub repeat: Option<u32>,
    pub seed: u64,
    pub attempt: u32,
    pub max_attempts: u32,
    pub token: i64,
    /// The last epoch checkpoint, when resuming.
    pub checkpoint: Option<Vec<u8>>,
    /// The imbalance strategy; `None` for a comparison's final run (train the winner).
    pub strategy: Option<Strategy>,
    /// The model variant (index into a `model` list).
    pub variant: u32,
}

/// Claims the oldest due queued run of a live job, leasing it to `owner` for `lease_ms`.
pub async fn claim_next(
    pool: &SqlitePool,
    owner: &str,
    lease_ms: i64,
) -> anyhow::Result<Option<Claimed>> {
    let now = ids::now_millis();
    let row = sqlx::query(
        "UPDATE runs SET state = 'running', attempt = attempt + 1, lease_owner = ?,
                lease_token = lease_token + 1, lease_expires_at = ?,
                started_at = COALESCE(started_at, ?)
         WHERE id = (SELECT r.id FROM runs r JOIN jobs j ON j.id = r.job_id
                     WHERE r.state = 'queued' AND r.run_at <= ? AND j.status IN ('queued', 'running')
                       -- A comparison's final run trains the winner: it waits for the folds.
                       AND (r.strategy IS NOT NULL OR NOT EXISTS (
                             SELECT 1 FROM runs f WHERE f.job_id = r.job_id AND f.kind = 'fold'
                               AND f.state IN ('queued', 'running')))
                     ORDER BY r.seq LIMIT 1)
           AND state = 'queued'
         RETURNING id, job_id, kind, fold, repeat, seed, attempt, max_attempts, lease_token, checkpoint,
                   strategy, variant",
    )
    .bind(owner)
    .bind(now + lease_ms)
    .bind(ids::now_rfc3339())
    .bind(now)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let claimed = Claimed {
        id: row.get("id"),
        job_id: row.get("job_id"),
        kind: kind_of(&row)?,
        fold: row.get::<Option<i64>, _>("fold").map(|v| v as u32),
        repeat: row.get::<Option<i64>, _>("repeat").map(|v| v as u32),
        seed: row.get::<i64, _>("seed") as u64,
        attempt: row.get::<i64, _>("attempt") as u32,
        max_attempts: row.get::<i64, _>("max_attempts") as u32,
        token: row.get("lease_token"),
        checkpoint: row.get("checkpoint"),
        strategy: strategy_of(&row)?,
        variant: row.get::<i64, _>("variant") as u32,
    };
    sqlx::query("UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, ?) WHERE id = ? AND status = 'queued'")
        .bind(ids::now_rfc3339())
        .bind(&claimed.job_id)
        .execute(pool)
        .await?;
    Ok(Some(claimed))
}

pub(super) fn kind_of(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<RunKind> {
    let kind: String = row.get("kind");
    RunKind::parse(&kind).with_context(|| format!("a stored run kind {kind:?}"))
}

pub(super) fn strategy_of(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<Option<Strategy>> {
    row.get::<Option<String>, _>("strategy")
        .map(|s| Strategy::parse(&s).with_context(|| format!("a stored strategy {s:?}")))
        .transpose()
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Lease extended.
    Held,
    /// Lease extended; the job is being cancelled.
    CancelRequested,
    /// The lease is gone: stop and write nothing.
    Lost,
}

/// Extends the lease, if still held.
pub async fn heartbeat(
    pool: &SqlitePool,
    run_id: &str,
    token: i64,
    lease_ms: i64,
) -> anyhow::Result<Beat> {
    let extended = sqlx::query(
        "UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'",
    )
    .bind(ids::now_millis() + lease_ms)
    .bind(run_id)
    .bind(token)
    .execute(pool)
    .await?
    .rows_affected();
    if extended == 0 {
        return Ok(Beat::Lost);
    }
    Ok(if cancel_requested(pool, run_id).await? {
        Beat::CancelRequested
    } else {
        Beat::Held
    })
}

/// What recording an epoch found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Written; `cancel` says whether the job is being cancelled (stop now).
    Written { cancel: bool },
    /// The lease is gone: nothing was written.
    Lost,
}

/// Records epochs (keyed by number: a replayed epoch overwrites) and, if given, the checkpoint to
/// resume from, in one transaction; nothing is written if the lease is gone. Also reports a
/// pending cancel.
pub async fn append_epochs(
    pool: &SqlitePool,
    run_id: &str,
    token: i64,
    records: &[EpochRecord],
    checkpoint: Option<&[u8]>,
    members: &[(usize, Vec<u8>)],
) -> anyhow::Result<Appended> {
    super::health::noted(pool, async move {
        let mut tx = super::write_tx(pool).await?;
        // Pretraining epochs are numbered per layer: they never count as the run's epochs.
        let last = records
            .iter()
            .filter(|r| r.phase == Phase::Train)
            .map(|r| r.epoch as i64)
            .max();
        let held = sqlx::query(
            "UPDATE runs SET epochs_done = COALESCE(?, epochs_done), checkpoint = COALESCE(?, checkpoint)
             WHERE id = ? AND lease_token = ? AND state = 'running'",
        )
        .bind(last)
        .bind(checkpoint)
        .bind(run_id)
        .bind(token)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if held == 0 {
            tx.rollback().await?;
            return Ok(Appended::Lost);
        }
        // An ensemble's finished members, each written once (not with every checkpoint).
        for (member, weights) in members {
            sqlx::query(
                "INSERT INTO run_members (run_id, member, weights) VALUES (?, ?, ?)
                 ON CONFLICT (run_id, member) DO UPDATE SET weights = excluded.weights",
            )
            .bind(run_id)
            .bind(*member as i64)
            .bind(weights)
            .execute(&mut *tx)
            .await?;
        }
        for record in records {
            let json = serde_json::to_string(record)?;
            let query = match (record.phase, record.layer) {
                (Phase::Pretrain, Some(layer)) => sqlx::query(
                    "INSERT INTO pretrain_epochs (run_id, layer, epoch, record_json) VALUES (?, ?, ?, ?)
                     ON CONFLICT (run_id, layer, epoch) DO UPDATE SET record_json = excluded.record_json",
                )
                .bind(run_id)
                .bind(layer as i64),
                _ => sqlx::query(
                    "INSERT INTO epoch_metrics (run_id, epoch, record_json) VALUES (?, ?, ?)
                     ON CONFLICT (run_id, epoch) DO UPDATE SET record_json = excluded.record_json",
                )
                .bind(run_id),
            };
            query
                .bind(record.epoch as i64)
                .bind(json)
                .execute(&mut *tx)
                .await?;
        }
        let cancel = cancel_requested(&mut *tx, run_id).await?;
        tx.commit().await?;
        Ok(Appended::Written { cancel })
    })
    .await
}

/// Whether the job of `run_id` has been asked to cancel (a read, no write).
pub async fn cancel_requested<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    run_id: &str,
) -> anyhow::Result<bool> {
    let cancel: Option<String> = sqlx::query_scalar(
        "SELECT j.cancel_requested_at FROM jobs j JOIN runs r ON r.job_id = j.id WHERE r.id = ?",
    )
    .bind(run_id)
    .fetch_one(db)
    .await?;
    Ok(cancel.is_some())
}

/// Marks a run succeeded with its results; `false` if the lease is gone.
pub async fn complete(
    pool: &SqlitePool,
    run_id: &str,
    token: i64,
    result: &RunResult,
    heldout: Option<&HeldOut>,
    checkpoint: &[u8],
) -> anyhow::Result<bool> {
    super::health::noted(pool, async move {
        let done = sqlx::query(
            "UPDATE runs SET state = 'succeeded', result_json = ?, heldout = ?, checkpoint = ?,
                    finished_at = ?, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = ? AND lease_token = ? AND state = 'running'",
        )
        .bind(serde_json::to_string(result)?)
        .bind(heldout.map(HeldOut::to_bytes))
        .bind(checkpoint)
        .bind(ids::now_rfc3339())
        .bind(run_id)
        .bind(token)
        .execute(pool)
        .await?
        .rows_affected();
        Ok(done > 0)
    })
    .await
}

/// Records a failure: permanent failures (bad input) and runs out of attempts end `failed`;
/// others go back to the queue after `backoff_ms`.
pub async fn fail(
    pool: &SqlitePool,
    run_id: &str,
    token: i64,
    error: &str,
    permanent: bool,
    backoff_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE runs SET
            state = CASE WHEN ? OR attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
            finished_at = CASE WHEN ? OR attempt >= max_attempts THEN ? ELSE NULL END,
            run_at = ?, last_error = ?, lease_owner = NULL, lease_expires_at = NULL
         WHERE id = ? AND lease_token = ? AND state = 'running'",
    )
    .bind(permanent)
    .bind(permanent)
    .bind(ids::now_rfc3339())
    .bind(ids::now_millis() + backoff_ms)
    .bind(error)
    .bind(run_id)
    .bind(token)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a run cancelled (it stopped on request).
pub async fn cancelled(pool: &SqlitePool, run_id: &str, token: i64) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE runs SET state = 'cancelled', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL
         WHERE id = ? AND lease_token = ? AND state = 'running'",
    )
    .bind(ids::now_rfc3339())
    .bind(run_id)
    .bind(token)
    .execute(pool)
    .await?;
    Ok(())
}

/// Hands a run back to the queue at shutdown, without counting the attempt.
pub async fn release(pool: &SqlitePool, run_id: &str, token: i64) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE runs SET state = 'queued', attempt = MAX(attempt - 1, 0), run_at = ?,
                lease_owner = NULL, lease_expires_at = NULL
         WHERE id = ? AND lease_token = ? AND state = 'running'",
    )
    .bind(ids::now_millis())
    .bind(run_id)
    .bind(token)
    .execute(pool)
    .await?;
    Ok(())
}

/// Returns runs whose lease expired (their worker died) to the queue after `backoff_ms`, or
/// fails them when their attempts are used up; returns the affected jobs.
pub async fn reap_expired(pool: &SqlitePool, backoff_ms: i64) -> anyhow::Result<Vec<String>> {
    let now = ids::now_millis();
    let jobs: Vec<String> = sqlx::query_scalar(
        "UPDATE runs SET
            state = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
            finished_at = CASE WHEN attempt >= max_attempts THEN ? ELSE NULL END,
            last_error = 'the worker stopped answering (lease expired; crashed or killed?)',
            run_at = ?, lease_owner = NULL, lease_expires_at = NULL
         WHERE state = 'running' AND lease_expires_at < ?
         RETURNING job_id",
    )
    .bind(ids::now_rfc3339())
    .bind(now + backoff_ms)
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(jobs)
}

/// Finishes cancels that were asked for but never carried out (the process died between the
/// request and the stop, so the run went back to the queue of a job no claim looks at): such
/// runs end `cancelled`. Returns the jobs touched, to settle.
pub async fn finish_requested_cancels(pool: &SqlitePool) -> anyhow::Result<Vec<String>> {
    let mut jobs: Vec<String> = sqlx::query_scalar(
        "UPDATE runs SET state = 'cancelled', finished_at = ?, lease_owner = NULL,
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
pub async fn requeue_orphans(pool: &SqlitePool) -> anyhow::Result<Vec<String>> {
    let jobs: Vec<String> = sqlx::query_scalar(
        "UPDATE runs SET
            state = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
            finished_at = CASE WHEN attempt >= max_attempts THEN ? ELSE NULL END,
            last_error = 'the worker stopped (crashed or killed) while training',
            run_at = ?, lease_owner = NULL, lease_expires_at = NULL
         WHERE state = 'running'
         RETURNING job_id",
    )
    .bind(ids::now_rfc3339())
    .bind(ids::now_millis())
    .fetch_all(pool)
    .await?;
    Ok(jobs)
}
