//! `jobs`: creation (with its runs, in one transaction), cancellation, completion and the
//! stored findings. Reads of the job resource are in `job_view`.

use super::idempotency;
pub use super::job_view::{JobView, Progress, get_job, list_jobs, outer_jobs_of, remedies_of};
use super::run_data::RunRow;
use crate::domain::finding::{AppliedRemedy, Finding};
use crate::domain::job::{JobSpec, JobStatus, Strategy};
use crate::domain::job_meta::JobMeta;
use crate::domain::results::{JobResults, RunKind, Settled, Summary};

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
    /// The model variant (index into a `model` list); a comparison's final run sets it later.
    pub variant: u32,
    /// A search's first rung: the epoch its first leg pauses at.
    pub pause_at: Option<u64>,
}

#[cfg(test)]
impl NewRun {
    /// A plain fold run of repeat 0 (seed 1, 3 attempts, no imbalance strategy), for store tests.
    pub(crate) fn test_fold(id: String, fold: u32) -> Self {
        Self {
            id,
            kind: RunKind::Fold,
            fold: Some(fold),
            repeat: Some(0),
            seed: 1,
            max_attempts: 3,
            strategy: Some(Strategy::None),
            variant: 0,
            pause_at: None,
        }
    }
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
    /// Made by `POST /v1/jobs/{id}/remedy`: the original job and the findings applied.
    pub remedy_of: Option<(String, Vec<AppliedRemedy>)>,
    /// The class names in training order (the label's classes).
    pub classes: Vec<String>,
    /// What the user calls it: name, description, tags.
    pub meta: JobMeta,
    /// An outer fold's job: the nested job that made it.
    pub outer_of: Option<String>,
    /// A nested job: its outer folds' jobs, stored with it.
    pub outer_jobs: Vec<NewJob>,
}

/// What creating a job did.
#[derive(Debug)]
pub enum Created {
    Created,
    KeyUsed(idempotency::UsedKey),
    /// A dataset the job reads was deleted after the job was validated (the spec field that
    /// names it): nothing was stored.
    DatasetGone(&'static str),
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

super::dispatch! { jobs:
    /// Jobs not yet settled whose runs have all ended: a settle that failed (a store unreachable
    /// at the time) is retried from these.
    pub async fn unsettled() -> anyhow::Result<Vec<String>>;
    /// Stores a job and its runs (all queued) in one transaction, with its idempotency key.
    pub async fn insert_job(job: &NewJob, keyed: Option<(&str, &str)>) -> anyhow::Result<Created>;
    /// A job's class names in training order (`None`: no such job, or one stored before they were).
    pub async fn class_names(job_id: &str) -> anyhow::Result<Option<Vec<String>>>;
    /// Cancels a job: queued runs at once; running runs are asked to stop.
    pub async fn cancel_job(id: &str) -> anyhow::Result<Cancel>;
    /// Runs of the job still queued or running.
    pub async fn open_runs(job_id: &str) -> anyhow::Result<i64>;
    /// What settling a job reads besides its runs: its spec and whether a cancel was asked for
    /// (`None`: no such job).
    pub async fn settle_inputs(job_id: &str) -> anyhow::Result<Option<(JobSpec, bool)>>;
    /// Records how a job ended, if it has not already: `Some(status)` when this call settled it.
    pub async fn settle(job_id: &str, settled: &Settled) -> anyhow::Result<Option<JobStatus>>;
    /// A job's status, summary and stored results, without its spec (`None`: no such job).
    pub async fn results(
        job_id: &str,
    ) -> anyhow::Result<Option<(JobStatus, Option<Summary>, Option<JobResults>)>>;
    /// Recomputes a job's findings from its runs with `diagnose` and stores them, in one write
    /// transaction (so two workers refreshing at once cannot store an older view last).
    pub async fn refresh_diagnostics(
        job_id: &str,
        diagnose: impl FnOnce(&JobSpec, &[RunRow]) -> Vec<Finding>,
    ) -> anyhow::Result<()>;
    /// Jobs per status, and runs queued and running, for `/metrics`.
    pub async fn queue_stats() -> anyhow::Result<(Vec<(String, i64)>, i64, i64)>;
}
