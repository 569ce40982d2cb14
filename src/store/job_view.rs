//! The job resource as the API shows it: one job, a page of jobs, a job's remedy jobs, each
//! one query with its runs' counts and the stored findings.

use crate::domain::finding::{AppliedRemedy, Finding};
use crate::domain::job::{JobSpec, JobStatus, Strategy};
use crate::domain::job_filter::JobQuery;
use crate::domain::job_meta::JobMeta;
use crate::domain::results::Summary;
use serde::Serialize;

/// Progress of a job: every field but the estimate only grows while the job runs, and stays
/// where it ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    pub runs_done: u64,
    pub runs_total: u64,
    /// Epochs trained by all the job's runs so far (an ensemble's members each count), and the
    /// most they may train (every run to the spec's epochs; early stopping ends runs sooner).
    pub epoch: u64,
    pub epochs: u64,
    /// Runs ended, plus the share of its epochs each run in flight has done, over the runs.
    pub fraction: f64,
    pub eta_seconds: Option<f64>,
}

/// A run as progress counts it: epochs done, strategy, state.
pub(crate) type RunProgress = (u64, Option<String>, String);

impl Progress {
    /// The progress of a job of `spec` whose runs are `runs`, started at `started_at`.
    pub(crate) fn of(spec: &JobSpec, runs: &[RunProgress], started_at: Option<&str>) -> Self {
        let imbalance = &spec.imbalance;
        // An ensemble's run trains `n_subsets` models of the spec's epochs each.
        let budget = |strategy: &Option<String>| {
            let members = match strategy.as_deref().and_then(Strategy::parse) {
                Some(s) => imbalance.members(s),
                None => imbalance.max_members(),
            };
            spec.most_epochs() * members
        };
        let ended = |state: &str| matches!(state, "succeeded" | "failed" | "cancelled");
        let runs_done = runs.iter().filter(|r| ended(&r.2)).count() as u64;
        let share: f64 = (runs.iter())
            .map(
                |(done, strategy, state)| match (ended(state), budget(strategy)) {
                    (true, _) => 1.0,
                    (false, 0) => 0.0,
                    (false, b) => (*done as f64 / b as f64).min(1.0),
                },
            )
            .sum();
        let fraction = if runs.is_empty() {
            0.0
        } else {
            (share / runs.len() as f64).min(1.0)
        };
        let eta_seconds = started_at.and_then(|s| {
            let format = &time::format_description::well_known::Rfc3339;
            let started = time::OffsetDateTime::parse(s, format).ok()?;
            let elapsed = (time::OffsetDateTime::now_utc() - started).as_seconds_f64();
            (fraction > 0.0 && fraction < 1.0).then(|| elapsed * (1.0 - fraction) / fraction)
        });
        Progress {
            runs_done,
            runs_total: runs.len() as u64,
            epoch: runs.iter().map(|r| r.0).sum(),
            epochs: runs.iter().map(|r| budget(&r.1)).sum(),
            fraction,
            eta_seconds,
        }
    }
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
    /// What went wrong in training (or what the spec already handles), as the runs go.
    pub diagnostics: Vec<Finding>,
    /// The job this one was made from by `POST /v1/jobs/{id}/remedy`.
    pub remedy_of: Option<String>,
    /// An outer fold's job: the nested job (`validation.outer_folds`) that made it.
    pub outer_of: Option<String>,
    /// The findings of the original job whose remedies this job applies (their ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedies: Option<Vec<usize>>,
    /// Those findings as applied: id, kind, variant, strategy and patch (absent for remedy jobs
    /// stored before they were kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_remedies: Option<Vec<AppliedRemedy>>,
    /// The job's name, description and tags.
    #[serde(flatten)]
    pub meta: JobMeta,
    /// The dataset's name (`null` once it is deleted).
    pub dataset_name: Option<String>,
}

/// A remedy job's findings as stored: their ids (before the findings themselves were kept), or
/// the findings as applied.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum StoredRemedies {
    Ids(Vec<usize>),
    Applied(Vec<AppliedRemedy>),
}

impl StoredRemedies {
    pub(crate) fn ids(&self) -> Vec<usize> {
        match self {
            StoredRemedies::Ids(ids) => ids.clone(),
            StoredRemedies::Applied(a) => a.iter().map(|f| f.finding).collect(),
        }
    }

    pub(crate) fn applied(self) -> Option<Vec<AppliedRemedy>> {
        match self {
            StoredRemedies::Ids(_) => None,
            StoredRemedies::Applied(a) => Some(a),
        }
    }
}

super::dispatch! { job_view:
    /// One job as the API shows it.
    pub async fn get_job(id: &str) -> anyhow::Result<Option<JobView>>;
    /// The jobs made from job `id` by `POST …/remedy`, oldest first.
    pub async fn remedies_of(id: &str) -> anyhow::Result<Vec<JobView>>;
    /// The outer folds' jobs of nested job `id`, in fold order.
    pub async fn outer_jobs_of(id: &str) -> anyhow::Result<Vec<JobView>>;
    /// A page of the jobs `query` keeps, in its order, after `cursor` (a sequence number in
    /// the default order, else how many jobs were already shown): one query.
    pub async fn list_jobs(
        query: &JobQuery,
        limit: u32,
        cursor: Option<i64>,
    ) -> anyhow::Result<(Vec<JobView>, Option<i64>)>;
}
