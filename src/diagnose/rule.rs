//! What every per-run rule shares: the run's context, the rule's signature, and how a finding
//! is built (values that are not finite are left out: JSON has no NaN).

use std::collections::BTreeMap;

use crate::domain::finding::{Evidence, Kind, RunFinding, Severity};
use crate::domain::spec::TrainingSpec;
use crate::engine::train::EpochRecord;

/// What the rules need to know about a run beyond its epochs.
#[derive(Debug, Clone)]
pub struct RunContext<'a> {
    pub spec: &'a TrainingSpec,
    /// The training loss of predicting the (weighted) class frequencies; `None` when the
    /// objective is not classification (one-class reconstructs).
    pub chance_loss: Option<f64>,
}

/// One rule: a finding from the run's context and epochs, or none.
pub type Rule = fn(&RunContext<'_>, &[&EpochRecord]) -> Option<RunFinding>;

pub fn finding(
    kind: Kind,
    severity: Severity,
    first_epoch: Option<u64>,
    layer: Option<usize>,
    summary: String,
    values: &[(&str, f64)],
    strength: f64,
) -> RunFinding {
    RunFinding {
        kind,
        severity,
        first_epoch,
        layer,
        evidence: Evidence {
            summary,
            // JSON has no NaN or infinity: a value that is not finite is left out.
            values: values
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect::<BTreeMap<_, _>>(),
        },
        strength: if strength.is_nan() {
            0.0
        } else {
            strength.clamp(-f64::MAX, f64::MAX)
        },
    }
}

/// A number for a sentence: four decimals in the usual range, else scientific.
pub fn num(x: f64) -> String {
    if x != 0.0 && !(1e-3..1e4).contains(&x.abs()) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// Whether a warning of `cause` explains a finding of `symptom` about the same variant, which
/// is then `info`. A rate that blows training up explains the rest (a first layer whose units
/// all died has a zero gradient, which is not vanishing); an unstable loss explains a held-out
/// rise or a flat loss, not dead units; a deeper variant's degradation its own unstable or flat
/// loss; any other warning a spread of scores across folds.
pub fn explains(cause: Kind, symptom: Kind) -> bool {
    use Kind::*;
    match symptom {
        _ if cause == symptom => false,
        DeadUnits | SaturatedUnits | VanishingGradients => cause == ExplodingGradients,
        UnstableTraining => matches!(cause, ExplodingGradients | Degradation),
        Underfitting => matches!(cause, ExplodingGradients | UnstableTraining | Degradation),
        Overfitting => matches!(cause, ExplodingGradients | UnstableTraining),
        FoldVariance => true,
        _ => false,
    }
}
