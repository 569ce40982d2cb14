//! A recurrent sequence classifier, as `../shared/reference/bench/gru_attention_torch.py` builds
//! it (and its LSTM twin): GRU or LSTM layers over the padded batch (stacked and bidirectional as `stack` runs them); the
//! query `s` is each sequence's final state; the context is attention over the top layer's
//! states (or none); logits are a linear layer on `[context; s]` (or `s`); the loss is the
//! class-weighted mean cross-entropy. Its parameters carry PyTorch's names
//! (`gru.weight_ih_l0`, `gru.weight_ih_l0_reverse`, …, `attention.*`, `output.*`).

use std::marker::PhantomData;

use super::attention::{self, AttentionGrads, BatchAttended, Form, States};
use super::batch::Batch;
use super::cell::{Cell, CellWeights};
use super::gru::Gru;
use super::stack::{self, StackPass};
use crate::engine::model::head;
use crate::engine::model::param::Param;

/// Which attention pools the states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The last valid state only.
    None,
    Additive,
    /// Luong's general form, `sᵀ W_g h_j`.
    Multiplicative,
    Dot,
}

/// The GRU classifier.
pub type GruClassifier = RnnClassifier<Gru>;

/// The classifier's parameters, by PyTorch name, and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnClassifier<C: Cell> {
    pub input: usize,
    /// One direction's state width.
    pub hidden: usize,
    pub layers: usize,
    /// 2 when bidirectional.
    pub directions: usize,
    /// Dropout on every layer's outputs but the top one's, in training.
    pub dropout: f64,
    pub classes: usize,
    pub pooling: Pooling,
    /// In a fixed order: the cell's four per layer and direction (PyTorch's order), the
    /// attention's, the output's two.
    pub params: Vec<Param>,
    pub cell: PhantomData<C>,
}

impl<C: Cell> RnnClassifier<C> {
    /// The width of the top layer's states (and of `s`).
    pub(super) fn width(&self) -> usize {
        self.hidden * self.directions
    }

    pub(super) fn features_of(hidden: usize, pooling: Pooling) -> usize {
        if pooling == Pooling::None {
            hidden
        } else {
            2 * hidden
        }
    }

    pub(super) fn param(&self, name: &str) -> &[f32] {
        &self
            .params
            .iter()
            .find(|p| p.name == name)
            .expect("a classifier has its parameters")
            .data
    }

    /// Per layer, each direction's weights.
    pub(super) fn cells(&self) -> Vec<Vec<CellWeights<'_>>> {
        let mut at = 0;
        (0..self.layers)
            .map(|l| {
                let input = if l == 0 { self.input } else { self.width() };
                (0..self.directions)
                    .map(|_| {
                        let w = CellWeights {
                            input,
                            hidden: self.hidden,
                            weight_ih: &self.params[at].data,
                            weight_hh: &self.params[at + 1].data,
                            bias_ih: &self.params[at + 2].data,
                            bias_hh: &self.params[at + 3].data,
                        };
                        at += 4;
                        w
                    })
                    .collect()
            })
            .collect()
    }

    pub(super) fn form(&self) -> Option<Form<'_>> {
        match self.pooling {
            Pooling::None => None,
            Pooling::Dot => Some(Form::Dot),
            Pooling::Multiplicative => Some(Form::General {
                w_g: self.param("attention.W_g.weight"),
            }),
            Pooling::Additive => Some(Form::Additive {
                w_s: self.param("attention.W_s.weight"),
                w_h: self.param("attention.W_h.weight"),
                v: self.param("attention.v.weight"),
                size: self.width(),
            }),
        }
    }

    /// Per sequence: its features (`[context; s]` or `s`), and the GRU's and attention's
    /// passes the backward pass needs.
    fn features(
        &self,
        batch: &Batch<'_>,
        rng: Option<&mut dyn rand::RngCore>,
    ) -> (StackPass<C>, Vec<f32>, Option<BatchAttended>) {
        let h = self.width();
        let pass = stack::forward::<C>(&self.cells(), batch, self.dropout, rng);
        let f_n = Self::features_of(h, self.pooling);
        let mut features = vec![0.0f32; batch.batch * f_n];
        let attended = self
            .form()
            .map(|form| attention::forward_batch(&form, &self.states(batch, &pass)));
        for b in 0..batch.batch {
            let s = &pass.last[b * h..(b + 1) * h];
            let row = &mut features[b * f_n..(b + 1) * f_n];
            match &attended {
                None => row.copy_from_slice(s),
                Some(att) => {
                    row[..h].copy_from_slice(&att.context[b * h..(b + 1) * h]);
                    row[h..].copy_from_slice(s);
                }
            }
        }
        (pass, features, attended)
    }

    /// The GRU's states as attention reads them, the last valid state the query.
    fn states<'a>(&self, batch: &Batch<'a>, pass: &'a StackPass<C>) -> States<'a> {
        States {
            states: &pass.outputs,
            lengths: batch.lengths,
            steps: batch.steps,
            h: self.width(),
            queries: &pass.last,
        }
    }

    /// Logits (B × K) of features (B × F).
    fn logits(&self, features: &[f32]) -> Vec<f32> {
        let (w, bias) = (self.param("output.weight"), self.param("output.bias"));
        head::logits(w, bias, features, self.classes)
    }

    /// Class log-probabilities (B × K).
    pub fn log_proba(&self, batch: &Batch<'_>) -> Vec<f32> {
        let (_, features, _) = self.features(batch, None);
        let mut z = self.logits(&features);
        head::log_softmax(&mut z, self.classes);
        z
    }

    /// Each sequence's attention weights over its steps (empty without attention).
    pub fn attention_weights(&self, batch: &Batch<'_>) -> Vec<Vec<f32>> {
        let (_, _, attended) = self.features(batch, None);
        let Some(att) = attended else {
            return Vec::new();
        };
        (0..batch.batch)
            .map(|b| att.weights[b * batch.steps..b * batch.steps + batch.lengths[b]].to_vec())
            .collect()
    }

    /// The class-weighted mean cross-entropy of `labels` and every parameter's gradient, in
    /// `params` order (without dropout).
    pub fn loss_and_grads(
        &self,
        batch: &Batch<'_>,
        labels: &[u32],
        class_weights: &[f32],
    ) -> (f32, Vec<Vec<f32>>) {
        self.train_step(batch, labels, class_weights, None)
    }

    /// As `loss_and_grads`, with dropout between layers drawn from `rng` (a training step).
    pub fn train_step(
        &self,
        batch: &Batch<'_>,
        labels: &[u32],
        class_weights: &[f32],
        rng: Option<&mut dyn rand::RngCore>,
    ) -> (f32, Vec<Vec<f32>>) {
        let (h, k_n) = (self.width(), self.classes);
        let f_n = Self::features_of(h, self.pooling);
        let (pass, features, attended) = self.features(batch, rng);
        let logits = self.logits(&features);
        let (loss, d_logits) = head::cross_entropy(&logits, labels, class_weights, k_n);
        let b_n = labels.len();
        let (d_w_out, d_b_out, d_features) =
            head::backward(&d_logits, &features, self.param("output.weight"), k_n);
        let mut d_last = vec![0.0f32; pass.last.len()];
        let mut d_outputs = vec![0.0f32; pass.outputs.len()];
        let mut att_grads = None;
        match (self.form(), &attended) {
            (Some(form), Some(att)) => {
                let mut d_context = vec![0.0f32; b_n * h];
                for b in 0..b_n {
                    d_context[b * h..(b + 1) * h]
                        .copy_from_slice(&d_features[b * f_n..b * f_n + h]);
                }
                let mut g = AttentionGrads::zeros_batch(&form, b_n, batch.steps, h);
                attention::backward_batch(
                    &form,
                    &self.states(batch, &pass),
                    att,
                    &d_context,
                    &mut g,
                );
                // The query is the last state: its gradient and the head's reach it directly.
                for b in 0..b_n {
                    for j in 0..h {
                        d_last[b * h + j] = d_features[b * f_n + h + j] + g.query[b * h + j];
                    }
                }
                d_outputs = std::mem::take(&mut g.states);
                att_grads = Some(g);
            }
            _ => d_last.copy_from_slice(&d_features),
        }
        let mut grads = Vec::with_capacity(self.params.len());
        let (stack_grads, _) =
            stack::backward::<C>(&self.cells(), batch, &pass, &d_outputs, &d_last);
        for g in stack_grads.into_iter().flatten() {
            grads.extend([g.weight_ih, g.weight_hh, g.bias_ih, g.bias_hh]);
        }
        if let Some(total) = att_grads {
            match self.pooling {
                Pooling::Additive => grads.extend([total.w_s, total.w_h, total.v]),
                Pooling::Multiplicative => grads.push(total.w_g),
                Pooling::None | Pooling::Dot => {}
            }
        }
        grads.push(d_w_out);
        grads.push(d_b_out);
        (loss, grads)
    }
}
