//! A GRU sequence classifier, as `../shared/reference/bench/gru_attention_torch.py` builds it:
//! one GRU layer over the padded batch; the query `s` is each sequence's last valid state; the
//! context is attention over its states (or none); logits are a linear layer on
//! `[context; s]` (or `s`); the loss is the class-weighted mean cross-entropy. Its parameters
//! carry PyTorch's names (`gru.weight_ih_l0`, …, `attention.*`, `output.*`).

use rand::Rng;

use super::attention::{self, AttentionGrads, Form, Sequence};
use super::gru::{self, Batch, GruWeights};

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

/// The classifier's parameters, by PyTorch name, and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct GruClassifier {
    pub input: usize,
    pub hidden: usize,
    pub classes: usize,
    pub pooling: Pooling,
    /// (name, values), in a fixed order: the GRU's four, the attention's, the output's two.
    pub params: Vec<(&'static str, Vec<f32>)>,
}

/// `U(−1/√fan, 1/√fan)`, PyTorch's initialization of GRU and linear weights.
fn uniform(n: usize, fan: usize, rng: &mut impl Rng) -> Vec<f32> {
    let bound = 1.0 / (fan as f32).sqrt();
    (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
}

impl GruClassifier {
    pub fn new(
        input: usize,
        hidden: usize,
        classes: usize,
        pooling: Pooling,
        rng: &mut impl Rng,
    ) -> Self {
        let h = hidden;
        let mut params = vec![
            ("gru.weight_ih_l0", uniform(3 * h * input, h, rng)),
            ("gru.weight_hh_l0", uniform(3 * h * h, h, rng)),
            ("gru.bias_ih_l0", uniform(3 * h, h, rng)),
            ("gru.bias_hh_l0", uniform(3 * h, h, rng)),
        ];
        match pooling {
            Pooling::Additive => {
                params.push(("attention.W_s.weight", uniform(h * h, h, rng)));
                params.push(("attention.W_h.weight", uniform(h * h, h, rng)));
                params.push(("attention.v.weight", uniform(h, h, rng)));
            }
            Pooling::Multiplicative => {
                params.push(("attention.W_g.weight", uniform(h * h, h, rng)))
            }
            Pooling::None | Pooling::Dot => {}
        }
        let features = Self::features_of(hidden, pooling);
        params.push(("output.weight", uniform(classes * features, features, rng)));
        params.push(("output.bias", uniform(classes, features, rng)));
        Self {
            input,
            hidden,
            classes,
            pooling,
            params,
        }
    }

    fn features_of(hidden: usize, pooling: Pooling) -> usize {
        if pooling == Pooling::None {
            hidden
        } else {
            2 * hidden
        }
    }

    fn param(&self, name: &str) -> &[f32] {
        &self
            .params
            .iter()
            .find(|(n, _)| *n == name)
            .expect("a classifier has its parameters")
            .1
    }

    fn gru(&self) -> GruWeights<'_> {
        GruWeights {
            input: self.input,
            hidden: self.hidden,
            weight_ih: self.param("gru.weight_ih_l0"),
            weight_hh: self.param("gru.weight_hh_l0"),
            bias_ih: self.param("gru.bias_ih_l0"),
            bias_hh: self.param("gru.bias_hh_l0"),
        }
    }

    fn form(&self) -> Option<Form<'_>> {
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
                size: self.hidden,
            }),
        }
    }

    /// Per sequence: its features (`[context; s]` or `s`), attention weights and the pass's
    /// pieces the backward pass needs.
    fn features(&self, batch: &Batch<'_>) -> (gru::GruPass, Vec<f32>, Vec<attention::Attended>) {
        let (h, t_n) = (self.hidden, batch.steps);
        let pass = gru::forward(&self.gru(), batch);
        let f_n = Self::features_of(h, self.pooling);
        let mut features = vec![0.0f32; batch.batch * f_n];
        let mut attended = Vec::new();
        for b in 0..batch.batch {
            let s = &pass.last[b * h..(b + 1) * h];
            let row = &mut features[b * f_n..(b + 1) * f_n];
            match self.form() {
                None => row.copy_from_slice(s),
                Some(form) => {
                    let seq = Sequence {
                        states: &pass.outputs[b * t_n * h..(b + 1) * t_n * h],
                        length: batch.lengths[b],
                        h,
                        query: s,
                    };
                    let att = attention::forward(&form, &seq);
                    row[..h].copy_from_slice(&att.context);
                    row[h..].copy_from_slice(s);
                    attended.push(att);
                }
            }
        }
        (pass, features, attended)
    }

    /// Logits (B × K) of features (B × F).
    fn logits(&self, features: &[f32]) -> Vec<f32> {
        let (w, bias) = (self.param("output.weight"), self.param("output.bias"));
        let f_n = Self::features_of(self.hidden, self.pooling);
        features
            .chunks_exact(f_n)
            .flat_map(|f| {
                (0..self.classes).map(move |k| {
                    bias[k]
                        + w[k * f_n..(k + 1) * f_n]
                            .iter()
                            .zip(f)
                            .map(|(a, b)| a * b)
                            .sum::<f32>()
                })
            })
            .collect()
    }

    /// Class log-probabilities (B × K).
    pub fn log_proba(&self, batch: &Batch<'_>) -> Vec<f32> {
        let (_, features, _) = self.features(batch);
        let mut z = self.logits(&features);
        for row in z.chunks_exact_mut(self.classes) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
            for v in row {
                *v -= lse;
            }
        }
        z
    }

    /// Each sequence's attention weights over its steps (empty without attention).
    pub fn attention_weights(&self, batch: &Batch<'_>) -> Vec<Vec<f32>> {
        let (_, _, attended) = self.features(batch);
        attended
            .into_iter()
            .zip(batch.lengths)
            .map(|(a, &l)| a.weights[..l].to_vec())
            .collect()
    }

    /// The class-weighted mean cross-entropy of `labels` and every parameter's gradient, in
    /// `params` order.
    pub fn loss_and_grads(
        &self,
        batch: &Batch<'_>,
        labels: &[u32],
        class_weights: &[f32],
    ) -> (f32, Vec<Vec<f32>>) {
        let (h, t_n, k_n) = (self.hidden, batch.steps, self.classes);
        let f_n = Self::features_of(h, self.pooling);
        let (pass, features, attended) = self.features(batch);
        let logits = self.logits(&features);
        let total: f32 = labels.iter().map(|&y| class_weights[y as usize]).sum();
        let mut loss = 0.0f32;
        let mut d_logits = vec![0.0f32; logits.len()];
        for (b, &y) in labels.iter().enumerate() {
            let row = &logits[b * k_n..(b + 1) * k_n];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
            let w = class_weights[y as usize] / total;
            loss -= w * (row[y as usize] - max - sum.ln());
            for k in 0..k_n {
                let p = (row[k] - max).exp() / sum;
                d_logits[b * k_n + k] = w * (p - f32::from(k == y as usize));
            }
        }
        let w_out = self.param("output.weight");
        let mut d_w_out = vec![0.0f32; k_n * f_n];
        let mut d_b_out = vec![0.0f32; k_n];
        let mut d_features = vec![0.0f32; features.len()];
        for b in 0..labels.len() {
            for k in 0..k_n {
                let g = d_logits[b * k_n + k];
                d_b_out[k] += g;
                for j in 0..f_n {
                    d_w_out[k * f_n + j] += g * features[b * f_n + j];
                    d_features[b * f_n + j] += g * w_out[k * f_n + j];
                }
            }
        }
        let mut d_outputs = vec![0.0f32; pass.outputs.len()];
        let mut d_last = vec![0.0f32; pass.last.len()];
        let mut att_total = self.form().map(|f| AttentionGrads::zeros(&f, 0, h));
        for b in 0..labels.len() {
            let df = &d_features[b * f_n..(b + 1) * f_n];
            let Some(form) = self.form() else {
                d_last[b * h..(b + 1) * h].copy_from_slice(df);
                continue;
            };
            let seq = Sequence {
                states: &pass.outputs[b * t_n * h..(b + 1) * t_n * h],
                length: batch.lengths[b],
                h,
                query: &pass.last[b * h..(b + 1) * h],
            };
            let mut g = AttentionGrads::zeros(&form, t_n, h);
            attention::backward(&form, &seq, &attended[b], &df[..h], &mut g);
            d_outputs[b * t_n * h..(b + 1) * t_n * h].copy_from_slice(&g.states);
            // The query is the last state: its gradient and the head's reach it directly.
            for j in 0..h {
                d_last[b * h + j] = df[h + j] + g.query[j];
            }
            if let Some(total) = att_total.as_mut() {
                for (t, x) in [
                    (&mut total.w_s, &g.w_s),
                    (&mut total.w_h, &g.w_h),
                    (&mut total.v, &g.v),
                    (&mut total.w_g, &g.w_g),
                ] {
                    for (s, v) in t.iter_mut().zip(x) {
                        *s += v;
                    }
                }
            }
        }
        let g = gru::backward(&self.gru(), batch, &pass, &d_outputs, &d_last);
        let mut grads = vec![g.weight_ih, g.weight_hh, g.bias_ih, g.bias_hh];
        if let Some(total) = att_total {
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
