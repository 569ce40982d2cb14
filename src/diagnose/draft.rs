//! A job-level finding before the job numbers it and adds its remedy, and the runs the job
//! rules read: shared by `job_rules` and `final_rule`.

use crate::domain::finding::{Evidence, Kind, Severity};
use crate::domain::job::Strategy;
use crate::domain::results::{RunKind, RunResult, RunState, Variant};
use crate::store::run_data::RunRow;

/// A finding before the job numbers it and adds its remedy.
pub(super) struct Draft {
    pub(super) kind: Kind,
    pub(super) severity: Severity,
    pub(super) variant: usize,
    pub(super) strategy: Option<Strategy>,
    pub(super) runs: Vec<(String, Option<u32>)>,
    pub(super) runs_checked: usize,
    pub(super) first_epoch: Option<u64>,
    pub(super) layer: Option<usize>,
    pub(super) evidence: Evidence,
}

impl Draft {
    /// A job-level finding about variant `v`'s finished fold runs `found`.
    pub(super) fn of_variant(
        kind: Kind,
        severity: Severity,
        v: Variant,
        found: &[(&RunRow, &RunResult)],
        summary: String,
        values: &[(&str, f64)],
    ) -> Self {
        Draft {
            kind,
            severity,
            variant: v.model,
            strategy: Some(v.strategy),
            runs: found.iter().map(|(r, _)| (r.id.clone(), r.fold)).collect(),
            runs_checked: found.len(),
            first_epoch: None,
            layer: None,
            evidence: Evidence {
                summary,
                values: values.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect(),
            },
        }
    }
}

/// The finished fold runs of `v`.
pub(super) fn folds_of(runs: &[RunRow], v: Variant) -> Vec<(&RunRow, &RunResult)> {
    runs.iter()
        .filter(|r| r.kind == RunKind::Fold && r.state == RunState::Succeeded)
        .filter_map(|r| r.result.as_ref().map(|res| (r, res)))
        .filter(|(_, res)| Variant::of(res) == v)
        .collect()
}
