//! One forward pass on the tape and its backward: the losses (class-weighted cross-entropy,
//! mean squared reconstruction error) and the gradients read back in parameter order.

use dfdx::prelude::*;

use super::param::{Dev, Mat, Plain1, Plain2, Traced};

/// One forward pass: the logits on the tape and the parameter handles to read gradients by.
pub struct Pass {
    pub logits: Mat,
    pub(super) handles: Handles,
    pub batch: usize,
}

/// The parameter tensors a pass read, to look their gradients up by.
pub(super) struct Handles {
    /// Per layer: the `[W | b]` matrix, and where W and b sit in the parameter list.
    pub(super) folded: Vec<(Plain2, FoldedLayer)>,
    pub(super) handles2: Vec<Option<Plain2>>,
    pub(super) handles1: Vec<Option<Plain1>>,
}

/// Where one layer's `[W | b]` matrix came from.
pub(super) struct FoldedLayer {
    pub(super) inputs: usize,
    pub(super) outputs: usize,
    pub(super) weight: usize,
    pub(super) bias: usize,
}

/// Loss value, gradients (in parameter order) and probabilities of a training step.
pub struct StepResult {
    pub loss: f32,
    pub grads: Vec<Vec<f32>>,
}

impl Pass {
    /// Class-weighted softmax cross-entropy, PyTorch's weighted mean
    /// (`Σ w_yi · l_i / Σ w_yi`), then backprop to every parameter.
    pub fn backward(self, dev: &Dev, labels: &[u32], class_weights: &[f32]) -> StepResult {
        let classes = class_weights.len();
        let weights = loss_weights(labels, class_weights, classes, self.batch);
        let logp = self.logits.log_softmax::<Axis<0>>();
        let loss = (logp * dev.tensor_from_vec(weights, (classes, self.batch)))
            .sum::<(), _>()
            .negate();
        self.handles.gradients(loss)
    }

    /// Mean squared error against `target` (outputs × batch, like the logits), PyTorch's
    /// `MSELoss()`: the autoencoder's reconstruction loss.
    pub fn backward_reconstruction(self, dev: &Dev, target: &[f32]) -> StepResult {
        let shape = *self.logits.shape();
        let target: Plain2 = dev.tensor_from_vec(target.to_vec(), shape);
        let loss = (self.logits - target).square().mean::<(), _>();
        self.handles.gradients(loss)
    }
}

impl Handles {
    /// Backprop from `loss` to every parameter, gradients in parameter order.
    fn gradients(self, loss: Tensor<(), f32, Dev, Traced>) -> StepResult {
        let value = loss.as_vec()[0];
        let grads = loss.backward();
        let mut out: Vec<Vec<f32>> = self
            .handles2
            .iter()
            .zip(&self.handles1)
            .map(|(m, v)| match (m, v) {
                (Some(m), _) => grads.get(m).as_vec(),
                (None, Some(v)) => grads.get(v).as_vec(),
                (None, None) => Vec::new(), // a folded weight or bias: filled below
            })
            .collect();
        for (wb, l) in &self.folded {
            let g = grads.get(wb).as_vec();
            let cols = l.inputs + 1;
            out[l.weight] = (0..l.outputs)
                .flat_map(|o| g[o * cols..o * cols + l.inputs].iter().copied())
                .collect();
            out[l.bias] = (0..l.outputs).map(|o| g[o * cols + l.inputs]).collect();
        }
        StepResult {
            loss: value,
            grads: out,
        }
    }
}

/// The weighted-mean factors: `w_y / Σ w_y` at (class y_i, sample i), zero elsewhere.
fn loss_weights(labels: &[u32], class_weights: &[f32], classes: usize, batch: usize) -> Vec<f32> {
    let total: f64 = labels
        .iter()
        .map(|&y| f64::from(class_weights[y as usize]))
        .sum();
    let mut m = vec![0.0f32; classes * batch];
    if total > 0.0 {
        for (i, &y) in labels.iter().enumerate() {
            m[y as usize * batch + i] = (f64::from(class_weights[y as usize]) / total) as f32;
        }
    }
    m
}
