//! What `GET /v1/jobs/{id}/diagnostics` says of each remedy job: per finding applied, its
//! kind and metric before and after, and whether that resolved it (`remedies` gathers them,
//! `remedy_verify` ranks a verification's candidates by them).

use serde::Serialize;

use crate::diagnose::rule::explains;
use crate::domain::finding::{AppliedRemedy, Finding, Kind, RemedyCandidate, Severity};
use crate::domain::job::JobStatus;
use crate::domain::metric::Metric;
use crate::domain::results::Summary;
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
    /// Kinds the remedy job warns of (or worse) for the variant that the original did not.
    pub(super) new_warnings: Vec<Kind>,
    /// The kind is gone, and not by a demotion to `info` that a new warning explains (more L2
    /// can demote fold variance by making the model overfit, which then explains the spread:
    /// a trade, not a fix), and its metric (`metric`) did not get worse by more than its std
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

impl Outcome {
    /// How the remedy job with findings `found.1` fared on the finding `f` applied from the
    /// original's `found.0`, its variant's fold summaries before and after being `summaries`.
    pub(super) fn of(
        f: &AppliedRemedy,
        found: (&[Finding], &[Finding]),
        summaries: (Option<&Summary>, Option<&Summary>),
        rank_by: Metric,
    ) -> Self {
        let (original, remedied) = found;
        let worst = |list: &[Finding], kind: Kind| {
            (list.iter())
                .filter(|g| g.kind == kind && g.variant == f.variant)
                .map(|g| g.severity)
                .max()
        };
        let severity_after = worst(remedied, f.kind);
        let severity_before = (original.iter())
            .find(|g| g.id == f.finding)
            .map(|g| g.severity);
        let mut new_warnings: Vec<Kind> = (remedied.iter())
            .filter(|g| g.variant == f.variant && g.kind != f.kind)
            .filter(|g| g.severity >= Severity::Warning)
            .filter(|g| worst(original, g.kind) < Some(Severity::Warning))
            .map(|g| g.kind)
            .collect();
        new_warnings.sort();
        new_warnings.dedup();
        // Left as info only because a new warning explains it.
        let traded = new_warnings.iter().any(|&cause| explains(cause, f.kind));
        let metric = f.kind.judged_by(rank_by);
        let stat = |s: Option<&Summary>| s?.get(metric.name()).copied();
        let (before, after) = summaries;
        let kind_gone = kind_gone(severity_before, severity_after);
        Outcome {
            finding: f.finding,
            kind: f.kind,
            severity_before,
            severity_after,
            kind_gone,
            resolved: kind_gone
                && !(severity_after.is_some() && traded)
                && not_worse(metric, stat(before), stat(after)),
            new_warnings,
            before: before.and_then(scores),
            after: after.and_then(scores),
            metric,
            metric_before: stat(before),
            metric_after: stat(after),
        }
    }
}

/// The mean scores of a summary.
fn scores(s: &Summary) -> Option<Scores> {
    Some(Scores {
        balanced_accuracy: s.get("balanced_accuracy")?.mean,
        accuracy: s.get("accuracy")?.mean,
        log_loss: s.get("log_loss")?.mean,
    })
}

/// Whether `after` is no worse than `before` beyond the original's fold noise (its std).
fn not_worse(metric: Metric, before: Option<Stat>, after: Option<Stat>) -> bool {
    match (before, after) {
        (Some(b), Some(a)) if metric.higher_is_better() => a.mean >= b.mean - b.std,
        (Some(b), Some(a)) => a.mean <= b.mean + b.std,
        // Nothing to compare against (the original failed): only the kind decides.
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// Whether a finding of severity `before` is gone when the remedy job's worst of its kind is
/// `after`: none left, or down to `info` from a warning or an error.
fn kind_gone(before: Option<Severity>, after: Option<Severity>) -> bool {
    match after {
        None => true,
        Some(after) => after < Severity::Warning && before.is_none_or(|b| b >= Severity::Warning),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::finding::Evidence;
    use Severity::{Error, Info, Warning};

    fn finding(kind: Kind, severity: Severity, variant: usize) -> Finding {
        Finding {
            id: Finding::id_of(kind, variant, None),
            kind,
            severity,
            variant,
            strategy: None,
            run_ids: Vec::new(),
            folds: Vec::new(),
            runs_affected: 1,
            runs_checked: 1,
            first_epoch: None,
            layer: None,
            evidence: Evidence {
                summary: String::new(),
                values: Default::default(),
            },
            advice: String::new(),
            remedy: serde_json::json!({}),
        }
    }

    #[test]
    fn an_info_finding_is_gone_only_when_it_is_gone() {
        // Before, an info finding still there after its remedy read as resolved.
        assert!(!kind_gone(Some(Info), Some(Info)));
        assert!(kind_gone(Some(Info), None));
        assert!(kind_gone(Some(Warning), Some(Info)));
        assert!(kind_gone(Some(Error), None));
        assert!(!kind_gone(Some(Warning), Some(Warning)));
        assert!(!kind_gone(Some(Error), Some(Warning)));
        assert!(kind_gone(None, Some(Info)));
    }

    #[test]
    fn a_remedy_that_brings_a_new_warning_has_not_resolved_its_finding() {
        let original = [
            finding(Kind::FoldVariance, Warning, 0),
            finding(Kind::DeadUnits, Info, 0),
            finding(Kind::UnstableTraining, Warning, 0),
        ];
        let applied = AppliedRemedy::of(&original[0]);
        let outcome = |after: &[Finding]| {
            Outcome::of(
                &applied,
                (&original, after),
                (None, None),
                Metric::BalancedAccuracy,
            )
        };
        // Fold variance demoted to info because the patch made the model overfit.
        let traded = outcome(&[
            finding(Kind::FoldVariance, Info, 0),
            finding(Kind::Overfitting, Warning, 0),
            finding(Kind::Overfitting, Error, 0),
        ]);
        assert!(traded.kind_gone);
        assert_eq!(traded.new_warnings, [Kind::Overfitting]);
        assert!(!traded.resolved);
        // A warning the original had already, one about another variant, and an info one
        // are not new.
        let kept = outcome(&[
            finding(Kind::FoldVariance, Info, 0),
            finding(Kind::UnstableTraining, Warning, 0),
            finding(Kind::Overfitting, Warning, 1),
            finding(Kind::Underfitting, Info, 0),
        ]);
        assert!(kept.new_warnings.is_empty() && kept.resolved);
        // Dead units up from info to warning are new; with fold variance gone altogether the
        // finding is resolved, and the new warning is reported beside it (a model that
        // learns at last can show the next problem).
        let gone = outcome(&[finding(Kind::DeadUnits, Warning, 0)]);
        assert_eq!(gone.new_warnings, [Kind::DeadUnits]);
        assert!(gone.resolved);
        // Underfitting left as info in one run of three beside a new fold spread: the spread
        // does not explain it, so the demotion stands.
        let under = [finding(Kind::Underfitting, Warning, 0)];
        let applied = AppliedRemedy::of(&under[0]);
        let after = [
            finding(Kind::Underfitting, Info, 0),
            finding(Kind::FoldVariance, Warning, 0),
        ];
        let o = Outcome::of(
            &applied,
            (&under, &after),
            (None, None),
            Metric::BalancedAccuracy,
        );
        assert_eq!(o.new_warnings, [Kind::FoldVariance]);
        assert!(o.resolved);
    }
}
