//! A diagnostic finding: what went wrong in training (or what the spec already handles), where,
//! the evidence, why it matters and the spec change that addresses it. `diagnose` makes them;
//! the store keeps them per run and per job; the API shows them as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::finding_kind::{Kind, Severity};

/// The numbers behind a finding, as fields and as one readable sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub summary: String,
    pub values: BTreeMap<String, f64>,
}

/// One run's finding (the job's findings merge these across runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFinding {
    pub kind: Kind,
    pub severity: Severity,
    /// 1-based.
    pub first_epoch: Option<u64>,
    /// 0-based layer index (hidden layers, then the output).
    pub layer: Option<usize>,
    pub evidence: Evidence,
    /// How strongly it shows (the rule's own measure), to pick the run shown for a job.
    pub strength: f64,
}

/// What diagnosing one run's epochs found, as the store keeps it per run: its findings, and
/// what the job-level rules compare between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunDiagnosis {
    pub findings: Vec<RunFinding>,
    /// The training loss of the run's last epoch (of its first ensemble member).
    pub train_loss: Option<f64>,
    pub epochs: u64,
}

/// A finding of a job, as `GET /v1/jobs/{id}` and `…/diagnostics` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// For `POST …/remedy`: stable while the job trains, derived from what the finding is about
    /// (`Finding::id_of`), not its place in the list.
    pub id: usize,
    pub kind: Kind,
    pub severity: Severity,
    /// The model variant (index into a `model` list; 0 for a single model).
    pub variant: usize,
    pub strategy: Option<super::job::Strategy>,
    pub run_ids: Vec<String>,
    /// The folds affected (0-based), and how many runs the finding covers of those checked.
    pub folds: Vec<u32>,
    pub runs_affected: usize,
    pub runs_checked: usize,
    pub first_epoch: Option<u64>,
    pub layer: Option<usize>,
    pub evidence: Evidence,
    /// Why it matters, in a sentence or two.
    pub advice: String,
    /// A JSON merge patch (RFC 7396) to the job's spec that addresses it (`{}`: nothing to do).
    pub remedy: serde_json::Value,
}

impl Finding {
    /// The id of the finding of `kind` about model `variant` (and `strategy`): its kind's place
    /// in `Kind::ALL`, plus 10 × its strategy's place in `Strategy::ALL` counted from 1 (0 for
    /// none), plus 100 × the variant. The same finding keeps its id however the list reorders.
    pub fn id_of(kind: Kind, variant: usize, strategy: Option<super::job::Strategy>) -> usize {
        let kind = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        let strategy = strategy.map_or(0, |s| {
            1 + super::job::Strategy::ALL
                .iter()
                .position(|x| *x == s)
                .unwrap_or(0)
        });
        kind + 10 * strategy + 100 * variant
    }
}

/// A finding's remedy as a remedy job applied it: the finding as it was then, and the patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedRemedy {
    pub finding: usize,
    pub kind: Kind,
    pub variant: usize,
    pub strategy: Option<super::job::Strategy>,
    /// The merge patch applied to the original's spec.
    pub remedy: serde_json::Value,
    /// A verification's candidate (`"verify": true`): which one this job trains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<RemedyCandidate>,
}

/// A remedy to try for a finding: its rank by prior (0 first), a name and the merge patch to
/// the original spec (`diagnose::candidates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemedyCandidate {
    pub rank: usize,
    pub name: String,
    pub patch: serde_json::Value,
}

impl AppliedRemedy {
    pub fn of(f: &Finding) -> Self {
        Self {
            finding: f.id,
            kind: f.kind,
            variant: f.variant,
            strategy: f.strategy,
            remedy: f.remedy.clone(),
            candidate: None,
        }
    }
}
