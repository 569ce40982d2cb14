use super::Pool;
use super::idempotency;
use crate::domain::finding::Finding;
use crate::domain::ids;
use crate::domain::job::{JobSpec, JobStatus, Strategy};
use crate::domain::results::{JobResults, Settled, Summary};
use crate::store::jobs::{Cancel, Created, IDEMPOTENCY_SCOPE, NewJob};
use crate::store::run_data::RunRow;
use anyhow::Context;

/// Stores a job and its runs (all queued) in one transaction, with its idempotency key.
pub async fn insert_job(
    pool: &Pool,
    job: &NewJob,
    keyed: Option<(&str, &str)>,
) -> anyhow::Result<Created> {
    super::noted(pool, async move {
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
                Err(e) if crate::store::is_unique_violation(&e) => {
                    tx.rollback().await.ok();
                    let used = idempotency::find_key(pool, IDEMPOTENCY_SCOPE, key)
                        .await?
                        .context("an idempotency key vanished after a conflict")?;
                    return Ok(Created::KeyUsed(used));
                }
                Err(e) => return Err(e.into()),
            }
        }
        // A nested job's outer jobs are stored with it, or none of them is.
        for one in std::iter::once(job).chain(&job.outer_jobs) {
            if let Some(gone) = insert_rows(&mut tx, one).await? {
                tx.rollback().await?;
                return Ok(Created::DatasetGone(gone));
            }
        }
        super::notify(&mut *tx, super::QUEUE_CHANNEL, &job.id).await?;
        tx.commit().await?;
        Ok(Created::Created)
    })
    .await
}

/// One job's rows and its runs' (`Some(field)`: the dataset that field names is gone).
async fn insert_rows(
    tx: &mut super::WriteTx,
    job: &NewJob,
) -> anyhow::Result<Option<&'static str>> {
    // Checked inside the transaction: a concurrent delete either sees this job or is seen.
    for (_, field, dataset) in job_datasets(job) {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM datasets WHERE id = $1")
                .bind(dataset)
                .fetch_optional(&mut **tx)
                .await?;
        if exists.is_none() {
            return Ok(Some(field));
        }
    }
    // Kept parsed, so reading the job back parses nothing.
    let spec_json = serde_json::to_string(&job.spec)?;
    crate::store::typed::remember(&job.id, &spec_json, &job.spec);
    sqlx::query(
        "INSERT INTO jobs (id, dataset_id, status, spec_json, folds_json, created_at, remedy_of,
                               remedy_findings_json, classes_json, name, description, tags_json,
                               families, outer_of)
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&job.id)
    .bind(&job.dataset_id)
    .bind(&spec_json)
    .bind(serde_json::to_string(&job.folds)?)
    .bind(&job.created_at)
    .bind(job.remedy_of.as_ref().map(|r| r.0.as_str()))
    .bind(
        job.remedy_of
            .as_ref()
            .map(|r| serde_json::to_string(&r.1))
            .transpose()?,
    )
    .bind(serde_json::to_string(&job.classes)?)
    .bind(&job.meta.name)
    .bind(&job.meta.description)
    .bind(serde_json::to_string(&job.meta.tags)?)
    .bind(super::job_meta::families(&job.spec))
    .bind(&job.outer_of)
    .execute(&mut **tx)
    .await?;
    super::job_meta::insert_tags(tx, &job.id, &job.meta.tags).await?;
    for (role, _, dataset) in job_datasets(job) {
        sqlx::query("INSERT INTO job_datasets (job_id, role, dataset_id) VALUES ($1, $2, $3)")
            .bind(&job.id)
            .bind(role)
            .bind(dataset)
            .execute(&mut **tx)
            .await?;
    }
    for run in &job.runs {
        sqlx::query(concat!(
            "INSERT INTO runs (id, job_id, kind, fold, repeat, seed, state, max_attempts, run_at,
                                   strategy, variant, pause_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, ",
            now_ms!(),
            ", $8, $9, $10)",
        ))
        .bind(&run.id)
        .bind(&job.id)
        .bind(run.kind.as_str())
        .bind(run.fold.map(i64::from))
        .bind(run.repeat.map(i64::from))
        .bind(run.seed as i64)
        .bind(i64::from(run.max_attempts))
        .bind(run.strategy.map(Strategy::as_str))
        .bind(i64::from(run.variant))
        .bind(run.pause_at.map(|e| e as i64))
        .execute(&mut **tx)
        .await?;
    }
    Ok(None)
}

/// The datasets `job` reads: (role, the spec field naming it, id); its own first.
fn job_datasets(job: &NewJob) -> Vec<(&'static str, &'static str, &str)> {
    let spec = &job.spec;
    let mut out = vec![("train", "dataset_id", job.dataset_id.as_str())];
    if let Some(id) = spec.pretrain.as_ref().and_then(|p| p.dataset_id.as_deref()) {
        out.push(("pretrain", "pretrain.dataset_id", id));
    }
    if let Some(id) = spec.validation.test_dataset_id.as_deref() {
        out.push(("test", "validation.test_dataset_id", id));
    }
    out
}

/// A job's class names in training order (`None`: no such job, or one stored before they were).
pub async fn class_names(pool: &Pool, job_id: &str) -> anyhow::Result<Option<Vec<String>>> {
    let json: Option<Option<String>> =
        sqlx::query_scalar("SELECT classes_json FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(pool)
            .await?;
    json.flatten()
        .map(|j| serde_json::from_str(&j).context("a job's stored class names"))
        .transpose()
}

/// Cancels a job: queued runs at once; running runs are asked to stop.
pub async fn cancel_job(pool: &Pool, id: &str) -> anyhow::Result<Cancel> {
    let mut tx = super::write_tx(pool).await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
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
    sqlx::query("UPDATE runs SET state = 'cancelled', finished_at = $1 WHERE job_id = $2 AND state = 'queued'")
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let running: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE job_id = $1 AND state = 'running'")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let outcome = if running == 0 {
        sqlx::query("UPDATE jobs SET status = 'cancelled', cancel_requested_at = $1, finished_at = $2 WHERE id = $3")
            .bind(&now)
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Cancel::Cancelled
    } else {
        sqlx::query("UPDATE jobs SET status = 'cancelling', cancel_requested_at = COALESCE(cancel_requested_at, $1) WHERE id = $2")
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Cancel::Cancelling
    };
    super::notify(&mut *tx, super::QUEUE_CHANNEL, id).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Runs of the job still queued or running.
pub async fn open_runs(pool: &Pool, job_id: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM runs WHERE job_id = $1 AND state IN ('queued', 'running')",
    )
    .bind(job_id)
    .fetch_one(pool)
    .await?)
}

/// Jobs not yet settled whose runs have all ended: a settle that failed (a store unreachable
/// at the time) is retried from these.
pub async fn unsettled(pool: &Pool) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT j.id FROM jobs j WHERE j.status IN ('queued', 'running', 'cancelling')
           AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.job_id = j.id
                             AND r.state IN ('queued', 'running'))
         ORDER BY j.seq",
    )
    .fetch_all(pool)
    .await?)
}

/// What settling a job reads besides its runs: its spec and whether a cancel was asked for
/// (`None`: no such job).
pub async fn settle_inputs(pool: &Pool, job_id: &str) -> anyhow::Result<Option<(JobSpec, bool)>> {
    let row: Option<(Option<String>, String)> =
        sqlx::query_as("SELECT cancel_requested_at, spec_json FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(pool)
            .await?;
    row.map(|(cancel, spec)| Ok((crate::store::typed::spec(job_id, &spec)?, cancel.is_some())))
        .transpose()
}

/// Records how a job ended, if it has not already: `Some(status)` when this call settled it.
pub async fn settle(
    pool: &Pool,
    job_id: &str,
    settled: &Settled,
) -> anyhow::Result<Option<JobStatus>> {
    let (status, error, summary, results) = match settled {
        Settled::Succeeded { summary, results } => (
            JobStatus::Succeeded,
            None,
            summary.as_ref(),
            Some(serde_json::to_string(results)?),
        ),
        Settled::Failed(error) => (JobStatus::Failed, error.clone(), None, None),
        Settled::Cancelled => (JobStatus::Cancelled, None, None, None),
    };
    let mut tx = super::write_tx(pool).await?;
    let done = sqlx::query(
        "UPDATE jobs SET status = $1, error = $2, summary_json = $3, results_json = $4, finished_at = $5
         WHERE id = $6 AND status IN ('queued', 'running', 'cancelling')",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(summary.map(serde_json::to_string).transpose()?)
    .bind(results)
    .bind(ids::now_rfc3339())
    .bind(job_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done > 0 {
        if let Some(summary) = summary {
            super::job_meta::insert_scores(&mut tx, job_id, summary).await?;
        }
        super::notify(&mut *tx, super::EVENTS_CHANNEL, job_id).await?;
    }
    tx.commit().await?;
    Ok((done > 0).then_some(status))
}

/// A job's status, summary and stored results, without its spec (`None`: no such job).
pub async fn results(
    pool: &Pool,
    job_id: &str,
) -> anyhow::Result<Option<(JobStatus, Option<Summary>, Option<JobResults>)>> {
    let row: Option<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT status, summary_json, results_json FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(pool)
            .await?;
    let Some((status, summary, results)) = row else {
        return Ok(None);
    };
    let status = JobStatus::parse(&status).context("a stored job status")?;
    let summary = summary.map(|s| serde_json::from_str(&s)).transpose()?;
    let results: Option<JobResults> = results.map(|s| serde_json::from_str(&s)).transpose()?;
    Ok(Some((status, summary, results.map(JobResults::described))))
}

/// Recomputes a job's findings from its runs with `diagnose` and stores them, in one write
/// transaction that holds the job's row (so two workers refreshing at once cannot store an
/// older view last, while refreshes of other jobs go on).
pub async fn refresh_diagnostics(
    pool: &Pool,
    job_id: &str,
    diagnose: impl FnOnce(&JobSpec, &[RunRow]) -> Vec<Finding>,
) -> anyhow::Result<()> {
    // Not `health::noted`, as `runs::set_diagnosis`.
    {
        let mut tx = super::fenced_tx(pool).await?;
        let spec_json: Option<String> = sqlx::query_scalar(concat!(
            "SELECT spec_json FROM jobs WHERE id = $1",
            for_update!()
        ))
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(spec_json) = spec_json else {
            tx.rollback().await?;
            return Ok(());
        };
        let spec = crate::store::typed::spec(job_id, &spec_json)?;
        let runs = super::run_data::runs_in(&mut tx, job_id).await?;
        let findings = serde_json::to_string(&diagnose(&spec, &runs))?;
        sqlx::query("UPDATE jobs SET diagnostics_json = $1 WHERE id = $2")
            .bind(findings)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        super::notify(&mut *tx, super::EVENTS_CHANNEL, job_id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Jobs per status, and runs queued and running, for `/metrics`.
pub async fn queue_stats(pool: &Pool) -> anyhow::Result<(Vec<(String, i64)>, i64, i64)> {
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
            .fetch_all(pool)
            .await?;
    let (queued, running): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE state = 'queued'), COUNT(*) FILTER (WHERE state = 'running')
         FROM runs",
    )
    .fetch_one(pool)
    .await?;
    Ok((by_status, queued, running))
}

#[cfg(test)]
mod tests;
