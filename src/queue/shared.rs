//! What a process's workers share, and refreshing a job's findings through it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::refresh::{Due, Refresher};
use crate::config::Limits;
use crate::diagnose::job_rules::job_findings;
use crate::engine::cores::Cores;
use crate::store::{self, Db};

/// What a process's workers share: the limits, what wakes them (if the store notifies), when
/// each job's findings are refreshed, and the node's cores.
#[derive(Clone)]
pub struct Shared {
    pub cores: Cores,
    pub limits: Arc<Limits>,
    pub wake: Option<Arc<Notify>>,
    /// What a worker rings when it made work claimable (a search's promotion or halt), so this
    /// process's idle workers claim it without waiting for their poll.
    pub made_work: Arc<Notify>,
    pub refresher: Arc<Refresher>,
}

/// Refreshes the job's findings now, later (one refresh left due) or not at all, as
/// `shared.refresher` says: every run's end and every change a run's diagnosis finds asks, and
/// each refresh reads all of the job's runs.
pub async fn refresh_when_due(pool: &Db, job: &str, shared: &Shared, last: bool) {
    match shared.refresher.due(job, Instant::now(), last) {
        Due::Now => refresh(pool, job, &shared.limits).await,
        Due::Later(delay) => {
            let (pool, job, shared) = (pool.clone(), job.to_owned(), shared.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                shared.refresher.fired(&job, Instant::now());
                refresh(&pool, &job, &shared.limits).await;
            });
        }
        Due::Pending => {}
    }
}

/// Recomputes and stores the job's findings; a failure is logged (the next end retries).
async fn refresh(pool: &Db, job: &str, limits: &Limits) {
    let findings = |spec: &_, runs: &[_]| job_findings(spec, runs, limits);
    if let Err(e) = store::jobs::refresh_diagnostics(pool, job, findings).await {
        tracing::warn!(error = %format!("{e:#}"), "refreshing the job's findings failed");
    }
}
