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
}

impl Kind {
    pub const ALL: [Kind; 10] = [
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
    ];

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
