//! A recurrent classifier as ONNX nodes: each layer one `GRU` or `LSTM` node over both its
//! directions, the gates reordered from PyTorch's to ONNX's (`Cell::ONNX_GATES`), with
//! `sequence_lens` so that each sequence is read within its length (the reverse direction from
//! its last valid step, as the stack does); the attention over the top layer's states, masked
//! past each length; the output layer on `[context; s]` (or `s`).

use super::attention::Form;
use super::cell::{Cell, CellWeights};
use super::classifier::RnnClassifier;
use crate::engine::model::param::transpose;
use crate::engine::onnx::graph::{Attr, Graph};
use crate::engine::onnx::proto::INT32;
use crate::engine::onnx::steps::{unsqueeze, valid_steps};

impl<C: Cell> RnnClassifier<C> {
    /// Logits (batch × classes) of `x` (batch × steps × channels, scaled) whose sequences have
    /// `lengths` (int64, batch); the layers unrolled over `unroll` steps when given.
    pub fn onnx(&self, g: &mut Graph, x: &str, lengths: &str, unroll: Option<usize>) -> String {
        let (states, s) = match unroll {
            Some(steps) => self.unrolled(g, x, lengths, steps),
            None => self.layers_onnx(g, x, lengths),
        };
        let features = match self.form() {
            None => s,
            Some(form) => {
                let context = self.attention(g, &form, (&states, &s), lengths);
                g.op("Concat", &[&context, &s], vec![("axis", Attr::Int(1))])
            }
        };
        let width = Self::features_of(self.width(), self.pooling);
        let w = self.param("output.weight").to_vec();
        let w = g.floats("output_weight", &[self.classes, width], w);
        let b = g.floats(
            "output_bias",
            &[self.classes],
            self.param("output.bias").to_vec(),
        );
        g.op("Gemm", &[&features, &w, &b], vec![("transB", Attr::Int(1))])
    }

    /// The top layer's states (batch × steps × W) and the final state (batch × W), one ONNX
    /// `GRU`/`LSTM` node per layer.
    fn layers_onnx(&self, g: &mut Graph, x: &str, lengths: &str) -> (String, String) {
        let lens = g.op("Cast", &[lengths], vec![("to", Attr::Int(INT32.into()))]);
        let mut input = g.op("Transpose", &[x], vec![("perm", Attr::Ints(vec![1, 0, 2]))]);
        let mut last = String::new();
        for dirs in self.cells() {
            let [y, y_h] = self.layer(g, &dirs, (&input, &lens));
            // Y is steps × directions × batch × H: the next layer reads steps × batch × (dirs·H).
            let perm = vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))];
            let y = g.op("Transpose", &[&y], perm);
            let shape = g.ints("shape", &[3], vec![0, 0, -1]);
            input = g.op("Reshape", &[&y, &shape], vec![]);
            last = y_h;
        }
        // The final state [h_n forward; h_n reverse] (batch × dirs·H).
        let perm = vec![("perm", Attr::Ints(vec![1, 0, 2]))];
        let s = g.op("Transpose", &[&last], perm.clone());
        let flat = g.ints("shape", &[2], vec![0, -1]);
        let s = g.op("Reshape", &[&s, &flat], vec![]);
        (g.op("Transpose", &[&input], perm), s)
    }

    /// One layer's node: its outputs `Y` and `Y_h`.
    fn layer(
        &self,
        g: &mut Graph,
        dirs: &[CellWeights<'_>],
        (x, lens): (&str, &str),
    ) -> [String; 2] {
        let (h, d, n) = (self.hidden, dirs[0].input, dirs.len());
        let gates = C::GATES * h;
        let pick = |w: &[f32], cols: usize| reorder::<C>(w, h, cols);
        let w: Vec<f32> = dirs.iter().flat_map(|c| pick(c.weight_ih, d)).collect();
        let r: Vec<f32> = dirs.iter().flat_map(|c| pick(c.weight_hh, h)).collect();
        let b: Vec<f32> = (dirs.iter())
            .flat_map(|c| [pick(c.bias_ih, 1), pick(c.bias_hh, 1)].concat())
            .collect();
        let w = g.floats("W", &[n, gates, d], w);
        let r = g.floats("R", &[n, gates, h], r);
        let b = g.floats("B", &[n, 2 * gates], b);
        let direction = if n == 2 { "bidirectional" } else { "forward" };
        let mut attrs = vec![
            ("hidden_size", Attr::Int(h as i64)),
            ("direction", Attr::Str(direction.into())),
        ];
        attrs.extend((C::ONNX_ATTRS.iter()).map(|&(name, v)| (name, Attr::Int(v))));
        let outs = g.op_n(C::ONNX_OP, &[x, &w, &r, &b, lens], attrs, 2);
        [outs[0].clone(), outs[1].clone()]
    }

    /// Each step's score (batch × steps × 1) in the form's equation.
    fn scores(&self, g: &mut Graph, form: &Form<'_>, (states, s): (&str, &str)) -> String {
        let w = self.width();
        let query = match form {
            Form::Dot => s.to_owned(),
            // sᵀ W_g h_j = (s W_g) · h_j, W_g as stored.
            Form::General { w_g } => {
                let w_g = g.floats("attention_W_g", &[w, w], w_g.to_vec());
                g.op("MatMul", &[s, &w_g], vec![])
            }
            // vᵀ tanh(W_s s + W_h h_j), W_s and W_h stored A × W.
            Form::Additive { w_s, w_h, v, size } => {
                let w_s = g.floats("attention_W_s", &[w, *size], transpose(w_s, *size, w));
                let w_h = g.floats("attention_W_h", &[w, *size], transpose(w_h, *size, w));
                let v = g.floats("attention_v", &[*size, 1], v.to_vec());
                let q = g.op("MatMul", &[s, &w_s], vec![]);
                let q = unsqueeze(g, &q, 1);
                let u = g.op("MatMul", &[states, &w_h], vec![]);
                let u = g.op("Add", &[&u, &q], vec![]);
                let u = g.op("Tanh", &[&u], vec![]);
                return g.op("MatMul", &[&u, &v], vec![]);
            }
        };
        let q = unsqueeze(g, &query, 2);
        g.op("MatMul", &[states, &q], vec![])
    }

    /// The context (batch × W): `states` (batch × steps × W) weighted by the softmax of the
    /// form's scores over each sequence's valid steps, the query `s` (batch × W).
    fn attention(
        &self,
        g: &mut Graph,
        form: &Form<'_>,
        (states, s): (&str, &str),
        lengths: &str,
    ) -> String {
        let scores = self.scores(g, form, (states, s));
        let axis = g.ints("axis", &[1], vec![2]);
        let scores = g.op("Squeeze", &[&scores, &axis], vec![]);
        let valid = valid_steps(g, &scores, lengths);
        let never = g.scalar("masked", -1e30);
        let scores = g.op("Where", &[&valid, &scores, &never], vec![]);
        let alpha = g.op("Softmax", &[&scores], vec![("axis", Attr::Int(1))]);
        let alpha = unsqueeze(g, &alpha, 1);
        let context = g.op("MatMul", &[&alpha, states], vec![]);
        let axis = g.ints("axis", &[1], vec![1]);
        g.op("Squeeze", &[&context, &axis], vec![])
    }
}

/// A weight of PyTorch's gate blocks (each `h` rows of `cols`) in ONNX's gate order.
fn reorder<C: Cell>(w: &[f32], h: usize, cols: usize) -> Vec<f32> {
    let block = h * cols;
    (C::ONNX_GATES.iter())
        .flat_map(|&gate| w[gate * block..(gate + 1) * block].iter().copied())
        .collect()
}
