//! The training spec (`model`, `optimizer`, `schedule`, `training` blocks of `POST /v1/jobs`):
//! serde types with every default declared where it lives, unknown fields rejected, and
//! `validate` reporting every invalid field with its JSON path at once.

use serde::{Deserialize, Serialize};

pub use super::learning_rate::LearningRate;

pub use super::model_spec::{Activation, AttentionKind, Init, MAX_KERNEL, ModelKind, ModelSpec};

/// One invalid field of a spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

/// The largest learning rate a spec may ask for: beyond it no optimizer here converges.
pub const MAX_LEARNING_RATE: f64 = 10.0;
/// The largest penalty, weight decay or class weight: beyond it the loss is the penalty alone
/// and the first steps overflow.
pub const MAX_PENALTY: f64 = 1e6;

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How to build, optimize and train one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingSpec {
    pub model: ModelSpec,
    pub optimizer: OptimizerSpec,
    pub schedule: ScheduleSpec,
    pub training: TrainingOptions,
}

fn lr_001() -> LearningRate {
    LearningRate::Fixed(0.01)
}
fn lr_0001() -> LearningRate {
    LearningRate::Fixed(0.001)
}
fn lr_1() -> LearningRate {
    LearningRate::Fixed(1.0)
}
fn eps_1e8() -> f64 {
    1e-8
}
fn eps_1e10() -> f64 {
    1e-10
}
fn eps_1e6() -> f64 {
    1e-6
}
fn rho_09() -> f64 {
    0.9
}
fn alpha_099() -> f64 {
    0.99
}
fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn wd_001() -> f64 {
    0.01
}

/// The optimizer, with PyTorch's update rules and defaults (`torch.optim`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    Sgd {
        #[serde(default = "lr_001")]
        learning_rate: LearningRate,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        dampening: f64,
        #[serde(default)]
        nesterov: bool,
        #[serde(default)]
        weight_decay: f64,
    },
    Adagrad {
        #[serde(default = "lr_001")]
        learning_rate: LearningRate,
        #[serde(default = "eps_1e10")]
        epsilon: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    Adadelta {
        #[serde(default = "lr_1")]
        learning_rate: LearningRate,
        #[serde(default = "rho_09")]
        rho: f64,
        #[serde(default = "eps_1e6")]
        epsilon: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    Rmsprop {
        #[serde(default = "lr_001")]
        learning_rate: LearningRate,
        #[serde(default = "alpha_099", alias = "rho")]
        alpha: f64,
        #[serde(default = "eps_1e8")]
        epsilon: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        centered: bool,
        #[serde(default)]
        weight_decay: f64,
    },
    Adam {
        #[serde(default = "lr_0001")]
        learning_rate: LearningRate,
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "eps_1e8")]
        epsilon: f64,
        /// Coupled (L2) weight decay, as `torch.optim.Adam`.
        #[serde(default)]
        weight_decay: f64,
        #[serde(default)]
        amsgrad: bool,
    },
    Adamw {
        #[serde(default = "lr_0001")]
        learning_rate: LearningRate,
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "eps_1e8")]
        epsilon: f64,
        /// Decoupled weight decay, as `torch.optim.AdamW` (default 0.01).
        #[serde(default = "wd_001")]
        weight_decay: f64,
        #[serde(default)]
        amsgrad: bool,
    },
}

/// Adam with its defaults, which the variant's serde defaults state (so they are stated once).
impl Default for OptimizerSpec {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({"kind": "adam"}))
            .expect("adam parses from its defaults")
    }
}

impl OptimizerSpec {
    /// The base rate: a number, or `Auto` until a run's range test chooses it.
    pub fn learning_rate(&self) -> LearningRate {
        match *self {
            OptimizerSpec::Sgd { learning_rate, .. }
            | OptimizerSpec::Adagrad { learning_rate, .. }
            | OptimizerSpec::Adadelta { learning_rate, .. }
            | OptimizerSpec::Rmsprop { learning_rate, .. }
            | OptimizerSpec::Adam { learning_rate, .. }
            | OptimizerSpec::Adamw { learning_rate, .. } => learning_rate,
        }
    }

    /// The same optimizer at the fixed rate `rate` (what a range test chose).
    pub fn with_learning_rate(mut self, rate: f64) -> Self {
        match &mut self {
            OptimizerSpec::Sgd { learning_rate, .. }
            | OptimizerSpec::Adagrad { learning_rate, .. }
            | OptimizerSpec::Adadelta { learning_rate, .. }
            | OptimizerSpec::Rmsprop { learning_rate, .. }
            | OptimizerSpec::Adam { learning_rate, .. }
            | OptimizerSpec::Adamw { learning_rate, .. } => *learning_rate = rate.into(),
        }
        self
    }
}

/// Per-epoch learning rate: a linear warmup, then a decay (PyTorch's `lr_scheduler` semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSpec {
    /// Epochs of linear warmup from `warmup_start_factor` × lr to lr. Default 0.
    pub warmup_epochs: u64,
    /// Factor of the first warmup epoch (`LinearLR`'s `start_factor`). Default 1/3.
    pub warmup_start_factor: f64,
    pub decay: Decay,
    /// `step`: epochs between decays. Default 10.
    pub step_epochs: u64,
    /// `step` and `exponential`: the factor. Default 0.1 for step, 0.95 for exponential.
    pub gamma: Option<f64>,
    /// `cosine`: the floor. Default 0.
    pub min_learning_rate: f64,
}

impl Default for ScheduleSpec {
    fn default() -> Self {
        Self {
            warmup_epochs: 0,
            warmup_start_factor: 1.0 / 3.0,
            decay: Decay::None,
            step_epochs: 10,
            gamma: None,
            min_learning_rate: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    None,
    Step,
    Exponential,
    Cosine,
}

/// The batch size: a number of rows (1 = online SGD) or the whole training set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchSize {
    Rows(u64),
    Full(FullBatch),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FullBatch {
    Full,
}

/// The training loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingOptions {
    /// Default 50.
    pub epochs: u64,
    /// Default 64.
    pub batch_size: BatchSize,
    /// L1 penalty on weights (not biases), as a subgradient. Default 0.
    pub l1: f64,
    /// L2 penalty on weights (not biases), coupled into the gradient. Default 0.
    pub l2: f64,
    /// Clip the global gradient norm to this. Default off.
    pub clip_grad_norm: Option<f64>,
    /// Clip every gradient element to ±this. Default off.
    pub clip_grad_value: Option<f64>,
    /// `null` turns early stopping off.
    pub early_stopping: Option<EarlyStopping>,
    pub augment: Augment,
    /// Finding kinds that end a run when they reach severity `error` (the run fails, naming
    /// the finding). Default none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_on: Vec<super::finding_kind::Kind>,
    /// Stochastic weight averaging: the run's model is the equal average of its weights (and
    /// batch-norm statistics) at the end of each of its last this many epochs, as
    /// `torch.optim.swa_utils.AveragedModel(use_buffers=True)` updated once an epoch: the last
    /// of the epochs the run is set to train (all of them when it is set to fewer, as a
    /// `{"epochs": "cv"}` final model can be). A run that stops before them keeps its last
    /// weights. Default off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swa_epochs: Option<u64>,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        Self {
            epochs: 50,
            batch_size: BatchSize::Rows(64),
            l1: 0.0,
            l2: 0.0,
            clip_grad_norm: None,
            clip_grad_value: None,
            early_stopping: Some(EarlyStopping::default()),
            augment: Augment::default(),
            stop_on: Vec::new(),
            swa_epochs: None,
        }
    }
}

/// Stop when the monitored inner-validation value has not improved for `patience` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    /// `val_loss` (lower is better) or `val_accuracy` (higher is better). Default `val_loss`.
    pub monitor: String,
    /// Default 5.
    pub patience: u64,
    /// Smallest change that counts as an improvement. Default 0.
    pub min_delta: f64,
    /// Return the best epoch's weights. Default true.
    pub restore_best: bool,
    /// Share of the training rows held out (stratified) to monitor. Default 0.1.
    pub validation_fraction: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            monitor: "val_loss".into(),
            patience: 5,
            min_delta: 0.0,
            restore_best: true,
            validation_fraction: 0.1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Augment {
    /// Std of gaussian noise added to training inputs each batch. Default 0.
    pub gaussian_noise: f64,
}
