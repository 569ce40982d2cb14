//! What runs and jobs produce, as types: a run's stored result, the per-fold entries, the
//! job's summary and leaderboard, and a run's kind and state. Serialized here, in one shape,
//! for the store and the API alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::learning_rate::RateRange;
use super::search::asha::RungLoss;

use super::final_model::CvEpochs;
use super::job::Strategy;
use super::metric::Metric;
use crate::engine::data::encode::Encoding;
use crate::engine::eval::scores::Scores;
use crate::engine::eval::summary::Stat;
use crate::engine::train::history::Stop;

/// Per metric, its statistics across folds (`{"balanced_accuracy": {"mean", …}}`).
pub type Summary = BTreeMap<String, Stat>;

/// What a run is: one fold of one repeat, or the final model on every non-test row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Fold,
    Final,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Fold => "fold",
            RunKind::Final => "final",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fold" => Some(RunKind::Fold),
            "final" => Some(RunKind::Final),
            _ => None,
        }
    }
}

/// Where a run is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(RunState::Queued),
            "running" => Some(RunState::Running),
            "succeeded" => Some(RunState::Succeeded),
            "failed" => Some(RunState::Failed),
            "cancelled" => Some(RunState::Cancelled),
            _ => None,
        }
    }

    /// Whether the run will not change again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }
}

/// A finished run's stored result: its scores, best epoch and the class counts that are the
/// audit trail (only the fold's training part was used; what resampling made of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub strategy: Strategy,
    /// The model variant (index into a `model` list; 0 for one model).
    #[serde(default)]
    pub variant: usize,
    pub best_epoch: u64,
    pub stop: Stop,
    pub epochs_run: u64,
    /// `None` for a final model without a test set.
    pub metrics: Option<Scores>,
    pub train_class_counts: Vec<u64>,
    /// Class counts of the held-out rows (never resampled).
    pub validation_class_counts: Vec<u64>,
    /// What the model trained on after resampling (an ensemble's first member).
    pub resampled_class_counts: Vec<u64>,
    /// Ensembles: each member's class counts.
    pub member_class_counts: Option<Vec<Vec<u64>>>,
    /// The loss weight of each class (the engine's f32 values, widened exactly).
    pub class_weights: Vec<f64>,
    /// The feature encoding fitted on the fold; left out of summaries (it grows with the
    /// categories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// A final model trained for the folds' epochs: how many, from which best epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_epochs: Option<CvEpochs>,
    /// A halving search's run: its held-out loss at each rung it reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rung_losses: Vec<RungLoss>,
    /// `optimizer.learning_rate: "auto"`: the range test that chose the run's rate (its
    /// curve only in full results: `GET /v1/jobs/{id}/lr_range.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_range: Option<RateRange>,
    /// A `{"epochs": "fold_loss"}` final model: the training loss it trained to (its folds'
    /// median); `stop` says whether it got there (`reached_loss`) or ran its epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_target: Option<f64>,
}

impl RunResult {
    /// Without what only full readers need: the confusion matrix and the encoding, which grow
    /// with the classes and categories (a 1,000-class run's result is megabytes).
    pub fn summarized(mut self) -> Self {
        self.encoding = None;
        if let Some(r) = &mut self.rate_range {
            r.points = Vec::new();
        }
        if let Some(m) = &mut self.metrics {
            m.confusion_matrix = Vec::new();
        }
        self
    }
}

/// A variant of a job: one of its models with one of its strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Variant {
    pub model: usize,
    pub strategy: Strategy,
}

impl Variant {
    pub fn of(r: &RunResult) -> Self {
        Variant {
            model: r.variant,
            strategy: r.strategy,
        }
    }
}

/// The job's variants in spec order: each model with each strategy.
pub fn variants(spec: &super::job::JobSpec) -> Vec<Variant> {
    let strategies = spec.imbalance.strategy.list();
    (0..spec.variant_count())
        .flat_map(|model| {
            strategies
                .iter()
                .map(move |&strategy| Variant { model, strategy })
        })
        .collect()
}

/// Whether the job compares variants (a list of models or of strategies): it has a leaderboard.
pub fn is_comparison(spec: &super::job::JobSpec) -> bool {
    spec.has_model_variants() || spec.imbalance.strategy.is_comparison()
}

/// One fold's entry in a job's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldResult<'a> {
    pub run_id: &'a str,
    pub strategy: Strategy,
    pub variant: usize,
    pub fold: Option<u32>,
    pub repeat: Option<u32>,
    pub best_epoch: u64,
    pub train_class_counts: &'a [u64],
    pub validation_class_counts: &'a [u64],
    pub resampled_class_counts: &'a [u64],
    pub member_class_counts: &'a Option<Vec<Vec<u64>>>,
    pub class_weights: &'a [f64],
    pub metrics: &'a Option<Scores>,
}

/// One variant's place on a comparison's leaderboard: a model (index into a `model` list) with
/// a strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    pub rank: usize,
    pub strategy: Strategy,
    pub variant: usize,
    /// The variant's model, when the job compares models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<super::spec::ModelSpec>,
    /// The metric ranked by, and its mean and std across the strategy's folds (`None`: no
    /// finished folds).
    pub metric: Metric,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub folds: usize,
    pub summary: Summary,
    /// What the variant is, in words: the model's description (when the job compares models)
    /// and the strategy, e.g. `mlp 64-64 relu · smote`.
    #[serde(default)]
    pub description: String,
    /// Epochs its fold runs trained, summed.
    #[serde(default)]
    pub epochs: u64,
    /// A halving search: the rung's epoch where the search stopped it (`None`: it trained to
    /// its end, or early stopping ended it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted_at: Option<u64>,
    /// A halving search: its mean held-out loss over folds at each rung all its folds reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rungs: Vec<RungLoss>,
    /// `imbalance.threshold: "tuned"`: its decision threshold and the folds' scores there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<TunedThreshold>,
}

/// A binary decision threshold tuned on a variant's out-of-fold predictions
/// (`engine::eval::threshold`): what its final model predicts with, the metric it maximizes,
/// and the statistics of every fold's scores at the threshold tuned on the other folds (an
/// estimate no fold's own labels chose; the probabilities' metrics equal the argmax's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedThreshold {
    pub value: f64,
    pub metric: Metric,
    pub summary: Summary,
}

impl Standing {
    /// The variant it ranks.
    pub fn variant_of(&self) -> Variant {
        Variant {
            model: self.variant,
            strategy: self.strategy,
        }
    }

    /// What it is in words: the description stored with it (a search's trial values), else
    /// one made from its model and strategy.
    pub fn described(&self) -> String {
        match self.description.is_empty() {
            true => self.describe(),
            false => self.description.clone(),
        }
    }

    /// Its description from its model and strategy.
    pub fn describe(&self) -> String {
        match &self.model {
            Some(m) => format!("{} · {}", m.describe(), self.strategy.as_str()),
            None => self.strategy.as_str().to_owned(),
        }
    }
}

impl JobResults {
    /// The results with every leaderboard row described (rows stored before descriptions were
    /// kept get theirs here).
    pub fn described(mut self) -> Self {
        for row in self.leaderboard.iter_mut().flatten() {
            if row.description.is_empty() {
                row.description = row.describe();
            }
        }
        self
    }
}

/// What a job's runs add up to beside its summary, computed when it settles and stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobResults {
    /// Every out-of-fold prediction (a comparison's leader's) scored as one set.
    pub pooled: Option<Scores>,
    /// The final model on the test set.
    pub test: Option<Scores>,
    pub leaderboard: Option<Vec<Standing>>,
    /// `final_model: {"epochs": "cv"}`: the final model's epochs and the folds' best epochs.
    pub final_epochs: Option<CvEpochs>,
    /// `imbalance.threshold: "tuned"`: the threshold of the variant the final model trains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<TunedThreshold>,
}

/// How a job ended, as settling it records.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    Succeeded {
        summary: Option<Summary>,
        results: Box<JobResults>,
    },
    /// A run failed: its error.
    Failed(Option<String>),
    Cancelled,
}

/// `GET /v1/jobs/{id}/metrics`. The folds are already-serialized `FoldResult`s, written out one
/// run at a time so a job's confusion matrices are never all in memory at once.
#[derive(Debug, Serialize)]
pub struct JobMetrics {
    pub status: super::job::JobStatus,
    pub folds: Vec<Box<serde_json::value::RawValue>>,
    pub summary: Option<Summary>,
    pub pooled: Option<Scores>,
    pub test: Option<Scores>,
    pub leaderboard: Option<Vec<Standing>>,
    /// `final_model: {"epochs": "cv"}`: the final model's epochs and the folds' best epochs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_epochs: Option<CvEpochs>,
    /// `imbalance.threshold: "tuned"`: the threshold of the variant the final model trains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<TunedThreshold>,
    /// Nested cross-validation: each outer fold's selection and scores, and their optimism.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nested: Option<super::nested::Nested>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result as the untyped code stored it (class weights widened to f64, `roc_auc` left out
    /// when undefined) reads back and writes out unchanged but for its variant.
    #[test]
    fn a_stored_result_reads_and_writes_back_unchanged() {
        let stored = r#"{"strategy":"class_weight","best_epoch":4,"stop":"early_stopped","epochs_run":9,"metrics":{"accuracy":0.934763948497854,"balanced_accuracy":0.5039465101108936,"precision_macro":0.5326815038893691,"recall_macro":0.5039465101108936,"f1_macro":0.49594662294484676,"g_mean":0.11914021187156351,"pr_auc":0.14572085623806033,"log_loss":0.21895643856280594,"confusion_matrix":[[1088,7],[69,1]]},"train_class_counts":[4379,278],"validation_class_counts":[1095,70],"resampled_class_counts":[4379,278],"member_class_counts":null,"class_weights":[0.5317423939704895,8.375899314880371]}"#;
        let result: RunResult = serde_json::from_str(stored).unwrap();
        assert_eq!(result.strategy, Strategy::ClassWeight);
        assert_eq!(result.stop, Stop::EarlyStopped);
        let m = result.metrics.as_ref().unwrap();
        assert_eq!((m.roc_auc, m.pr_auc), (None, Some(0.14572085623806033)));
        assert_eq!(result.class_weights[0] as f32, 0.5317424f32);
        let written = serde_json::to_value(&result).unwrap();
        let mut original: serde_json::Value = serde_json::from_str(stored).unwrap();
        // Results stored before model comparisons gain their variant: the only model, 0.
        assert_eq!(result.variant, 0);
        original["variant"] = serde_json::json!(0);
        assert_eq!(written, original);
        // A summary drops what grows with the classes and categories.
        let summary = serde_json::to_value(result.summarized()).unwrap();
        assert!(summary["metrics"].get("confusion_matrix").is_none());
        assert!(summary.get("encoding").is_none());
    }
}
