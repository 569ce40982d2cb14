//! The metrics a leaderboard ranks by, each knowing which way is better.

use serde::{Deserialize, Serialize};

/// A rankable metric, named as in a run's scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    #[default]
    BalancedAccuracy,
    Accuracy,
    PrecisionMacro,
    RecallMacro,
    F1Macro,
    GMean,
    RocAuc,
    PrAuc,
    LogLoss,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::BalancedAccuracy,
        Metric::Accuracy,
        Metric::PrecisionMacro,
        Metric::RecallMacro,
        Metric::F1Macro,
        Metric::GMean,
        Metric::RocAuc,
        Metric::PrAuc,
        Metric::LogLoss,
    ];

    /// The name scores and summaries use (and the spec's `rank_by`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::Accuracy => "accuracy",
            Metric::PrecisionMacro => "precision_macro",
            Metric::RecallMacro => "recall_macro",
            Metric::F1Macro => "f1_macro",
            Metric::GMean => "g_mean",
            Metric::RocAuc => "roc_auc",
            Metric::PrAuc => "pr_auc",
            Metric::LogLoss => "log_loss",
        }
    }

    /// Whether a larger value ranks first (every metric but a loss).
    pub fn higher_is_better(self) -> bool {
        self != Metric::LogLoss
    }

    /// Whether it scores the decisions (the predicted classes), so moves with a threshold.
    pub fn decided(self) -> bool {
        !matches!(self, Metric::RocAuc | Metric::PrAuc | Metric::LogLoss)
    }

    /// The metric a decision threshold is tuned for when the job ranks by `self`: itself, or
    /// balanced accuracy for a metric of the probabilities (scikit-learn's default).
    pub fn tuned_by(self) -> Metric {
        match self.decided() {
            true => self,
            false => Metric::BalancedAccuracy,
        }
    }

    /// Binary-only metrics (a positive class's curve).
    pub fn needs_two_classes(self) -> bool {
        self == Metric::PrAuc
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialized_names_and_only_the_loss_ranks_ascending() {
        for m in Metric::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.name());
            let back: Metric = serde_json::from_value(serde_json::json!(m.name())).unwrap();
            assert_eq!(back, m);
            assert_eq!(m.higher_is_better(), m.name() != "log_loss");
        }
        assert!(serde_json::from_value::<Metric>(serde_json::json!("speed")).is_err());
    }
}
