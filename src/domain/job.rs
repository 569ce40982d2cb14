//! The job spec of `POST /v1/jobs`: which dataset, the training spec blocks, validation,
//! imbalance handling, the final model and the seed. Unknown fields are rejected.

use serde::{Deserialize, Serialize};

use super::spec::{
    ModelSpec, OptimizerSpec, ScheduleSpec, SpecError, TrainingOptions, TrainingSpec,
};
use crate::config::Limits;

fn yes() -> bool {
    true
}
fn five() -> u64 {
    5
}
fn one() -> u64 {
    1
}

/// A training job as submitted (every default filled in once resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub dataset_id: String,
    /// The label column; default: the dataset's.
    #[serde(default)]
    pub label: Option<String>,
    /// Feature columns; default (`null`): every column but the label.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub model: ModelSpec,
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
    /// Also train one model on all (non-test) rows, for prediction. Default true.
    #[serde(default = "yes")]
    pub final_model: bool,
    #[serde(default)]
    pub seed: u64,
}

/// Cross-validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationSpec {
    /// Default 5.
    #[serde(default = "five")]
    pub folds: u64,
    /// Only stratified folds are offered. Default true.
    #[serde(default = "yes")]
    pub stratified: bool,
    /// Repetitions with different shuffles. Default 1.
    #[serde(default = "one")]
    pub repeats: u64,
    /// Share of rows (stratified) held out before the folds, never seen by any fold, and scored
    /// once with the final model (which this turns on). Default 0: no test set.
    #[serde(default)]
    pub test_fraction: f64,
}

impl Default for ValidationSpec {
    fn default() -> Self {
        Self {
            folds: 5,
            stratified: true,
            repeats: 1,
            test_fraction: 0.0,
        }
    }
}

fn ratio_one() -> f64 {
    1.0
}
fn k_five() -> u64 {
    5
}
fn three() -> u64 {
    3
}
fn version_one() -> u8 {
    1
}
fn ten() -> u64 {
    10
}
fn balanced_accuracy() -> String {
    "balanced_accuracy".into()
}

/// The metrics a leaderboard can rank by; `log_loss` ranks ascending, the others descending.
pub const RANKABLE: [&str; 9] = [
    "balanced_accuracy",
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "g_mean",
    "roc_auc",
    "pr_auc",
    "log_loss",
];

/// Class-imbalance handling, applied to each fold's training rows only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImbalanceSpec {
    /// One strategy, or a list to compare on the same folds.
    #[serde(default)]
    pub strategy: StrategyChoice,
    /// Samplers: minority/majority after resampling. Default 1.0 (balanced).
    #[serde(default = "ratio_one")]
    pub sampling_ratio: f64,
    /// `oversample`: smoothed-bootstrap shrinkage of the copies (imbalanced-learn's
    /// `RandomOverSampler(shrinkage)`); 0 copies rows exactly. Default 0.
    #[serde(default)]
    pub jitter: f64,
    /// `smote`: neighbours to interpolate towards. Default 5.
    #[serde(default = "k_five")]
    pub k_neighbors: u64,
    /// `nearmiss`: 1, 2 or 3. Default 1.
    #[serde(default = "version_one")]
    pub version: u8,
    /// `nearmiss`: minority neighbours scored per row. Default 3.
    #[serde(default = "three")]
    pub n_neighbors: u64,
    /// `nearmiss` version 3: majority neighbours kept per minority row. Default 3.
    #[serde(default = "three")]
    pub n_neighbors_ver3: u64,
    /// `class_weight`: `"balanced"` (scikit-learn's n / (k · count_c), from each fold's
    /// training rows) or a map of class → weight (classes left out weigh 1).
    #[serde(default)]
    pub class_weights: ClassWeights,
    /// `easy_ensemble` and `balance_cascade`: members (rounds). Default 10.
    #[serde(default = "ten")]
    pub n_subsets: u64,
    /// A list of strategies: the metric the leaderboard ranks them by. Default
    /// `balanced_accuracy`.
    #[serde(default = "balanced_accuracy")]
    pub rank_by: String,
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
            rank_by: balanced_accuracy(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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

impl JobSpec {
    /// Parses JSON; a type error or unknown field is reported with its path.
    pub fn from_json(value: serde_json::Value) -> Result<Self, Vec<SpecError>> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            vec![SpecError {
                field: if path == "." { String::new() } else { path },
                message: e.inner().to_string(),
            }]
        })
    }

    /// The engine's part of the spec.
    pub fn training_spec(&self) -> TrainingSpec {
        TrainingSpec {
            model: self.model.clone(),
            optimizer: self.optimizer.clone(),
            schedule: self.schedule.clone(),
            training: self.training.clone(),
        }
    }

    /// Every problem that does not need the dataset, each with its JSON path.
    pub fn validate(&self, limits: &Limits) -> Vec<SpecError> {
        let mut errors = self.training_spec().validate(limits);
        let v = &self.validation;
        if v.folds < 2 || v.folds > limits.max_folds {
            errors.push(SpecError {
                field: "validation.folds".into(),
                message: format!("from 2 to {} (max_folds)", limits.max_folds),
            });
        }
        if !v.stratified {
            errors.push(SpecError {
                field: "validation.stratified".into(),
                message: "only stratified folds are offered".into(),
            });
        }
        if v.repeats == 0 || v.repeats > 10 {
            errors.push(SpecError {
                field: "validation.repeats".into(),
                message: "from 1 to 10".into(),
            });
        }
        let im = &self.imbalance;
        if !(im.sampling_ratio > 0.0 && im.sampling_ratio <= 1.0) {
            errors.push(SpecError {
                field: "imbalance.sampling_ratio".into(),
                message: "in (0, 1]: minority/majority after resampling".into(),
            });
        }
        if !(im.jitter >= 0.0 && im.jitter.is_finite()) {
            errors.push(SpecError {
                field: "imbalance.jitter".into(),
                message: "must be ≥ 0".into(),
            });
        }
        if im.k_neighbors == 0 || im.n_neighbors == 0 || im.n_neighbors_ver3 == 0 {
            errors.push(SpecError {
                field: "imbalance.k_neighbors".into(),
                message: "neighbour counts must be at least 1".into(),
            });
        }
        if !(1..=3).contains(&im.version) {
            errors.push(SpecError {
                field: "imbalance.version".into(),
                message: "NearMiss version 1, 2 or 3".into(),
            });
        }
        let strategies = im.strategy.list();
        if strategies.is_empty() || strategies.len() > 9 {
            errors.push(SpecError {
                field: "imbalance.strategy".into(),
                message: "one strategy, or a list of 1 to 9 different ones".into(),
            });
        }
        if let Some(dup) = strategies
            .iter()
            .enumerate()
            .find(|(i, s)| strategies[..*i].contains(s))
        {
            errors.push(SpecError {
                field: "imbalance.strategy".into(),
                message: format!("{} is listed twice", dup.1.as_str()),
            });
        }
        if let ClassWeights::Map(m) = &im.class_weights
            && let Some((class, w)) = m
                .iter()
                .find(|(_, w)| !(**w > 0.0 && **w <= super::spec::MAX_PENALTY))
        {
            errors.push(SpecError {
                field: format!("imbalance.class_weights.{class}"),
                message: format!(
                    "{w} is not a weight: > 0 and at most {:e}",
                    super::spec::MAX_PENALTY
                ),
            });
        }
        if im.n_subsets == 0 || im.n_subsets > 100 {
            errors.push(SpecError {
                field: "imbalance.n_subsets".into(),
                message: "from 1 to 100".into(),
            });
        }
        if !RANKABLE.contains(&im.rank_by.as_str()) {
            errors.push(SpecError {
                field: "imbalance.rank_by".into(),
                message: format!("one of {}", RANKABLE.join(", ")),
            });
        }
        if !(0.0..=0.5).contains(&v.test_fraction) {
            errors.push(SpecError {
                field: "validation.test_fraction".into(),
                message: "from 0 (no test set) to 0.5".into(),
            });
        }
        errors
    }
}
