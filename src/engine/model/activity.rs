//! What a layer's units did over an epoch's training batches, for diagnostics: which never
//! fired (dead units, ReLU family) and how many activations saturated (sigmoid, tanh).

use crate::domain::spec::Activation;

/// A derivative below this counts as saturated (sigmoid: outside about ±4.6; tanh: ±2.6).
pub const SATURATED_SLOPE: f32 = 1e-2;

/// One hidden layer's activity over an epoch's training batches.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    /// Per unit: whether its input was ever positive (ReLU family).
    ever_positive: Vec<bool>,
    /// Activations with a derivative below `SATURATED_SLOPE`, of `values` (sigmoid, tanh).
    saturated: u64,
    values: u64,
}

impl Activity {
    pub fn record(
        &mut self,
        act: Activation,
        pre: &[f32],
        out: &[f32],
        units: usize,
        batch: usize,
    ) {
        if act.is_relu_family() {
            self.ever_positive.resize(units, false);
            for (j, seen) in self.ever_positive.iter_mut().enumerate() {
                if !*seen {
                    *seen = pre[j * batch..(j + 1) * batch].iter().any(|&v| v > 0.0);
                }
            }
            return;
        }
        let saturated = match act {
            Activation::Sigmoid => out
                .iter()
                .filter(|&&a| a * (1.0 - a) < SATURATED_SLOPE)
                .count(),
            Activation::Tanh => out
                .iter()
                .filter(|&&a| 1.0 - a * a < SATURATED_SLOPE)
                .count(),
            _ => 0,
        };
        self.saturated += saturated as u64;
        self.values += out.len() as u64;
    }
}

impl Activity {
    /// For rows of `units` values laid out channels last (a convolution's steps): which units
    /// were positive in any row (ReLU).
    pub fn record_positive_rows(&mut self, pre: &[f32], units: usize) {
        self.ever_positive.resize(units, false);
        for row in pre.chunks_exact(units) {
            for (seen, &v) in self.ever_positive.iter_mut().zip(row) {
                *seen |= v > 0.0;
            }
        }
    }
}

/// Per layer, the share of units never positive (ReLU family; else empty).
pub fn dead_fractions(layers: &[Activity], act: Option<Activation>) -> Vec<f64> {
    if !act.is_some_and(Activation::is_relu_family) {
        return Vec::new();
    }
    layers
        .iter()
        .map(|a| {
            let dead = a.ever_positive.iter().filter(|&&p| !p).count();
            dead as f64 / a.ever_positive.len().max(1) as f64
        })
        .collect()
}

/// Per layer, the share of saturated activations (sigmoid and tanh; else empty).
pub fn saturated_fractions(layers: &[Activity], act: Option<Activation>) -> Vec<f64> {
    if !matches!(act, Some(Activation::Sigmoid | Activation::Tanh)) {
        return Vec::new();
    }
    layers
        .iter()
        .map(|a| a.saturated as f64 / a.values.max(1) as f64)
        .collect()
}
