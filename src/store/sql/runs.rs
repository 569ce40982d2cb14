use anyhow::Context;
use sqlx::Row;

use super::Pool;
use crate::domain::ids;
use crate::domain::job::Strategy;
use crate::domain::results::{RunKind, RunResult};
use crate::engine::train::{EpochRecord, Leg};
use crate::store::artifacts::{Blob, Stored};
use crate::store::runs::{Appended, Beat, Claimed, RunTail};

/// Claims the oldest due queued run of a live job, leasing it to `owner` for `lease_ms`, and
/// records that it trains on kernel set `kernels`: its first attempt's set stays; a later
/// attempt on another set is added to `resumed_on_kernels`.
pub async fn claim_next(
    pool: &Pool,
    owner: &str,
    lease_ms: i64,
    kernels: &str,
) -> anyhow::Result<Option<Claimed>> {
    let row = sqlx::query(concat!(
        "UPDATE runs SET state = 'running', attempt = attempt + 1, lease_owner = $1,
                lease_token = lease_token + 1, lease_expires_at = ", now_ms!(), " + $2,
                started_at = COALESCE(started_at, $3),
                resumed_on_kernels = CASE
                  WHEN kernels IS NULL OR kernels = $4 THEN resumed_on_kernels
                  WHEN resumed_on_kernels IS NULL THEN $4
                  WHEN ", position_in!(), "(',' || resumed_on_kernels || ',', ',' || $4 || ',') > 0
                    THEN resumed_on_kernels
                  ELSE resumed_on_kernels || ',' || $4 END,
                kernels = COALESCE(kernels, $4)
         WHERE id = (SELECT r.id FROM runs r JOIN jobs j ON j.id = r.job_id
                     WHERE r.state = 'queued' AND r.run_at <= ", now_ms!(), " AND j.status IN ('queued', 'running')
                       -- A run waiting at a search's rung waits for the search's decision.
                       AND (r.rung IS NULL OR r.rung <> 'waiting')
                       -- A comparison's final run trains the winner: it waits for the folds.
                       AND (r.strategy IS NOT NULL OR NOT EXISTS (
                             SELECT 1 FROM runs f WHERE f.job_id = r.job_id AND f.kind = 'fold'
                               AND f.state IN ('queued', 'running')))
                     ORDER BY r.seq LIMIT 1", skip_locked!(), ")
           AND state = 'queued'
         RETURNING id, job_id, kind, fold, repeat, seed, attempt, max_attempts, lease_token,
                   (SELECT c.checkpoint FROM run_checkpoints c WHERE c.run_id = runs.id) AS checkpoint,
                   checkpoint_key, strategy, variant, pause_at, rung,
                   (SELECT j.status FROM jobs j WHERE j.id = runs.job_id) AS job_status",
    ))
    .bind(owner)
    .bind(lease_ms)
    .bind(ids::now_rfc3339())
    .bind(kernels)
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
        checkpoint: Blob::from_columns(row.get("checkpoint"), row.get("checkpoint_key")),
        strategy: strategy_of(&row)?,
        variant: row.get::<i64, _>("variant") as u32,
        leg: leg_of(&row),
    };
    // Only a job's first claim starts it: the others skip the round trip.
    if row.get::<String, _>("job_status") != "queued" {
        return Ok(Some(claimed));
    }
    let started = sqlx::query("UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, $1) WHERE id = $2 AND status = 'queued'")
        .bind(ids::now_rfc3339())
        .bind(&claimed.job_id)
        .execute(pool)
        .await?
        .rows_affected();
    if started > 0 {
        super::notify(pool, super::EVENTS_CHANNEL, &claimed.job_id).await?;
    }
    Ok(Some(claimed))
}

/// Where the claimed leg ends: halted by its search, at its rung, or at the end.
fn leg_of(row: &super::Row) -> Leg {
    let halted = row.get::<Option<String>, _>("rung").as_deref() == Some("halted");
    match row.get::<Option<i64>, _>("pause_at") {
        _ if halted => Leg::Halt,
        Some(epoch) => Leg::PauseAt(epoch as u64),
        None => Leg::ToTheEnd,
    }
}

pub(super) fn kind_of(row: &super::Row) -> anyhow::Result<RunKind> {
    let kind: String = row.get("kind");
    RunKind::parse(&kind).with_context(|| format!("a stored run kind {kind:?}"))
}

pub(super) fn strategy_of(row: &super::Row) -> anyhow::Result<Option<Strategy>> {
    row.get::<Option<String>, _>("strategy")
        .map(|s| Strategy::parse(&s).with_context(|| format!("a stored strategy {s:?}")))
        .transpose()
}

/// Whether lease `token` of the run is still held (checked before writing objects, so a worker
/// long stopped writes none; the write's own condition is what fences).
pub async fn holds_lease(pool: &Pool, run_id: &str, token: i64) -> anyhow::Result<bool> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT lease_token FROM runs WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(run_id)
    .bind(token)
    .fetch_optional(pool)
    .await?;
    Ok(held.is_some())
}

/// Extends the lease, if still held.
pub async fn heartbeat(
    pool: &Pool,
    run_id: &str,
    token: i64,
    lease_ms: i64,
) -> anyhow::Result<Beat> {
    // The job's cancel request comes back with the extension: one round trip.
    let extended: Option<Option<String>> = sqlx::query_scalar(concat!(
        "UPDATE runs SET lease_expires_at = ",
        now_ms!(),
        " + $1
         WHERE id = $2 AND lease_token = $3 AND state = 'running'
         RETURNING (SELECT j.cancel_requested_at FROM jobs j WHERE j.id = runs.job_id)",
    ))
    .bind(lease_ms)
    .bind(run_id)
    .bind(token)
    .fetch_optional(pool)
    .await?;
    Ok(match extended {
        None => Beat::Lost,
        Some(Some(_)) => Beat::CancelRequested,
        Some(None) => Beat::Held,
    })
}

/// Records epochs (keyed by number: a replayed epoch overwrites) and, if given, the checkpoint to
/// resume from, in one transaction; nothing is written if the lease is gone. Also reports a
/// pending cancel.
pub async fn append_epochs(
    pool: &Pool,
    run_id: &str,
    token: i64,
    records: &[EpochRecord],
    checkpoint: Option<&Stored<'_>>,
    members: &[(usize, Stored<'_>)],
) -> anyhow::Result<Appended> {
    super::noted(pool, async move {
        let mut tx = super::fenced_tx(pool).await?;
        let last = super::epoch_rows::last_train_epoch(records);
        // The job's cancel request comes back with the update: one round trip less per write.
        let held: Option<(Option<String>, Option<String>)> = sqlx::query_as(concat!(
            "UPDATE runs SET epochs_done = COALESCE($1, epochs_done),
                    checkpoint_key = CASE WHEN $4 THEN $5 ELSE checkpoint_key END
             WHERE id = $2 AND lease_token = $3 AND state = 'running'
             RETURNING (SELECT j.cancel_requested_at FROM jobs j WHERE j.id = runs.job_id), ",
            notify_job!(events_channel!())
        ))
        .bind(last)
        .bind(run_id)
        .bind(token)
        .bind(checkpoint.is_some())
        .bind(checkpoint.and_then(Stored::key))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((cancel, _notified)) = held else {
            tx.rollback().await?;
            return Ok(Appended::Lost);
        };
        if let Some(checkpoint) = checkpoint {
            put_checkpoint(&mut tx, run_id, checkpoint).await?;
        }
        // An ensemble's finished members, each written once (not with every checkpoint).
        for (member, weights) in members {
            sqlx::query(
                "INSERT INTO run_members (run_id, member, weights, weights_key) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (run_id, member)
                 DO UPDATE SET weights = excluded.weights, weights_key = excluded.weights_key",
            )
            .bind(run_id)
            .bind(*member as i64)
            // The column is NOT NULL: an object's row holds no bytes.
            .bind(weights.bytes().unwrap_or_default())
            .bind(weights.key())
            .execute(&mut *tx)
            .await?;
        }
        super::epoch_rows::insert_epochs(&mut tx, run_id, records).await?;
        tx.commit().await?;
        Ok(Appended::Written {
            cancel: cancel.is_some(),
        })
    })
    .await
}

/// Whether the job of `run_id` has been asked to cancel (a read, no write).
pub async fn cancel_requested<'e>(
    db: impl sqlx::Executor<'e, Database = super::Db>,
    run_id: &str,
) -> anyhow::Result<bool> {
    let cancel: Option<String> = sqlx::query_scalar(
        "SELECT j.cancel_requested_at FROM jobs j JOIN runs r ON r.job_id = j.id WHERE r.id = $1",
    )
    .bind(run_id)
    .fetch_one(db)
    .await?;
    Ok(cancel.is_some())
}

/// Marks a run succeeded with its results, final checkpoint and tail (last epochs and
/// findings), in one transaction; `false` if the lease is gone.
pub async fn complete(
    pool: &Pool,
    run_id: &str,
    token: i64,
    result: &RunResult,
    (heldout, checkpoint): (Option<&Stored<'_>>, &Stored<'_>),
    tail: &RunTail,
) -> anyhow::Result<bool> {
    super::noted(pool, async move {
        let row = (run_id, token, result, heldout, checkpoint, tail);
        let mut tx = super::fenced_tx(pool).await?;
        if !mark_succeeded(&mut *tx, row).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        put_checkpoint(&mut tx, run_id, checkpoint).await?;
        super::epoch_rows::insert_epochs(&mut tx, run_id, &tail.epochs).await?;
        tx.commit().await?;
        Ok(true)
    })
    .await
}

/// The run's row marked succeeded under its lease, with its tail's findings and last epoch.
async fn mark_succeeded<'e>(
    db: impl sqlx::Executor<'e, Database = super::Db>,
    (run_id, token, result, heldout, checkpoint, tail): (
        &str,
        i64,
        &RunResult,
        Option<&Stored<'_>>,
        &Stored<'_>,
        &RunTail,
    ),
) -> anyhow::Result<bool> {
    let findings = tail
        .diagnosis
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let done = sqlx::query(concat!(
        "UPDATE runs SET state = 'succeeded', result_json = $1, heldout = $2,
                finished_at = $3, lease_owner = NULL, lease_expires_at = NULL,
                heldout_key = $6, checkpoint_key = $7, findings_json = COALESCE($8, findings_json),
                epochs_done = COALESCE($9, epochs_done), holdout_losses = $10
         WHERE id = $4 AND lease_token = $5 AND state = 'running'
         RETURNING ",
        notify_job!(queue_channel!())
    ))
    .bind(serde_json::to_string(result)?)
    .bind(heldout.and_then(Stored::bytes))
    .bind(ids::now_rfc3339())
    .bind(run_id)
    .bind(token)
    .bind(heldout.and_then(Stored::key))
    .bind(checkpoint.key())
    .bind(findings)
    .bind(super::epoch_rows::last_train_epoch(&tail.epochs))
    // A halving search's runs only (others have none to rank by).
    .bind(
        (!tail.losses.is_empty())
            .then(|| serde_json::to_string(&tail.losses))
            .transpose()?,
    )
    .fetch_optional(db)
    .await?;
    Ok(done.is_some())
}

/// Writes the run's checkpoint: its bytes, or none when it is an object (its key is in the
/// run's row).
async fn put_checkpoint(
    tx: &mut super::WriteTx,
    run_id: &str,
    checkpoint: &Stored<'_>,
) -> Result<(), sqlx::Error> {
    let query = match checkpoint.bytes() {
        Some(bytes) => sqlx::query(
            "INSERT INTO run_checkpoints (run_id, checkpoint) VALUES ($1, $2)
             ON CONFLICT (run_id) DO UPDATE SET checkpoint = excluded.checkpoint",
        )
        .bind(run_id)
        .bind(bytes),
        None => sqlx::query("DELETE FROM run_checkpoints WHERE run_id = $1").bind(run_id),
    };
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Records a failure: permanent failures (bad input) and runs out of attempts end `failed`;
/// others go back to the queue after `backoff_ms`.
pub async fn fail(
    pool: &Pool,
    run_id: &str,
    token: i64,
    error: &str,
    permanent: bool,
    backoff_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(concat!(
        "UPDATE runs SET
            state = CASE WHEN $1 OR attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
            finished_at = CASE WHEN $1 OR attempt >= max_attempts THEN $2 ELSE NULL END,
            run_at = ",
        now_ms!(),
        " + $3, last_error = $4, lease_owner = NULL, lease_expires_at = NULL
         WHERE id = $5 AND lease_token = $6 AND state = 'running'
         RETURNING ",
        notify_job!(queue_channel!())
    ))
    .bind(permanent)
    .bind(ids::now_rfc3339())
    .bind(backoff_ms)
    .bind(error)
    .bind(run_id)
    .bind(token)
    .fetch_optional(pool)
    .await?;
    Ok(())
}

/// Marks a run cancelled (it stopped on request).
pub async fn cancelled(pool: &Pool, run_id: &str, token: i64) -> anyhow::Result<()> {
    sqlx::query(concat!(
        "UPDATE runs SET state = 'cancelled', finished_at = $1, lease_owner = NULL, lease_expires_at = NULL
         WHERE id = $2 AND lease_token = $3 AND state = 'running'
         RETURNING ",
        notify_job!(queue_channel!())
    ))
    .bind(ids::now_rfc3339())
    .bind(run_id)
    .bind(token)
    .fetch_optional(pool)
    .await?;
    Ok(())
}

/// Hands a run back to the queue at shutdown, without counting the attempt.
pub async fn release(
    pool: &Pool,
    run_id: &str,
    token: i64,
    after_ms: i64,
    reason: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(concat!(
        "UPDATE runs SET state = 'queued', attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END,
                run_at = ", now_ms!(), " + $3, lease_owner = NULL, lease_expires_at = NULL,
                last_error = COALESCE($4, last_error)
         WHERE id = $1 AND lease_token = $2 AND state = 'running'
         RETURNING ", notify_job!(queue_channel!()),
    ))
    .bind(run_id)
    .bind(token)
    .bind(after_ms)
    .bind(reason)
    .fetch_optional(pool)
    .await?;
    Ok(())
}
