//! A workspace's record of an epoch's activity (dead and saturated units): what training steps
//! record per layer and what the epoch's diagnostics read back.

use super::activity::{Activity, dead_fractions, saturated_fractions};
use super::dense::Workspace;
use crate::domain::spec::Activation;

/// What a model's training steps record of their layers' activity, and what it comes to.
impl Workspace {
    /// Starts counting a new epoch's activity (dead and saturated units).
    pub fn begin_epoch(&mut self) {
        self.activity.clear();
    }

    /// Records that hidden layer `layer` of `layers` (a ReLU convolution, its values
    /// channels last, `units` per row) had these values in a training batch.
    pub fn record_relu_rows(&mut self, layer: usize, layers: usize, values: &[f32], units: usize) {
        self.activation = Some(Activation::Relu);
        self.activity.resize(layers, Activity::default());
        self.activity[layer].record_positive_rows(values, units);
    }

    /// Per hidden layer, the share of units never positive in the epoch's training batches
    /// (ReLU family; empty for other activations or before any batch).
    pub fn dead_fractions(&self) -> Vec<f64> {
        dead_fractions(&self.activity, self.activation)
    }

    /// Per hidden layer, the share of the epoch's training activations that saturated
    /// (sigmoid and tanh; empty for other activations or before any batch).
    pub fn saturated_fractions(&self) -> Vec<f64> {
        saturated_fractions(&self.activity, self.activation)
    }
}
