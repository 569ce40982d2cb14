use anyhow::Context;
use sqlx::Row;

use super::Pool;
use crate::domain::results::RunState;
use crate::store::rungs::{RunRung, Rung};
use crate::store::runs::RunTail;

pub async fn park(pool: &Pool, run_id: &str, token: i64, tail: &RunTail) -> anyhow::Result<bool> {
    super::noted(pool, async move {
        let mut tx = super::fenced_tx(pool).await?;
        let findings = tail
            .diagnosis
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let parked = sqlx::query(concat!(
            "UPDATE runs SET state = 'queued', rung = 'waiting',
                    attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END,
                    lease_owner = NULL, lease_expires_at = NULL, holdout_losses = $1,
                    findings_json = COALESCE($2, findings_json),
                    epochs_done = COALESCE($3, epochs_done)
             WHERE id = $4 AND lease_token = $5 AND state = 'running'
             RETURNING ",
            notify_job!(events_channel!())
        ))
        .bind(serde_json::to_string(&tail.losses)?)
        .bind(findings)
        .bind(super::epoch_rows::last_train_epoch(&tail.epochs))
        .bind(run_id)
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
        if parked.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        super::epoch_rows::insert_epochs(&mut tx, run_id, &tail.epochs).await?;
        tx.commit().await?;
        Ok(true)
    })
    .await
}

pub async fn job_rungs(pool: &Pool, job_id: &str) -> anyhow::Result<Vec<RunRung>> {
    let rows = sqlx::query(
        "SELECT id, strategy, variant, state, rung, pause_at, holdout_losses FROM runs
         WHERE job_id = $1 AND kind = 'fold' ORDER BY seq",
    )
    .bind(job_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let losses: Option<String> = row.get("holdout_losses");
            let state: String = row.get("state");
            let rung: Option<String> = row.get("rung");
            Ok(RunRung {
                id: row.get("id"),
                strategy: super::runs::strategy_of(row)?,
                variant: row.get::<i64, _>("variant") as u32,
                state: RunState::parse(&state)
                    .with_context(|| format!("a stored run state {state:?}"))?,
                rung: rung.as_deref().and_then(Rung::parse),
                pause_at: row.get::<Option<i64>, _>("pause_at").map(|e| e as u64),
                losses: losses
                    .map(|l| serde_json::from_str(&l))
                    .transpose()?
                    .unwrap_or_default(),
            })
        })
        .collect()
}

pub async fn promote(pool: &Pool, job_id: &str, run_ids: &[String], to: u64) -> anyhow::Result<()> {
    move_on(pool, job_id, run_ids, Some(to)).await
}

pub async fn halt(pool: &Pool, job_id: &str, run_ids: &[String]) -> anyhow::Result<()> {
    move_on(pool, job_id, run_ids, None).await
}

/// Makes waiting runs claimable again: to pause next at `pause_at`, or (`None`) halted. A run
/// no longer waiting (cancelled, or moved on by another worker's same decision) is left alone.
async fn move_on(
    pool: &Pool,
    job_id: &str,
    run_ids: &[String],
    pause_at: Option<u64>,
) -> anyhow::Result<()> {
    let mut tx = super::write_tx(pool).await?;
    for id in run_ids {
        sqlx::query(concat!(
            "UPDATE runs SET rung = CASE WHEN $1 IS NULL THEN 'halted' END,
                    pause_at = COALESCE($1, pause_at), run_at = ",
            now_ms!(),
            " WHERE id = $2 AND job_id = $3 AND state = 'queued' AND rung = 'waiting'"
        ))
        .bind(pause_at.map(|e| e as i64))
        .bind(id)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
    }
    super::notify(&mut *tx, super::QUEUE_CHANNEL, job_id).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn waiting_jobs(pool: &Pool) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT job_id FROM runs WHERE rung = 'waiting' AND state = 'queued' ORDER BY job_id",
    )
    .fetch_all(pool)
    .await?)
}
