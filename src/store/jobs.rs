//! `jobs`: creation (with its runs, in one transaction), reads, cancellation and completion.

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Row, SqlitePool};

use super::idempotency;
use super::run_data::RunRow;
use crate::domain::ids;
use crate::domain::job::{JobSpec, JobStatus, Strategy};
use crate::domain::results::{RunKind, RunState, Summary};

/// The idempotency scope of `POST /v1/jobs`.
pub const IDEMPOTENCY_SCOPE: &str = "jobs";

/// A run to create with its job.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: String,
    pub kind: RunKind,
    pub fold: Option<u32>,
    pub repeat: Option<u32>,
    pub seed: u64,
    pub max_attempts: u32,
    /// The imbalance strategy; `None` for a comparison's final run (the winner, decided later).
    pub strategy: Option<Strategy>,
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub dataset_id: String,
    /// Resolved: every default filled in.
    pub spec: JobSpec,
    /// Per repeat, the fold each row is held out in.
    pub folds: Vec<Vec<u32>>,
    pub runs: Vec<NewRun>,
    pub created_at: String,
}

/// Progress of a job.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    pub runs_done: u64,
    pub runs_total: u64,
    /// Epochs done by the runs in flight (the most advanced one), and the spec's epochs.
    pub epoch: u64,
    pub epochs: u64,
    pub fraction: f64,
    pub eta_seconds: Option<f64>,
}

/// The job resource.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobView {
    pub id: String,
    pub status: JobStatus,
    pub spec: JobSpec,
    pub dataset_id: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Most attempts any run of the job has taken.
    pub attempts: u64,
    pub error: Option<String>,
    pub progress: Progress,
    pub summary: Option<Summary>,
    pub diagnostics: Vec<Value>,
}

/// What creating a job did.
#[derive(Debug)]
pub enum Created {
    Created,
    KeyUsed(idempotency::UsedKey),
    /// The dataset was deleted after the job was validated: nothing was stored.
    DatasetGone,
}

/// Stores a job and its runs (all queued) in one transaction, with its idempotency key.
pub async fn insert_job(
    pool: &SqlitePool,
    job: &NewJob,
    keyed: Option<(&str, &str)>,
) -> anyhow::Result<Created> {
    super::health::noted(pool, async move {
        let mut tx = super::write_tx(pool).await?;
        if let Some((key, hash)) = keyed {
            match idempotency::record_key(
                &mut tx,
                IDEMPOTENCY_SCOPE,
                key,
                hash,
                &job.id,
                &job.created_at,
            )
            .await
            {
                Ok(()) => {}
                Err(e) if super::is_unique_violation(&e) => {
                    tx.rollback().await.ok();
                    let used = idempotency::find_key(pool, IDEMPOTENCY_SCOPE, key)
                        .await?
                        .context("an idempotency key vanished after a conflict")?;
                    return Ok(Created::KeyUsed(used));
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Checked inside the transaction: a concurrent delete either sees this job or is seen.
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM datasets WHERE id = ?")
            .bind(&job.dataset_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            tx.rollback().await?;
            return Ok(Created::DatasetGone);
        }
        sqlx::query(
            "INSERT INTO jobs (id, dataset_id, status, spec_json, folds_json, created_at)
             VALUES (?, ?, 'queued', ?, ?, ?)",
        )
        .bind(&job.id)
        .bind(&job.dataset_id)
        .bind(serde_json::to_string(&job.spec)?)
        .bind(serde_json::to_string(&job.folds)?)
        .bind(&job.created_at)
        .execute(&mut *tx)
        .await?;
        let now = ids::now_millis();
        for run in &job.runs {
            sqlx::query(
                "INSERT INTO runs (id, job_id, kind, fold, repeat, seed, state, max_attempts, run_at,
                                   strategy)
                 VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
            )
            .bind(&run.id)
            .bind(&job.id)
            .bind(run.kind.as_str())
            .bind(run.fold.map(i64::from))
            .bind(run.repeat.map(i64::from))
            .bind(run.seed as i64)
            .bind(i64::from(run.max_attempts))
            .bind(now)
            .bind(run.strategy.map(Strategy::as_str))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Created::Created)
    })
    .await
}

/// The columns of a job's view: the job's own and its runs' counts, in one query (so a page of
/// jobs is one query, not one per job).
macro_rules! view_select {
    () => {
        "SELECT j.seq, j.id, j.status, j.spec_json, j.dataset_id, j.created_at, j.started_at,
           j.finished_at, j.error, j.summary_json,
           (SELECT COUNT(*) FROM runs r WHERE r.job_id = j.id) AS total,
           (SELECT SUM(r.state IN ('succeeded', 'failed', 'cancelled')) FROM runs r
             WHERE r.job_id = j.id) AS done,
           (SELECT MAX(r.attempt) FROM runs r WHERE r.job_id = j.id) AS attempts,
           (SELECT json_group_array(json_array(r.epochs_done, r.strategy)) FROM runs r
             WHERE r.job_id = j.id AND r.state = 'running') AS running
         FROM jobs j"
    };
}

/// One job as the API shows it.
pub async fn get_job(pool: &SqlitePool, id: &str) -> anyhow::Result<Option<JobView>> {
    let row = sqlx::query(concat!(view_select!(), " WHERE j.id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(view).transpose()
}

fn view(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<JobView> {
    let id: String = row.get("id");
    let spec: JobSpec = serde_json::from_str(&row.get::<String, _>("spec_json"))
        .with_context(|| format!("the stored spec of job {id}"))?;
    let status: String = row.get("status");
    let total = row.get::<i64, _>("total") as u64;
    let done = row.get::<Option<i64>, _>("done").unwrap_or(0) as u64;
    let running: Vec<(i64, Option<String>)> =
        serde_json::from_str(&row.get::<String, _>("running")).context("running runs")?;
    // The most advanced run in flight; an ensemble's run has `n_subsets` times the epochs.
    let per_model = spec.training.epochs;
    let imbalance = &spec.imbalance;
    let (epoch, epochs) = running
        .iter()
        .map(|(done, strategy)| {
            let members = match strategy.as_deref().and_then(Strategy::parse) {
                Some(s) => imbalance.members(s),
                None => imbalance.max_members(),
            };
            (*done as u64, per_model * members)
        })
        .max_by(|a, b| (a.0 * b.1.max(1)).cmp(&(b.0 * a.1.max(1))))
        .unwrap_or((0, per_model));
    let fraction = if total == 0 {
        0.0
    } else {
        (done as f64
            + if epochs > 0 {
                epoch as f64 / epochs as f64
            } else {
                0.0
            })
            / total as f64
    };
    let fraction = fraction.min(1.0);
    let started_at: Option<String> = row.get("started_at");
    let eta_seconds = started_at.as_deref().and_then(|s| {
        let started =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        let elapsed = (time::OffsetDateTime::now_utc() - started).as_seconds_f64();
        (fraction > 0.0 && fraction < 1.0).then(|| elapsed * (1.0 - fraction) / fraction)
    });
    Ok(JobView {
        status: JobStatus::parse(&status).context("a stored job status")?,
        spec,
        dataset_id: row.get("dataset_id"),
        created_at: row.get("created_at"),
        started_at,
        finished_at: row.get("finished_at"),
        attempts: row.get::<Option<i64>, _>("attempts").unwrap_or(0) as u64,
        error: row.get("error"),
        progress: Progress {
            runs_done: done,
            runs_total: total,
            epoch,
            epochs,
            fraction,
            eta_seconds,
        },
        summary: row
            .get::<Option<String>, _>("summary_json")
            .map(|s| serde_json::from_str(&s))
            .transpose()?,
        diagnostics: vec![],
        id,
    })
}

/// A page of jobs, newest first, optionally of one status: one query.
pub async fn list_jobs(
    pool: &SqlitePool,
    status: Option<JobStatus>,
    limit: u32,
    before_seq: Option<i64>,
) -> anyhow::Result<(Vec<JobView>, Option<i64>)> {
    let rows = sqlx::query(concat!(
        view_select!(),
        " WHERE j.seq < ? AND (? IS NULL OR j.status = ?) ORDER BY j.seq DESC LIMIT ?"
    ))
    .bind(before_seq.unwrap_or(i64::MAX))
    .bind(status.map(JobStatus::as_str))
    .bind(status.map(JobStatus::as_str))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() > limit as usize;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(view)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let next = if more {
        rows.get(limit as usize - 1).map(|r| r.get::<i64, _>("seq"))
    } else {
        None
    };
    Ok((items, next))
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// Nothing was running: cancelled at once.
    Cancelled,
    /// A run is training: it stops within an epoch.
    Cancelling,
    AlreadyFinished(JobStatus),
    NotFound,
}

/// Cancels a job: queued runs at once; running runs are asked to stop.
pub async fn cancel_job(pool: &SqlitePool, id: &str) -> anyhow::Result<Cancel> {
    let mut tx = super::write_tx(pool).await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(status) = status.as_deref().and_then(JobStatus::parse) else {
        return Ok(Cancel::NotFound);
    };
    if status.is_finished() {
        return Ok(Cancel::AlreadyFinished(status));
    }
    let now = ids::now_rfc3339();
    sqlx::query("UPDATE runs SET state = 'cancelled', finished_at = ? WHERE job_id = ? AND state = 'queued'")
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let running: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE job_id = ? AND state = 'running'")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let outcome = if running == 0 {
        sqlx::query("UPDATE jobs SET status = 'cancelled', cancel_requested_at = ?, finished_at = ? WHERE id = ?")
            .bind(&now)
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Cancel::Cancelled
    } else {
        sqlx::query("UPDATE jobs SET status = 'cancelling', cancel_requested_at = COALESCE(cancel_requested_at, ?) WHERE id = ?")
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Cancel::Cancelling
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Settles a job whose runs have all ended: failed if any failed, cancelled if cancel was
/// asked, else succeeded with the summary `summarize` computes from the job's spec and runs.
pub async fn settle_job_if_done(
    pool: &SqlitePool,
    job_id: &str,
    summarize: impl FnOnce(&JobSpec, &[RunRow]) -> Option<Summary>,
) -> anyhow::Result<Option<JobStatus>> {
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM runs WHERE job_id = ? AND state IN ('queued', 'running')",
    )
    .bind(job_id)
    .fetch_one(pool)
    .await?;
    if open > 0 {
        return Ok(None);
    }
    let runs = super::run_data::runs_of_job(pool, job_id, super::run_data::Detail::Summary).await?;
    let (cancel_requested, spec_json): (Option<String>, String) =
        sqlx::query_as("SELECT cancel_requested_at, spec_json FROM jobs WHERE id = ?")
            .bind(job_id)
            .fetch_one(pool)
            .await?;
    let (status, error, summary) = if let Some(f) =
        runs.iter().find(|r| r.state == RunState::Failed)
    {
        (JobStatus::Failed, f.error.clone(), None)
    } else if cancel_requested.is_some() || runs.iter().any(|r| r.state == RunState::Cancelled) {
        (JobStatus::Cancelled, None, None)
    } else {
        let spec: JobSpec = serde_json::from_str(&spec_json)?;
        (JobStatus::Succeeded, None, summarize(&spec, &runs))
    };
    let summary = summary.map(|s| serde_json::to_string(&s)).transpose()?;
    let done = sqlx::query(
        "UPDATE jobs SET status = ?, error = ?, summary_json = ?, finished_at = ?
         WHERE id = ? AND status IN ('queued', 'running', 'cancelling')",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(summary)
    .bind(ids::now_rfc3339())
    .bind(job_id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok((done > 0).then_some(status))
}

/// Jobs per status, and runs queued and running, for `/metrics`.
pub async fn queue_stats(pool: &SqlitePool) -> anyhow::Result<(Vec<(String, i64)>, i64, i64)> {
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
            .fetch_all(pool)
            .await?;
    let (queued, running): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(state = 'queued'), 0), COALESCE(SUM(state = 'running'), 0) FROM runs",
    )
    .fetch_one(pool)
    .await?;
    Ok((by_status, queued, running))
}

#[cfg(test)]
mod tests;
