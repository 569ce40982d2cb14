//! The learning rate of each epoch: linear warmup (PyTorch's `LinearLR`), then `StepLR`,
//! `ExponentialLR` or `CosineAnnealingLR` counted from the end of the warmup.

use std::f64::consts::PI;

use crate::domain::spec::{Decay, ScheduleSpec};

/// The learning rate for `epoch` (0-based) of `epochs`, from the base rate `base`.
pub fn learning_rate(spec: &ScheduleSpec, base: f64, epoch: u64, epochs: u64) -> f64 {
    let warmup = spec.warmup_epochs;
    if epoch < warmup {
        let f = spec.warmup_start_factor;
        return base * (f + (1.0 - f) * epoch as f64 / warmup as f64);
    }
    let e = (epoch - warmup) as f64;
    match spec.decay {
        Decay::None => base,
        Decay::Step => {
            let gamma = spec.gamma.unwrap_or(0.1);
            base * gamma.powi((epoch - warmup) as i32 / spec.step_epochs.max(1) as i32)
        }
        Decay::Exponential => base * spec.gamma.unwrap_or(0.95).powf(e),
        Decay::Cosine => {
            let t_max = epochs.saturating_sub(warmup).max(1) as f64;
            let min = spec.min_learning_rate;
            min + (base - min) * (1.0 + (PI * e / t_max).cos()) / 2.0
        }
    }
}
