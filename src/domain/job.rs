//! The job spec of `POST /v1/jobs`: which dataset, the training spec blocks, validation,
//! imbalance handling, the final model and the seed. Unknown fields are rejected.

use serde::{Deserialize, Serialize};

pub use super::final_model::FinalModel;
pub use super::init::InitSpec;
use super::metric::Metric;
pub use super::model_choice::ModelChoice;
pub use super::pretrain::PretrainSpec;
pub use super::search::SearchSpec;
use super::spec::{OptimizerSpec, ScheduleSpec, TrainingOptions};
pub use super::validation::ValidationSpec;

/// A training job as submitted (every default filled in once resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub dataset_id: String,
    /// The label column: any column of the upload with at least two classes; default: the
    /// one it was uploaded with.
    #[serde(default)]
    pub label: Option<String>,
    /// With another `label` than the upload's: leave out the rows where it is missing (else
    /// they are a 422). Default false.
    #[serde(default)]
    pub drop_missing_label: bool,
    /// Feature columns; default (`null`): every column but the label.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// One model, or a list to compare on the same folds (each a variant).
    #[serde(default)]
    pub model: ModelChoice,
    #[serde(default)]
    pub optimizer: OptimizerSpec,
    #[serde(default)]
    pub schedule: ScheduleSpec,
    #[serde(default)]
    pub training: TrainingOptions,
    #[serde(default)]
    pub validation: ValidationSpec,
    #[serde(default)]
    pub imbalance: ImbalanceSpec,
    /// Also train one model on all (non-test) rows, for prediction, for its own early-stopped
    /// epochs or the folds' (`{"epochs": "cv"}`). Default true.
    #[serde(default)]
    pub final_model: FinalModel,
    #[serde(default)]
    pub seed: u64,
    /// Fine-tuning: every run starts from this earlier model's weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitSpec>,
    /// Greedy layer-wise autoencoder pretraining of the hidden layers before training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<PretrainSpec>,
    /// A search: its trials are the job's variants (with one model, not a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchSpec>,
}

/// Class-imbalance handling, applied to each fold's training rows only. Defaults:
/// `impl Default` (the one place they are stated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImbalanceSpec {
    /// One strategy, or a list to compare on the same folds.
    pub strategy: StrategyChoice,
    /// Samplers: minority/majority after resampling. Default 1.0 (balanced).
    pub sampling_ratio: f64,
    /// `oversample`: smoothed-bootstrap shrinkage of the copies (imbalanced-learn's
    /// `RandomOverSampler(shrinkage)`); 0 copies rows exactly. Default 0.
    pub jitter: f64,
    /// `smote`: neighbours to interpolate towards. Default 5.
    pub k_neighbors: u64,
    /// `nearmiss`: 1, 2 or 3. Default 1.
    pub version: u8,
    /// `nearmiss`: minority neighbours scored per row. Default 3.
    pub n_neighbors: u64,
    /// `nearmiss` version 3: majority neighbours kept per minority row. Default 3.
    pub n_neighbors_ver3: u64,
    /// `class_weight`: `"balanced"` (scikit-learn's n / (k · count_c), from each fold's
    /// training rows) or a map of class → weight (classes left out weigh 1).
    pub class_weights: ClassWeights,
    /// `easy_ensemble` and `balance_cascade`: members (rounds). Default 10.
    pub n_subsets: u64,
    /// A list of strategies: the metric the leaderboard ranks them by. Default
    /// `balanced_accuracy`.
    pub rank_by: Metric,
    /// Map predictions back to the training rows' class priors after resampling or class
    /// weights (`engine::imbalance::priors`). Default false.
    pub correct_probabilities: bool,
    /// Two classes: how probabilities become a class, the argmax (default) or a threshold
    /// tuned on the out-of-fold predictions (`engine::eval::threshold`).
    pub threshold: DecisionThreshold,
}

/// How a binary model's probabilities become a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionThreshold {
    /// The most probable class (a threshold of 0.5).
    #[default]
    Argmax,
    /// Class 1 where its probability reaches the threshold that maximizes the job's metric
    /// (`Metric::tuned_by`) on the out-of-fold predictions.
    Tuned,
}

impl Default for ImbalanceSpec {
    fn default() -> Self {
        Self {
            strategy: StrategyChoice::default(),
            sampling_ratio: 1.0,
            jitter: 0.0,
            k_neighbors: 5,
            version: 1,
            n_neighbors: 3,
            n_neighbors_ver3: 3,
            class_weights: ClassWeights::default(),
            n_subsets: 10,
            rank_by: Metric::BalancedAccuracy,
            correct_probabilities: false,
            threshold: DecisionThreshold::Argmax,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    None,
    /// scikit-learn's "balanced" weights, from each fold's training rows.
    ClassWeight,
    /// Random over-sampling with replacement (optionally jittered).
    Oversample,
    /// Random under-sampling of the larger classes.
    Undersample,
    /// SMOTE: interpolated minority rows.
    Smote,
    /// NearMiss under-sampling (version 1, 2 or 3).
    Nearmiss,
    /// `n_subsets` models on balanced random under-samples, probabilities averaged.
    EasyEnsemble,
    /// `n_subsets` rounds; each drops the larger classes' rows the ensemble gets right.
    BalanceCascade,
    /// An autoencoder on the majority class; reconstruction error scores the minority.
    OneClass,
}

impl Strategy {
    /// Trains models of its own (an ensemble's members, one-class's autoencoder) rather than
    /// the spec's one network end to end.
    pub fn trains_members(self) -> bool {
        matches!(
            self,
            Strategy::EasyEnsemble | Strategy::BalanceCascade | Strategy::OneClass
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::ClassWeight => "class_weight",
            Strategy::Oversample => "oversample",
            Strategy::Undersample => "undersample",
            Strategy::Smote => "smote",
            Strategy::Nearmiss => "nearmiss",
            Strategy::EasyEnsemble => "easy_ensemble",
            Strategy::BalanceCascade => "balance_cascade",
            Strategy::OneClass => "one_class",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub const ALL: [Strategy; 9] = [
        Strategy::None,
        Strategy::ClassWeight,
        Strategy::Oversample,
        Strategy::Undersample,
        Strategy::Smote,
        Strategy::Nearmiss,
        Strategy::EasyEnsemble,
        Strategy::BalanceCascade,
        Strategy::OneClass,
    ];
}

impl ImbalanceSpec {
    /// Models a run of `strategy` trains one after another (ensembles: `n_subsets`).
    pub fn members(&self, strategy: Strategy) -> u64 {
        match strategy {
            Strategy::EasyEnsemble | Strategy::BalanceCascade => self.n_subsets,
            _ => 1,
        }
    }

    /// The most models any of the job's strategies trains per run (a comparison's final run
    /// trains the winner, not known in advance).
    pub fn max_members(&self) -> u64 {
        self.strategy
            .list()
            .into_iter()
            .map(|s| self.members(s))
            .max()
            .unwrap_or(1)
    }
}

/// The loss weights of `class_weight`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ClassWeights {
    Keyword(WeightKeyword),
    /// Class value (as in the dataset's `classes`) → weight.
    Map(std::collections::BTreeMap<String, f64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightKeyword {
    Balanced,
}

impl<'de> Deserialize<'de> for ClassWeights {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        if v.as_str() == Some("balanced") {
            return Ok(ClassWeights::Keyword(WeightKeyword::Balanced));
        }
        serde_json::from_value(v)
            .map(ClassWeights::Map)
            .map_err(|_| {
                D::Error::custom("\"balanced\", or an object of class value → weight (a number)")
            })
    }
}

impl Default for ClassWeights {
    fn default() -> Self {
        ClassWeights::Keyword(WeightKeyword::Balanced)
    }
}

/// `"strategy": "smote"` or `"strategy": ["none", "smote", …]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StrategyChoice {
    One(Strategy),
    Many(Vec<Strategy>),
}

/// By hand, so a bad name is reported as such (an untagged enum only says that nothing matched).
impl<'de> Deserialize<'de> for StrategyChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let one = |v: &serde_json::Value| -> Result<Strategy, D::Error> {
            let name = v.as_str().ok_or_else(|| {
                D::Error::custom(format!("{v} is not a strategy name (a string)"))
            })?;
            Strategy::parse(name).ok_or_else(|| {
                let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
                D::Error::custom(format!(
                    "unknown strategy {name:?}; one of {}",
                    names.join(", ")
                ))
            })
        };
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Array(list) => list
                .iter()
                .map(one)
                .collect::<Result<_, _>>()
                .map(StrategyChoice::Many),
            v => one(&v).map(StrategyChoice::One),
        }
    }
}

impl Default for StrategyChoice {
    fn default() -> Self {
        StrategyChoice::One(Strategy::None)
    }
}

impl StrategyChoice {
    /// The strategies, in the order given.
    pub fn list(&self) -> Vec<Strategy> {
        match self {
            StrategyChoice::One(s) => vec![*s],
            StrategyChoice::Many(v) => v.clone(),
        }
    }

    /// Whether this is a comparison (a list), which gets a leaderboard.
    pub fn is_comparison(&self) -> bool {
        matches!(self, StrategyChoice::Many(_))
    }
}

/// The job's result states, and the states in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Cancelling,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Cancelling,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Cancelling => "cancelling",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::spec::TrainingSpec;

    /// Each block's defaults are stated once, in `impl Default`; what serde fills in for an
    /// absent block or field is that value (a second list of defaults would drift from it).
    #[test]
    fn absent_fields_take_the_one_stated_default() {
        let spec = JobSpec::from_json(json!({"dataset_id": "d"})).unwrap();
        assert_eq!(spec.validation, ValidationSpec::default());
        assert_eq!(spec.imbalance, ImbalanceSpec::default());
        assert_eq!(spec.optimizer, OptimizerSpec::default());
        assert_eq!(spec.training_spec(0), TrainingSpec::default());
        assert_eq!(spec.final_model, FinalModel::Own);
        let empty = |v| JobSpec::from_json(json!({"dataset_id": "d", "validation": v}));
        assert_eq!(
            empty(json!({})).unwrap().validation,
            ValidationSpec::default()
        );
        let im: ImbalanceSpec = serde_json::from_value(json!({"strategy": "smote"})).unwrap();
        assert_eq!(
            (im.k_neighbors, im.n_subsets, im.rank_by),
            (5, 10, Metric::BalancedAccuracy)
        );
        let adam: OptimizerSpec = serde_json::from_value(json!({"kind": "adam"})).unwrap();
        assert_eq!(adam, OptimizerSpec::default());
        assert_eq!(adam.learning_rate(), 0.001.into());
    }
}
