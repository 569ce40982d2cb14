//! The job resource as the API shows it: one job, a page of jobs, a job's remedy jobs, each
//! one query with its runs' counts and the stored findings.

use crate::domain::finding::{AppliedRemedy, Finding};
use crate::domain::job::{JobSpec, JobStatus};
use crate::domain::job_filter::JobQuery;
use crate::domain::job_meta::JobMeta;
use crate::domain::results::Summary;
use serde::Serialize;

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
    /// What went wrong in training (or what the spec already handles), as the runs go.
    pub diagnostics: Vec<Finding>,
    /// The job this one was made from by `POST /v1/jobs/{id}/remedy`.
    pub remedy_of: Option<String>,
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
    /// A page of the jobs `query` keeps, in its order, after `cursor` (a sequence number in
    /// the default order, else how many jobs were already shown): one query.
    pub async fn list_jobs(
        query: &JobQuery,
        limit: u32,
        cursor: Option<i64>,
    ) -> anyhow::Result<(Vec<JobView>, Option<i64>)>;
}
