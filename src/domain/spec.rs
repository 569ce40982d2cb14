//! The training spec (`model`, `optimizer`, `schedule`, `training` blocks of `POST /v1/jobs`):
//! serde types with every default declared where it lives, unknown fields rejected, and
//! `validate` reporting every invalid field with its JSON path at once.

use serde::{Deserialize, Serialize};

use crate::config::Limits;

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

fn err(field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_owned(),
        message: message.into(),
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

/// A multi-layer perceptron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    /// Only `mlp` for now.
    pub kind: ModelKind,
    /// Widths of the hidden layers, input to output. Default `[64, 64]`.
    pub hidden_layers: Vec<u64>,
    /// Default `relu`.
    pub activation: Activation,
    /// Batch normalization after each hidden linear layer. Default off.
    pub batch_norm: bool,
    /// Identity (or projected) skip around each hidden layer. Default off.
    pub residual: bool,
    /// Dropout after each hidden activation, in training only. Default 0.
    pub dropout: f64,
    /// Dropout on the inputs, in training only. Default 0.
    pub input_dropout: f64,
    /// Default `auto`: He for the ReLU family, Xavier for sigmoid and tanh.
    pub init: Init,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            kind: ModelKind::Mlp,
            hidden_layers: vec![64, 64],
            activation: Activation::Relu,
            batch_norm: false,
            residual: false,
            dropout: 0.0,
            input_dropout: 0.0,
            init: Init::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Mlp,
}

/// Hidden-layer activation. leaky_relu has slope 0.01, elu alpha 1, gelu is the exact erf form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    LeakyRelu,
    Elu,
    Gelu,
    Sigmoid,
    Tanh,
}

impl Activation {
    /// Whether He initialization suits it (the ReLU family).
    pub fn is_relu_family(self) -> bool {
        matches!(
            self,
            Activation::Relu | Activation::LeakyRelu | Activation::Elu | Activation::Gelu
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    Auto,
    He,
    Xavier,
}

fn lr_001() -> f64 {
    0.01
}
fn lr_0001() -> f64 {
    0.001
}
fn lr_1() -> f64 {
    1.0
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
        learning_rate: f64,
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
        learning_rate: f64,
        #[serde(default = "eps_1e10")]
        epsilon: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    Adadelta {
        #[serde(default = "lr_1")]
        learning_rate: f64,
        #[serde(default = "rho_09")]
        rho: f64,
        #[serde(default = "eps_1e6")]
        epsilon: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    Rmsprop {
        #[serde(default = "lr_001")]
        learning_rate: f64,
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
        learning_rate: f64,
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
        learning_rate: f64,
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

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec::Adam {
            learning_rate: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

impl OptimizerSpec {
    pub fn learning_rate(&self) -> f64 {
        match *self {
            OptimizerSpec::Sgd { learning_rate, .. }
            | OptimizerSpec::Adagrad { learning_rate, .. }
            | OptimizerSpec::Adadelta { learning_rate, .. }
            | OptimizerSpec::Rmsprop { learning_rate, .. }
            | OptimizerSpec::Adam { learning_rate, .. }
            | OptimizerSpec::Adamw { learning_rate, .. } => learning_rate,
        }
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

impl TrainingSpec {
    /// Parses JSON; a type error or unknown field is reported with its path.
    pub fn from_json(value: serde_json::Value) -> Result<Self, Vec<SpecError>> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            vec![err(
                if path == "." { "" } else { &path },
                e.inner().to_string(),
            )]
        })
    }

    /// Every semantic problem at once, each with its JSON path.
    pub fn validate(&self, limits: &Limits) -> Vec<SpecError> {
        let mut errors = Vec::new();
        let m = &self.model;
        if m.hidden_layers.len() as u64 > limits.max_hidden_layers {
            errors.push(err(
                "model.hidden_layers",
                format!(
                    "at most {} hidden layers (max_hidden_layers)",
                    limits.max_hidden_layers
                ),
            ));
        }
        // Widths are checked only within the layer limit: a million bad widths are one error.
        let checked = (limits.max_hidden_layers as usize).min(m.hidden_layers.len());
        for (i, &w) in m.hidden_layers[..checked].iter().enumerate() {
            if w == 0 || w > limits.max_layer_width {
                errors.push(err(
                    &format!("model.hidden_layers[{i}]"),
                    format!(
                        "a width from 1 to {} (max_layer_width)",
                        limits.max_layer_width
                    ),
                ));
            }
        }
        for (field, p) in [
            ("model.dropout", m.dropout),
            ("model.input_dropout", m.input_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                errors.push(err(field, "a probability in [0, 1)"));
            }
        }
        self.validate_optimizer(&mut errors);
        let s = &self.schedule;
        if !(s.warmup_start_factor > 0.0 && s.warmup_start_factor <= 1.0) {
            errors.push(err("schedule.warmup_start_factor", "must be in (0, 1]"));
        }
        if s.decay == Decay::Step && s.step_epochs == 0 {
            errors.push(err("schedule.step_epochs", "must be at least 1"));
        }
        if let Some(g) = s.gamma
            && !(g > 0.0 && g <= 1.0)
        {
            errors.push(err("schedule.gamma", "must be in (0, 1]"));
        }
        if !(s.min_learning_rate >= 0.0
            && s.min_learning_rate <= self.optimizer.learning_rate().clamp(0.0, MAX_LEARNING_RATE))
        {
            errors.push(err(
                "schedule.min_learning_rate",
                "must be ≥ 0 and at most optimizer.learning_rate",
            ));
        }
        let t = &self.training;
        if t.epochs == 0 || t.epochs > limits.max_epochs {
            errors.push(err(
                "training.epochs",
                format!("from 1 to {} (max_epochs)", limits.max_epochs),
            ));
        }
        if t.batch_size == BatchSize::Rows(0) {
            errors.push(err("training.batch_size", "at least 1, or \"full\""));
        }
        for (field, v) in [("training.l1", t.l1), ("training.l2", t.l2)] {
            if !(0.0..=MAX_PENALTY).contains(&v) {
                errors.push(err(field, format!("from 0 to {MAX_PENALTY:e}")));
            }
        }
        for (field, v) in [
            ("training.clip_grad_norm", t.clip_grad_norm),
            ("training.clip_grad_value", t.clip_grad_value),
        ] {
            if let Some(v) = v
                && !(v > 0.0 && v.is_finite())
            {
                errors.push(err(field, "must be > 0, or null"));
            }
        }
        if let Some(es) = &t.early_stopping {
            if es.monitor != "val_loss" && es.monitor != "val_accuracy" {
                errors.push(err(
                    "training.early_stopping.monitor",
                    "val_loss or val_accuracy",
                ));
            }
            if es.patience == 0 {
                errors.push(err("training.early_stopping.patience", "at least 1"));
            }
            if !(es.min_delta >= 0.0 && es.min_delta.is_finite()) {
                errors.push(err("training.early_stopping.min_delta", "must be ≥ 0"));
            }
            if !(es.validation_fraction > 0.0 && es.validation_fraction <= 0.5) {
                errors.push(err(
                    "training.early_stopping.validation_fraction",
                    "must be in (0, 0.5]",
                ));
            }
        }
        if !(0.0..=MAX_PENALTY).contains(&t.augment.gaussian_noise) {
            errors.push(err(
                "training.augment.gaussian_noise",
                format!("from 0 to {MAX_PENALTY:e}"),
            ));
        }
        errors
    }

    fn validate_optimizer(&self, errors: &mut Vec<SpecError>) {
        let positive = |errors: &mut Vec<SpecError>, name: &str, v: f64| {
            if !(v > 0.0 && v.is_finite()) {
                errors.push(err(&format!("optimizer.{name}"), "must be > 0"));
            }
        };
        let unit = |errors: &mut Vec<SpecError>, name: &str, v: f64| {
            if !(0.0..1.0).contains(&v) {
                errors.push(err(&format!("optimizer.{name}"), "must be in [0, 1)"));
            }
        };
        let non_negative = |errors: &mut Vec<SpecError>, name: &str, v: f64| {
            if !(0.0..=MAX_PENALTY).contains(&v) {
                errors.push(err(
                    &format!("optimizer.{name}"),
                    format!("from 0 to {MAX_PENALTY:e}"),
                ));
            }
        };
        let lr = self.optimizer.learning_rate();
        if !(lr > 0.0 && lr <= MAX_LEARNING_RATE) {
            errors.push(err(
                "optimizer.learning_rate",
                format!("must be > 0 and at most {MAX_LEARNING_RATE}"),
            ));
        }
        match self.optimizer {
            OptimizerSpec::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
                ..
            } => {
                non_negative(errors, "momentum", momentum);
                unit(errors, "dampening", dampening);
                non_negative(errors, "weight_decay", weight_decay);
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    errors.push(err(
                        "optimizer.nesterov",
                        "Nesterov momentum needs momentum > 0 and dampening 0",
                    ));
                }
            }
            OptimizerSpec::Adagrad {
                epsilon,
                weight_decay,
                ..
            } => {
                positive(errors, "epsilon", epsilon);
                non_negative(errors, "weight_decay", weight_decay);
            }
            OptimizerSpec::Adadelta {
                rho,
                epsilon,
                weight_decay,
                ..
            } => {
                unit(errors, "rho", rho);
                positive(errors, "epsilon", epsilon);
                non_negative(errors, "weight_decay", weight_decay);
            }
            OptimizerSpec::Rmsprop {
                alpha,
                epsilon,
                momentum,
                weight_decay,
                ..
            } => {
                unit(errors, "alpha", alpha);
                positive(errors, "epsilon", epsilon);
                non_negative(errors, "momentum", momentum);
                non_negative(errors, "weight_decay", weight_decay);
            }
            OptimizerSpec::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
                ..
            }
            | OptimizerSpec::Adamw {
                beta1,
                beta2,
                epsilon,
                weight_decay,
                ..
            } => {
                unit(errors, "beta1", beta1);
                unit(errors, "beta2", beta2);
                positive(errors, "epsilon", epsilon);
                non_negative(errors, "weight_decay", weight_decay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_spec_takes_every_default() {
        let spec = TrainingSpec::from_json(json!({})).unwrap();
        assert_eq!(spec, TrainingSpec::default());
        assert_eq!(spec.model.hidden_layers, vec![64, 64]);
        assert_eq!(spec.optimizer.learning_rate(), 0.001);
        assert!(spec.training.early_stopping.is_some());
        assert!(spec.validate(&Limits::default()).is_empty());
    }

    #[test]
    fn the_api_example_parses() {
        let spec = TrainingSpec::from_json(json!({
            "model": {"kind": "mlp", "hidden_layers": [64, 64], "activation": "relu", "batch_norm": false,
                      "residual": false, "dropout": 0.0, "input_dropout": 0.0, "init": "auto"},
            "optimizer": {"kind": "adam", "learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
            "schedule": {"warmup_epochs": 0, "decay": "none"},
            "training": {"epochs": 50, "batch_size": 64, "l1": 0.0, "l2": 0.0, "clip_grad_norm": null,
                         "clip_grad_value": null,
                         "early_stopping": {"monitor": "val_loss", "patience": 5, "min_delta": 0.0, "restore_best": true},
                         "augment": {"gaussian_noise": 0.0}}
        }))
        .unwrap();
        assert!(spec.validate(&Limits::default()).is_empty());
    }

    #[test]
    fn full_batch_and_null_early_stopping_are_understood() {
        let spec = TrainingSpec::from_json(
            json!({"training": {"batch_size": "full", "early_stopping": null}}),
        )
        .unwrap();
        assert_eq!(spec.training.batch_size, BatchSize::Full(FullBatch::Full));
        assert_eq!(spec.training.early_stopping, None);
    }

    #[test]
    fn an_unknown_field_is_rejected_with_its_path() {
        let errors = TrainingSpec::from_json(json!({"training": {"epoch": 3}})).unwrap_err();
        assert_eq!(errors[0].field, "training.epoch");
        assert!(errors[0].message.contains("epoch"), "{errors:?}");
        let errors = TrainingSpec::from_json(json!({"optimizer": {"kind": "sgd", "beta1": 0.9}}))
            .unwrap_err();
        assert!(errors[0].message.contains("beta1"), "{errors:?}");
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let spec = TrainingSpec::from_json(json!({
            "model": {"hidden_layers": [64, 0, 1000000], "dropout": 1.5},
            "optimizer": {"kind": "sgd", "learning_rate": -1, "nesterov": true},
            "training": {"epochs": 1000000000u64, "batch_size": 0}
        }))
        .unwrap();
        let fields: Vec<String> = spec
            .validate(&Limits::default())
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "model.hidden_layers[1]",
                "model.hidden_layers[2]",
                "model.dropout",
                "optimizer.learning_rate",
                "optimizer.nesterov",
                "training.epochs",
                "training.batch_size"
            ]
        );
    }
}
