//! What a finding is about and how much it matters: the names `training.stop_on` and the API
//! use.

use serde::{Deserialize, Serialize};

/// What a finding is about. The order is the order of causes: a job's findings list the
/// likely root cause first (exploding gradients explain the overfitting-like rise that follows
/// them), so the first warning's remedy is the one to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ExplodingGradients,
    VanishingGradients,
    UnstableTraining,
    Degradation,
    ClassImbalance,
    DeadUnits,
    SaturatedUnits,
    Underfitting,
    Overfitting,
    FoldVariance,
    /// The final model, trained on every row, ended far above the training loss its folds
    /// reached: it did not converge as they did.
    FinalModelUnconverged,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::ExplodingGradients,
        Kind::VanishingGradients,
        Kind::UnstableTraining,
        Kind::Degradation,
        Kind::ClassImbalance,
        Kind::DeadUnits,
        Kind::SaturatedUnits,
        Kind::Underfitting,
        Kind::Overfitting,
        Kind::FoldVariance,
        Kind::FinalModelUnconverged,
    ];

    /// The metric a remedy of this kind is judged by, in a job ranked by `rank_by`: the
    /// held-out log loss for overfitting (its own symptom), else `rank_by`.
    pub fn judged_by(self, rank_by: super::metric::Metric) -> super::metric::Metric {
        match self {
            Kind::Overfitting => super::metric::Metric::LogLoss,
            _ => rank_by,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VanishingGradients => "vanishing_gradients",
            Kind::ExplodingGradients => "exploding_gradients",
            Kind::DeadUnits => "dead_units",
            Kind::SaturatedUnits => "saturated_units",
            Kind::Overfitting => "overfitting",
            Kind::Underfitting => "underfitting",
            Kind::UnstableTraining => "unstable_training",
            Kind::ClassImbalance => "class_imbalance",
            Kind::Degradation => "degradation",
            Kind::FoldVariance => "fold_variance",
            Kind::FinalModelUnconverged => "final_model_unconverged",
        }
    }
}

/// How much a finding matters: `info` for a problem the spec already handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}
