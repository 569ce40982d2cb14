//! The GRU classifier as a `Model`: packed sequence rows (`data::sequences`) in, the
//! `sequence::classifier` kernels under it. Its layers, for per-layer statistics, are the GRU,
//! the attention (when it has weights) and the output layer.

use super::dense::Workspace;
use super::param::Param;
use crate::domain::spec::{AttentionKind, ModelSpec};
use crate::engine::data::sequences::unpack;
use crate::engine::sequence::classifier::{GruClassifier, Pooling};
use crate::engine::sequence::gru::Batch;

/// A GRU classifier and the spec it was built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrent {
    pub spec: ModelSpec,
    pub net: GruClassifier,
}

impl Recurrent {
    /// PyTorch's initialization: every weight and bias `U(−1/√fan, 1/√fan)`.
    pub fn new(
        spec: &ModelSpec,
        channels: usize,
        classes: usize,
        rng: &mut impl rand::Rng,
    ) -> Self {
        let pooling = match spec.attention {
            AttentionKind::None => Pooling::None,
            AttentionKind::Additive => Pooling::Additive,
            AttentionKind::Multiplicative => Pooling::Multiplicative,
            AttentionKind::Dot => Pooling::Dot,
        };
        Self {
            spec: spec.clone(),
            net: GruClassifier::new(channels, spec.hidden_size as usize, classes, pooling, rng),
        }
    }

    /// The layer (0 GRU, then attention, then output) of each parameter.
    pub fn layer_of(&self) -> Vec<usize> {
        let has_attention = self.layer_count() == 3;
        self.net
            .params
            .iter()
            .map(|p| match p.name.split('.').next() {
                Some("gru") => 0,
                Some("attention") => 1,
                _ => 1 + usize::from(has_attention),
            })
            .collect()
    }

    pub fn layer_count(&self) -> usize {
        if self
            .net
            .params
            .iter()
            .any(|p| p.name.starts_with("attention."))
        {
            3
        } else {
            2
        }
    }

    pub fn params(&self) -> &[Param] {
        &self.net.params
    }

    pub fn params_mut(&mut self) -> &mut [Param] {
        &mut self.net.params
    }

    /// One training step on packed rows gathered as features × batch: the loss, with the
    /// gradients in `ws.grads`.
    pub fn step(
        &self,
        ws: &mut Workspace,
        xt: &[f32],
        batch: usize,
        labels: &[u32],
        class_weights: &[f32],
    ) -> f32 {
        let (x, lengths, steps) = self.unpacked(xt, batch);
        let b = Batch {
            x: &x,
            batch,
            steps,
            lengths: &lengths,
        };
        let (loss, grads) = self.net.loss_and_grads(&b, labels, class_weights);
        ws.grads = grads;
        loss
    }

    /// Log class probabilities (batch × classes) of packed rows gathered as features × batch.
    pub fn log_proba(&self, xt: &[f32], batch: usize) -> Vec<f32> {
        let (x, lengths, steps) = self.unpacked(xt, batch);
        self.net.log_proba(&Batch {
            x: &x,
            batch,
            steps,
            lengths: &lengths,
        })
    }

    /// Each sequence's attention weights over its steps (empty lists without attention).
    pub fn attention_weights(&self, xt: &[f32], batch: usize) -> Vec<Vec<f32>> {
        let (x, lengths, steps) = self.unpacked(xt, batch);
        let weights = self.net.attention_weights(&Batch {
            x: &x,
            batch,
            steps,
            lengths: &lengths,
        });
        if weights.is_empty() {
            vec![Vec::new(); batch]
        } else {
            weights
        }
    }

    fn unpacked(&self, xt: &[f32], batch: usize) -> (Vec<f32>, Vec<usize>, usize) {
        let (mut x, mut lengths) = (Vec::new(), Vec::new());
        let steps = unpack(xt, batch, self.net.input, &mut x, &mut lengths);
        (x, lengths, steps)
    }
}
