//! What `GET /v1/jobs/{id}/diagnostics` says of each remedy job: per finding applied, its
//! kind and metric before and after (`remedies` builds them, `remedy_verify` ranks a
//! verification's candidates by them).

use serde::Serialize;

use crate::domain::finding::{AppliedRemedy, Kind, RemedyCandidate, Severity};
use crate::domain::job::JobStatus;
use crate::domain::metric::Metric;
use crate::engine::eval::summary::Stat;

/// One finding's state in a remedy job, next to the original's.
#[derive(Debug, Serialize)]
pub(super) struct Outcome {
    pub(super) finding: usize,
    pub(super) kind: Kind,
    /// The original finding's severity (`None` once the original no longer lists it).
    pub(super) severity_before: Option<Severity>,
    /// The remedy job's most severe finding of the same kind and variant, if any.
    pub(super) severity_after: Option<Severity>,
    /// Whether the kind is gone: none of it for the variant, or only an `info` one where the
    /// original was a warning or an error (an `info` finding is gone only when it is gone).
    pub(super) kind_gone: bool,
    /// The kind is gone and its metric (`metric`) did not get worse by more than its std
    /// across the original's folds.
    pub(super) resolved: bool,
    /// The variant's mean fold scores, before and after.
    pub(super) before: Option<Scores>,
    pub(super) after: Option<Scores>,
    /// What the remedy is judged by (`Kind::judged_by`: the held-out log loss for
    /// overfitting, else `rank_by`), and its statistics across folds before and after.
    pub(super) metric: Metric,
    pub(super) metric_before: Option<Stat>,
    pub(super) metric_after: Option<Stat>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Scores {
    pub(super) balanced_accuracy: f64,
    pub(super) accuracy: f64,
    pub(super) log_loss: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct Remedied {
    pub(super) job_id: String,
    pub(super) status: JobStatus,
    /// A verification's job: the candidate it trains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) candidate: Option<RemedyCandidate>,
    pub(super) findings: Vec<usize>,
    /// Each finding as it was applied: its id, kind, variant, strategy and patch.
    pub(super) applied: Vec<AppliedRemedy>,
    /// Once the remedy job has finished.
    pub(super) comparison: Option<Vec<Outcome>>,
}
