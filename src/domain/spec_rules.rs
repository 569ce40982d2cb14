//! The rules a training spec must keep, checked all at once with each problem's JSON path.

use super::learning_rate::LearningRate;
use super::spec::{
    BatchSize, Decay, MAX_KERNEL, MAX_LEARNING_RATE, MAX_PENALTY, ModelSpec, OptimizerSpec,
    SpecError, TrainingSpec,
};
use crate::config::Limits;

impl TrainingSpec {
    /// Parses JSON; a type error or unknown field is reported with its path.
    pub fn from_json(value: serde_json::Value) -> Result<Self, Vec<SpecError>> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            vec![SpecError::new(
                if path == "." { "" } else { &path },
                e.inner().to_string(),
            )]
        })
    }

    /// Every semantic problem at once, each with its JSON path.
    pub fn validate(&self, limits: &Limits) -> Vec<SpecError> {
        let mut errors = Vec::new();
        self.validate_model(limits, &mut errors);
        self.validate_optimizer(&mut errors);
        self.validate_schedule(&mut errors);
        self.validate_training(limits, &mut errors);
        errors
    }

    fn validate_model(&self, limits: &Limits, errors: &mut Vec<SpecError>) {
        let m = &self.model;
        let foreign = m.foreign_fields();
        let mut found = Vec::new();
        validate_model_values(m, limits, &mut found);
        // A field the family does not read is refused once, whole, not also range-checked.
        found.retain(|e| {
            let field = e.field.trim_start_matches("model.");
            !foreign.contains(&field.split('[').next().unwrap_or(field))
        });
        errors.extend(found);
        for field in foreign {
            errors.push(SpecError::new(
                format!("model.{field}"),
                format!(
                    "does not apply to a {}: it reads {}",
                    m.kind.name(),
                    m.kind.fields().join(", ")
                ),
            ));
        }
    }

    fn validate_schedule(&self, errors: &mut Vec<SpecError>) {
        let s = &self.schedule;
        if !(s.warmup_start_factor > 0.0 && s.warmup_start_factor <= 1.0) {
            errors.push(SpecError::new(
                "schedule.warmup_start_factor",
                "must be in (0, 1]",
            ));
        }
        if s.decay == Decay::Step && s.step_epochs == 0 {
            errors.push(SpecError::new("schedule.step_epochs", "must be at least 1"));
        }
        if let Some(g) = s.gamma
            && !(g > 0.0 && g <= 1.0)
        {
            errors.push(SpecError::new("schedule.gamma", "must be in (0, 1]"));
        }
        match self.optimizer.learning_rate() {
            LearningRate::Fixed(lr)
                if !(s.min_learning_rate >= 0.0
                    && s.min_learning_rate <= lr.clamp(0.0, MAX_LEARNING_RATE)) =>
            {
                errors.push(SpecError::new(
                    "schedule.min_learning_rate",
                    "must be ≥ 0 and at most optimizer.learning_rate",
                ));
            }
            LearningRate::Auto if s.min_learning_rate != 0.0 => errors.push(SpecError::new(
                "schedule.min_learning_rate",
                "must be 0 with optimizer.learning_rate \"auto\" (the rate is chosen when a \
                 run starts)",
            )),
            _ => {}
        }
    }

    fn validate_training(&self, limits: &Limits, errors: &mut Vec<SpecError>) {
        let t = &self.training;
        if t.epochs == 0 || t.epochs > limits.max_epochs {
            errors.push(SpecError::new(
                "training.epochs",
                format!("from 1 to {} (max_epochs)", limits.max_epochs),
            ));
        }
        if t.batch_size == BatchSize::Rows(0) {
            errors.push(SpecError::new(
                "training.batch_size",
                "at least 1, or \"full\"",
            ));
        }
        for (field, v) in [("training.l1", t.l1), ("training.l2", t.l2)] {
            if !(0.0..=MAX_PENALTY).contains(&v) {
                errors.push(SpecError::new(field, format!("from 0 to {MAX_PENALTY:e}")));
            }
        }
        for (field, v) in [
            ("training.clip_grad_norm", t.clip_grad_norm),
            ("training.clip_grad_value", t.clip_grad_value),
        ] {
            if let Some(v) = v
                && !(v > 0.0 && v.is_finite())
            {
                errors.push(SpecError::new(field, "must be > 0, or null"));
            }
        }
        if let Some(es) = &t.early_stopping {
            if es.monitor != "val_loss" && es.monitor != "val_accuracy" {
                errors.push(SpecError::new(
                    "training.early_stopping.monitor",
                    "val_loss or val_accuracy",
                ));
            }
            if es.patience == 0 {
                errors.push(SpecError::new(
                    "training.early_stopping.patience",
                    "at least 1",
                ));
            }
            if !(es.min_delta >= 0.0 && es.min_delta.is_finite()) {
                errors.push(SpecError::new(
                    "training.early_stopping.min_delta",
                    "must be ≥ 0",
                ));
            }
            if !(es.validation_fraction > 0.0 && es.validation_fraction <= 0.5) {
                errors.push(SpecError::new(
                    "training.early_stopping.validation_fraction",
                    "must be in (0, 0.5]",
                ));
            }
        }
        if let Some(n) = t.swa_epochs {
            if n == 0 || n > t.epochs {
                errors.push(SpecError::new(
                    "training.swa_epochs",
                    "from 1 to training.epochs, or null",
                ));
            }
            if t.early_stopping.as_ref().is_some_and(|e| e.restore_best) {
                errors.push(SpecError::new(
                    "training.swa_epochs",
                    "both this and early_stopping.restore_best choose the run's weights: set \
                     early_stopping to null or restore_best to false",
                ));
            }
        }
        if !(0.0..=MAX_PENALTY).contains(&t.augment.gaussian_noise) {
            errors.push(SpecError::new(
                "training.augment.gaussian_noise",
                format!("from 0 to {MAX_PENALTY:e}"),
            ));
        }
    }

    fn validate_optimizer(&self, errors: &mut Vec<SpecError>) {
        let positive = |errors: &mut Vec<SpecError>, name: &str, v: f64| {
            if !(v > 0.0 && v.is_finite()) {
                errors.push(SpecError::new(format!("optimizer.{name}"), "must be > 0"));
            }
        };
        let unit = |errors: &mut Vec<SpecError>, name: &str, v: f64| {
            if !(0.0..1.0).contains(&v) {
                errors.push(SpecError::new(
                    format!("optimizer.{name}"),
                    "must be in [0, 1)",
                ));
            }
        };
        let non_negative = |errors: &mut Vec<SpecError>, name: &str, v: f64| {
            if !(0.0..=MAX_PENALTY).contains(&v) {
                errors.push(SpecError::new(
                    format!("optimizer.{name}"),
                    format!("from 0 to {MAX_PENALTY:e}"),
                ));
            }
        };
        if let LearningRate::Fixed(lr) = self.optimizer.learning_rate()
            && !(lr > 0.0 && lr <= MAX_LEARNING_RATE)
        {
            errors.push(SpecError::new(
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
                    errors.push(SpecError::new(
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

/// A convolutional family's blocks: 1 to `max_hidden_layers` of them, each of 1 to
/// `max_layer_width` filters, kernels of 1 to `MAX_KERNEL`, one kernel per FCN block.
fn validate_convolutions(m: &ModelSpec, limits: &Limits, errors: &mut Vec<SpecError>) {
    let (filters, kernels) = (m.conv_filters(), m.conv_kernels());
    if filters.is_empty() || filters.len() as u64 > limits.max_hidden_layers {
        let most = limits.max_hidden_layers;
        errors.push(SpecError::new(
            "model.filters",
            format!("from 1 to {most} blocks (max_hidden_layers)"),
        ));
    }
    for (i, &f) in filters
        .iter()
        .take(limits.max_hidden_layers as usize)
        .enumerate()
    {
        if f == 0 || f > limits.max_layer_width {
            let most = limits.max_layer_width;
            errors.push(SpecError::new(
                format!("model.filters[{i}]"),
                format!("from 1 to {most} filters (max_layer_width)"),
            ));
        }
    }
    if kernels.is_empty() || kernels.len() as u64 > limits.max_hidden_layers {
        let most = limits.max_hidden_layers;
        errors.push(SpecError::new(
            "model.kernel_sizes",
            format!("from 1 to {most} kernels (max_hidden_layers)"),
        ));
    }
    for (i, &k) in kernels
        .iter()
        .take(limits.max_hidden_layers as usize)
        .enumerate()
    {
        if k == 0 || k > MAX_KERNEL {
            errors.push(SpecError::new(
                format!("model.kernel_sizes[{i}]"),
                format!("from 1 to {MAX_KERNEL}"),
            ));
        }
    }
    let residual = m.kind.convolution().is_some_and(|c| c.2);
    if !residual && kernels.len() != filters.len() {
        errors.push(SpecError::new(
            "model.kernel_sizes",
            format!(
                "one kernel per block: {} for {} blocks of filters",
                kernels.len(),
                filters.len()
            ),
        ));
    }
}

/// The model's values against their ranges, every family's fields (the caller drops the errors
/// of fields the family does not read).
fn validate_model_values(m: &ModelSpec, limits: &Limits, errors: &mut Vec<SpecError>) {
    if m.hidden_layers.len() as u64 > limits.max_hidden_layers {
        errors.push(SpecError::new(
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
            errors.push(SpecError::new(
                format!("model.hidden_layers[{i}]"),
                format!(
                    "a width from 1 to {} (max_layer_width)",
                    limits.max_layer_width
                ),
            ));
        }
    }
    if m.hidden_size == 0 || m.hidden_size > limits.max_layer_width {
        errors.push(SpecError::new(
            "model.hidden_size",
            format!(
                "a width from 1 to {} (max_layer_width)",
                limits.max_layer_width
            ),
        ));
    }
    if m.layers == 0 || m.layers > limits.max_hidden_layers {
        errors.push(SpecError::new(
            "model.layers",
            format!(
                "from 1 to {} stacked layers (max_hidden_layers)",
                limits.max_hidden_layers
            ),
        ));
    }
    if m.kind.convolution().is_some() {
        validate_convolutions(m, limits, errors);
    }
    for (field, p) in [
        ("model.dropout", m.dropout),
        ("model.input_dropout", m.input_dropout),
    ] {
        if !(0.0..1.0).contains(&p) {
            errors.push(SpecError::new(field, "a probability in [0, 1)"));
        }
    }
}

#[cfg(test)]
mod tests;
