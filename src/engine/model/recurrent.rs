//! The recurrent families as `Network`s, one per cell kind (`gru`, `lstm`): packed sequence
//! rows (`data::sequences`) in, the `sequence::classifier` kernels under them. Their layers,
//! for per-layer statistics, are the recurrent layers, the attention (when it has weights)
//! and the output layer.

use rand_chacha::ChaCha8Rng;

use super::dense::Workspace;
use super::network::{EVAL_CHUNK, Input, Network, SEQUENCE_EVAL_FLOATS};
use super::param::Param;
use crate::domain::spec::{AttentionKind, ModelSpec};
use crate::engine::data::sequences::unpacked;
use crate::engine::onnx::graph::Graph;
use crate::engine::onnx::{ExportError, Feed};
use crate::engine::sequence::cell::Cell;
use crate::engine::sequence::classifier::{Pooling, RnnClassifier};
use crate::engine::sequence::gru::Batch;
use crate::engine::sequence::parameters::RnnShape;

/// A recurrent classifier of cell `C` and the spec it was built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrent<C: Cell> {
    pub spec: ModelSpec,
    pub net: RnnClassifier<C>,
}

impl<C: Cell> Recurrent<C> {
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
        let shape = RnnShape {
            hidden: spec.hidden_size as usize,
            layers: spec.layers.max(1) as usize,
            bidirectional: spec.bidirectional,
            dropout: spec.dropout,
            unit_forget_bias: spec.unit_forget_bias,
        };
        Self {
            spec: spec.clone(),
            net: RnnClassifier::with_shape(channels, shape, classes, pooling, rng),
        }
    }

    /// The layer of each parameter: recurrent layer `l` (both directions) is `l`, then the
    /// attention, then the output layer.
    fn param_layers(&self) -> Vec<usize> {
        let layers = self.net.layers;
        let attention = usize::from(self.has_attention_weights());
        self.net
            .params
            .iter()
            .map(|p| {
                if let Some(rest) = p
                    .name
                    .strip_prefix(C::NAME)
                    .and_then(|r| r.strip_prefix('.'))
                {
                    // `weight_ih_l3_reverse` → 3.
                    let l = rest.split('_').find_map(|part| part.strip_prefix('l'));
                    let l = l.and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
                    l.min(layers - 1)
                } else if p.name.starts_with("attention.") {
                    layers
                } else {
                    layers + attention
                }
            })
            .collect()
    }

    fn has_attention_weights(&self) -> bool {
        self.net
            .params
            .iter()
            .any(|p| p.name.starts_with("attention."))
    }

    fn unpacked(&self, xt: &[f32], batch: usize) -> (Vec<f32>, Vec<usize>, usize) {
        unpacked(xt, batch, self.net.input)
    }
}

impl<C: Cell> Network for Recurrent<C> {
    fn kind(&self) -> &'static str {
        C::NAME
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn input(&self) -> Input {
        Input::Sequence
    }

    fn inputs(&self) -> usize {
        self.net.input
    }

    fn outputs(&self) -> usize {
        self.net.classes
    }

    fn params(&self) -> &[Param] {
        &self.net.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.net.params
    }

    /// The GRU's layers, the attention when it has weights, the output layer.
    fn layer_count(&self) -> usize {
        self.net.layers + usize::from(self.has_attention_weights()) + 1
    }

    fn layer_of(&self) -> Vec<usize> {
        self.param_layers()
    }

    /// One training step on packed rows gathered as features × batch.
    fn step(
        &mut self,
        ws: &mut Workspace,
        xt: &[f32],
        batch: usize,
        labels: &[u32],
        class_weights: &[f32],
        rng: &mut ChaCha8Rng,
    ) -> f32 {
        let (x, lengths, steps) = self.unpacked(xt, batch);
        let b = Batch {
            x: &x,
            batch,
            steps,
            lengths: &lengths,
        };
        let (loss, grads) = self.net.train_step(&b, labels, class_weights, Some(rng));
        ws.grads = grads;
        loss
    }

    fn log_proba(&mut self, xt: &[f32], batch: usize) -> Vec<f32> {
        let (x, lengths, steps) = self.unpacked(xt, batch);
        self.net.log_proba(&Batch {
            x: &x,
            batch,
            steps,
            lengths: &lengths,
        })
    }

    /// Every step's state and gates are kept, so chunks are smaller.
    fn eval_rows(&self, width: usize) -> usize {
        let steps = width / self.net.input.max(1);
        let per_row = (3 * C::GATES) * steps * self.net.hidden;
        (SEQUENCE_EVAL_FLOATS / per_row.max(1)).clamp(1, EVAL_CHUNK)
    }

    fn has_attention(&self) -> bool {
        self.net.pooling != Pooling::None
    }

    fn attention(&self, xt: &[f32], batch: usize) -> Option<Vec<Vec<f32>>> {
        if self.net.pooling == Pooling::None {
            return None;
        }
        let (x, lengths, steps) = self.unpacked(xt, batch);
        let weights = self.net.attention_weights(&Batch {
            x: &x,
            batch,
            steps,
            lengths: &lengths,
        });
        Some(if weights.is_empty() {
            vec![Vec::new(); batch]
        } else {
            weights
        })
    }

    fn into_kind(self: Box<Self>, _kind: &str) -> Box<dyn Network> {
        self
    }

    fn onnx(&self, g: &mut Graph, feed: Feed<'_>) -> Result<String, ExportError> {
        let lengths = feed.lengths.ok_or(ExportError::NoLengths)?;
        Ok(self.net.onnx(g, feed.x, lengths, feed.unroll))
    }

    fn clone_box(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::domain::spec::ModelKind;
    use crate::engine::sequence::gru::Gru;

    #[test]
    fn each_gru_layer_is_a_layer_then_the_attention_then_the_output() {
        let mut spec = ModelSpec {
            kind: ModelKind::Gru,
            hidden_size: 3,
            layers: 2,
            bidirectional: true,
            attention: AttentionKind::Additive,
            ..ModelSpec::default()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let r = Recurrent::<Gru>::new(&spec, 2, 2, &mut rng);
        let names: Vec<(&str, usize)> = r
            .params()
            .iter()
            .map(|p| p.name.as_str())
            .zip(r.layer_of())
            .collect();
        assert_eq!(r.layer_count(), 4);
        assert_eq!(names[0], ("gru.weight_ih_l0", 0));
        assert_eq!(names[7], ("gru.bias_hh_l0_reverse", 0));
        assert_eq!(names[12], ("gru.weight_ih_l1_reverse", 1));
        assert_eq!(names[16], ("attention.W_s.weight", 2));
        assert_eq!(names[19], ("output.weight", 3));
        spec.attention = AttentionKind::Dot;
        spec.layers = 1;
        let r = Recurrent::<Gru>::new(&spec, 2, 2, &mut rng);
        assert_eq!(r.layer_count(), 2);
        assert_eq!(*r.layer_of().last().unwrap(), 1);
    }
}
