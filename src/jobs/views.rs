//! Reading jobs and runs as the API shows them: a job, a page of jobs, a job's runs, a run's
//! history and checkpoint, the remedy jobs made from a job, and cancelling one.

use crate::store::Db;

use crate::domain::job_filter::JobQuery;
use crate::domain::job_meta::MetaPatch;
use crate::domain::learning_rate::RateRange;
use crate::domain::results::RunState;
use crate::engine::train::EpochRecord;
use crate::store;
pub use crate::store::job_view::{JobView, Progress};
pub use crate::store::jobs::Cancel;
pub use crate::store::run_data::{Detail, RunRow};

/// Job `id` (`None`: no such job).
pub async fn job(pool: &Db, id: &str) -> anyhow::Result<Option<JobView>> {
    store::jobs::get_job(pool, id).await
}

/// A page of the jobs `query` keeps, in its order: the jobs and the next page's cursor.
pub async fn jobs(
    pool: &Db,
    query: &JobQuery,
    limit: u32,
    cursor: Option<i64>,
) -> anyhow::Result<(Vec<JobView>, Option<i64>)> {
    store::jobs::list_jobs(pool, query, limit, cursor).await
}

/// Changes job `id`'s name, description or tags: the job after (`None`: no such job).
pub async fn update_meta(pool: &Db, id: &str, patch: MetaPatch) -> anyhow::Result<Option<JobView>> {
    if store::job_meta::update_meta(pool, id, patch)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    job(pool, id).await
}

/// The jobs made from job `id` by `POST …/remedy`, oldest first.
pub async fn remedies_of(pool: &Db, id: &str) -> anyhow::Result<Vec<JobView>> {
    store::jobs::remedies_of(pool, id).await
}

/// The outer folds' jobs of nested job `id`, in fold order.
pub async fn outer_jobs_of(pool: &Db, id: &str) -> anyhow::Result<Vec<JobView>> {
    store::jobs::outer_jobs_of(pool, id).await
}

/// Cancels job `id`: queued runs at once; running runs stop within an epoch. A nested job's
/// outer folds' jobs are cancelled with it (even once it has itself ended).
pub async fn cancel(pool: &Db, id: &str) -> anyhow::Result<Cancel> {
    let own = store::jobs::cancel_job(pool, id).await?;
    let mut outer_stopped = false;
    for outer in store::jobs::outer_jobs_of(pool, id).await? {
        let c = store::jobs::cancel_job(pool, &outer.id).await?;
        outer_stopped |= matches!(c, Cancel::Cancelled | Cancel::Cancelling);
    }
    Ok(match own {
        Cancel::AlreadyFinished(_) if outer_stopped => Cancel::Cancelling,
        other => other,
    })
}

/// Job `id`'s runs in creation order, with their results (summarized).
pub async fn runs(pool: &Db, id: &str) -> anyhow::Result<Vec<RunRow>> {
    store::run_data::runs_of_job(pool, id, Detail::Summary).await
}

/// Job `id`'s runs whose result holds a learning-rate range test, each with its curve.
pub async fn rate_ranges(pool: &Db, id: &str) -> anyhow::Result<Vec<(RunRow, RateRange)>> {
    let runs = store::run_data::runs_of_job(pool, id, Detail::Full).await?;
    Ok((runs.into_iter())
        .filter_map(|mut run| {
            let range = run.result.as_mut()?.rate_range.take()?;
            run.result = None;
            Some((run, range))
        })
        .collect())
}

/// A page of job `id`'s runs after the run numbered `after`, with the next page's cursor.
pub async fn runs_page(
    pool: &Db,
    id: &str,
    after: i64,
    limit: u32,
) -> anyhow::Result<(Vec<RunRow>, Option<i64>)> {
    store::run_data::runs_page(pool, id, Detail::Full, after, limit).await
}

/// Run `id`'s epochs, its pretraining epochs first (`None`: no such run).
pub async fn history(pool: &Db, id: &str) -> anyhow::Result<Option<Vec<EpochRecord>>> {
    let Some(trained) = store::run_data::epoch_history(pool, id).await? else {
        return Ok(None);
    };
    let mut records = store::run_data::pretrain_history(pool, id).await?;
    records.extend(trained);
    Ok(Some(records))
}

/// Run `id`'s classifier epochs only (`None`: no such run).
pub async fn epochs(pool: &Db, id: &str) -> anyhow::Result<Option<Vec<EpochRecord>>> {
    store::run_data::epoch_history(pool, id).await
}

/// Run `id`'s state and checkpoint bytes (`None`: no such run).
pub async fn checkpoint(
    pool: &Db,
    id: &str,
) -> anyhow::Result<Option<(RunState, Option<Vec<u8>>)>> {
    store::run_data::checkpoint(pool, id).await
}
