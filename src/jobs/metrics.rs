//! A job's metrics as `GET /v1/jobs/{id}/metrics` shows them: each fold's entry (its full
//! result, read one run at a time), and what the runs add up to, as stored when the job
//! settled; for a job still training (or settled before results were stored), computed now.

use crate::store::Db;

use super::settle;
use crate::domain::job::JobStatus;
use crate::domain::results::{FoldResult, JobMetrics, JobResults, Summary};
use crate::store;

/// What job `id`'s runs add up to: its status, summary and results, as stored when it
/// settled, or computed from its runs so far (`None`: no such job).
pub async fn results(
    pool: &Db,
    id: &str,
) -> anyhow::Result<Option<(JobStatus, Option<Summary>, JobResults)>> {
    let Some((status, summary, stored)) = store::jobs::results(pool, id).await? else {
        return Ok(None);
    };
    Ok(match stored {
        Some(results) => Some((status, summary, results)),
        None => so_far(pool, id)
            .await?
            .map(|(summary, results)| (status, summary, results)),
    })
}

/// The metrics of job `id` (`None`: no such job).
pub async fn metrics(pool: &Db, id: &str) -> anyhow::Result<Option<JobMetrics>> {
    let Some((status, summary, results)) = results(pool, id).await? else {
        return Ok(None);
    };
    let mut folds = Vec::new();
    store::run_data::each_fold_result(pool, id, |run_id, fold, repeat, result| {
        let entry = FoldResult {
            run_id,
            strategy: result.strategy,
            variant: result.variant,
            fold,
            repeat,
            best_epoch: result.best_epoch,
            train_class_counts: &result.train_class_counts,
            validation_class_counts: &result.validation_class_counts,
            resampled_class_counts: &result.resampled_class_counts,
            member_class_counts: &result.member_class_counts,
            class_weights: &result.class_weights,
            metrics: &result.metrics,
        };
        folds.push(serde_json::value::to_raw_value(&entry)?);
        Ok(())
    })
    .await?;
    Ok(Some(JobMetrics {
        status,
        folds,
        summary,
        pooled: results.pooled,
        test: results.test,
        leaderboard: results.leaderboard,
        final_epochs: results.final_epochs,
        threshold: results.threshold,
        nested: None,
    }))
}

/// The results of a job not settled with them: from its runs so far.
async fn so_far(pool: &Db, id: &str) -> anyhow::Result<Option<(Option<Summary>, JobResults)>> {
    let Some(job) = store::jobs::get_job(pool, id).await? else {
        return Ok(None);
    };
    let runs = store::run_data::runs_of_job(pool, id, store::run_data::Detail::Summary).await?;
    // Thresholds are tuned once, when the job settles.
    let results = settle::job_results(pool, &job.spec, &runs, settle::Tuning::Skip).await?;
    Ok(Some((job.summary, results)))
}
