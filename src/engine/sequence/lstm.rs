//! One LSTM layer, forward and backward through time, with PyTorch's layout and equations
//! (`torch.nn.LSTM`, gates stacked `[i, f, g, o]` along the rows of `weight_ih` (4H × D) and
//! `weight_hh` (4H × H)):
//!
//! ```text
//! i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
//! g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
//! c' = f ∘ c + i ∘ g      h' = o ∘ tanh(c'),   h₀ = c₀ = 0
//! ```
//!
//! Padding as the GRU's (`gru.rs`): past its length a sequence's state (h and c) is carried
//! unchanged and its outputs are 0. The input projections of every step are one matrix
//! product; each step's recurrence is one more.

use super::activations::{sigmoid, tanh};
use super::avx2;
use super::batch::Batch;
use super::cell::{Cell, CellGrads, CellWeights, gates};
use crate::engine::model::kernels::matmul;
use crate::engine::model::param::transpose;
use crate::engine::onnx::graph::Graph;

/// The LSTM cell, for the stack and the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lstm;

/// What the forward pass keeps for the backward pass, and its outputs.
#[derive(Debug, Clone, Default)]
pub struct LstmPass {
    /// B × T × H: each step's h (0 past a sequence's length).
    pub outputs: Vec<f32>,
    /// B × H: each sequence's h and c at its last valid step (`h_n`, `c_n`).
    pub last: Vec<f32>,
    pub last_cell: Vec<f32>,
    /// T × B × H: each step's c (not read past a sequence's length). With `outputs` it gives
    /// every step's state before it, so the states are not copied per step.
    cells: Vec<f32>,
    /// Per step (T × B × H): the gates i, f, g, o and tanh(c').
    gates: [Vec<f32>; 4],
    tanh_c: Vec<f32>,
}

impl Cell for Lstm {
    const NAME: &'static str = "lstm";
    const GATES: usize = 4;
    const ONNX_OP: &'static str = "LSTM";
    const ONNX_GATES: &'static [usize] = &[0, 3, 1, 2];
    const ONNX_ATTRS: &'static [(&'static str, i64)] = &[];
    type Pass = LstmPass;

    fn forward(w: &CellWeights<'_>, batch: &Batch<'_>) -> LstmPass {
        forward(w, batch)
    }

    fn backward(
        w: &CellWeights<'_>,
        batch: &Batch<'_>,
        pass: &LstmPass,
        d_outputs: &[f32],
        d_last: &[f32],
    ) -> CellGrads {
        backward(w, batch, pass, d_outputs, d_last)
    }

    fn onnx_step(
        g: &mut Graph,
        (gi, gh): (&str, &str),
        (_, c): (&str, Option<&str>),
        hidden: usize,
    ) -> (String, Option<String>) {
        let pre = g.op("Add", &[gi, gh], vec![]);
        let [i, f, cand, o] = gates(g, &pre, hidden);
        let i = g.op("Sigmoid", &[&i], vec![]);
        let f = g.op("Sigmoid", &[&f], vec![]);
        let cand = g.op("Tanh", &[&cand], vec![]);
        let o = g.op("Sigmoid", &[&o], vec![]);
        let c = c.expect("an LSTM step has a cell state");
        let kept = g.op("Mul", &[&f, c], vec![]);
        let added = g.op("Mul", &[&i, &cand], vec![]);
        let c = g.op("Add", &[&kept, &added], vec![]);
        let tc = g.op("Tanh", &[&c], vec![]);
        (g.op("Mul", &[&o, &tc], vec![]), Some(c))
    }

    fn outputs(pass: &LstmPass) -> &[f32] {
        &pass.outputs
    }

    fn last(pass: &LstmPass) -> &[f32] {
        &pass.last
    }
}

/// Every step's input projection at once, with both biases: b_ih + b_hh + (B·T × D) · W_ihᵀ
/// (the biases written first, so the buffer is not zeroed and then passed over again).
fn input_projections(w: &CellWeights<'_>, batch: &Batch<'_>) -> Vec<f32> {
    let g4 = 4 * w.hidden;
    let rows = batch.batch * batch.steps;
    let bias: Vec<f32> = w
        .bias_ih
        .iter()
        .zip(w.bias_hh)
        .map(|(a, b)| a + b)
        .collect();
    let mut gi = Vec::with_capacity(rows * g4);
    for _ in 0..rows {
        gi.extend_from_slice(&bias);
    }
    let d = w.input;
    matmul(
        (rows, g4, d),
        &mut gi,
        true,
        batch.x,
        (d, 1),
        w.weight_ih,
        (1, d),
    );
    gi
}

avx2::dispatch!(
    /// The forward pass over `batch`, built for AVX2 where the CPU has it (`avx2.rs`).
    pub fn forward / forward_avx2 => forward_body(w: &CellWeights<'_>, batch: &Batch<'_>) -> LstmPass
);

#[inline(always)]
fn forward_body(w: &CellWeights<'_>, batch: &Batch<'_>) -> LstmPass {
    let hs = w.hidden;
    let (b_n, t_n) = (batch.batch, batch.steps);
    let g4 = 4 * hs;
    let gi = input_projections(w, batch);
    let per_step = t_n * b_n * hs;
    // Filled step by step in their T × B × H order, so not zeroed first.
    let mut pass = LstmPass {
        outputs: vec![0.0; b_n * t_n * hs],
        cells: Vec::with_capacity(per_step),
        gates: std::array::from_fn(|_| Vec::with_capacity(per_step)),
        tanh_c: Vec::with_capacity(per_step),
        ..LstmPass::default()
    };
    let (mut h, mut c) = (vec![0.0f32; b_n * hs], vec![0.0f32; b_n * hs]);
    let mut gh = vec![0.0f32; b_n * g4];
    // W_hhᵀ row by row: `gemm` reads it in place, where W_hh itself it would repack every
    // step (16 × 256 × 64 at 38 GFLOP/s against 72 on this shape).
    let w_hh_t = transpose(w.weight_hh, g4, hs);
    for t in 0..t_n {
        matmul((b_n, g4, hs), &mut gh, false, &h, (hs, 1), &w_hh_t, (g4, 1));
        for b in 0..b_n {
            let k = (t * b_n + b) * hs;
            if t >= batch.lengths[b] {
                // Never read: a placeholder, so every (t, b) keeps its offset.
                for v in pass
                    .gates
                    .iter_mut()
                    .chain([&mut pass.cells, &mut pass.tanh_c])
                {
                    v.resize(k + hs, 0.0);
                }
                continue;
            }
            let pre = &gi[(b * t_n + t) * g4..(b * t_n + t + 1) * g4];
            let rec = &gh[b * g4..(b + 1) * g4];
            // One gate at a time over equal-length slices, so each loop vectorizes. Each
            // buffer grows by this (t, b)'s H cells, still in cache when they are written.
            for (q, gate) in pass.gates.iter_mut().enumerate() {
                let (p, r) = (&pre[q * hs..(q + 1) * hs], &rec[q * hs..(q + 1) * hs]);
                gate.resize(k + hs, 0.0);
                let out = &mut gate[k..k + hs];
                if q == 2 {
                    out.iter_mut()
                        .zip(p.iter().zip(r))
                        .for_each(|(o, (a, b))| *o = tanh(a + b));
                } else {
                    out.iter_mut()
                        .zip(p.iter().zip(r))
                        .for_each(|(o, (a, b))| *o = sigmoid(a + b));
                }
            }
            let [gate_i, gate_f, gate_g, gate_o] = &pass.gates;
            let (i, f) = (&gate_i[k..k + hs], &gate_f[k..k + hs]);
            let (g, o) = (&gate_g[k..k + hs], &gate_o[k..k + hs]);
            let (hb, cb) = (&mut h[b * hs..(b + 1) * hs], &mut c[b * hs..(b + 1) * hs]);
            pass.cells.resize(k + hs, 0.0);
            pass.tanh_c.resize(k + hs, 0.0);
            let (cell, tc) = (&mut pass.cells[k..k + hs], &mut pass.tanh_c[k..k + hs]);
            for j in 0..hs {
                cb[j] = f[j] * cb[j] + i[j] * g[j];
                cell[j] = cb[j];
                tc[j] = tanh(cb[j]);
            }
            let out = &mut pass.outputs[(b * t_n + t) * hs..(b * t_n + t + 1) * hs];
            for j in 0..hs {
                hb[j] = o[j] * tc[j];
                out[j] = hb[j];
            }
        }
    }
    pass.last = h;
    pass.last_cell = c;
    pass
}

/// The pre-activation gradients of one valid (b, t) into `da` (4H), given the gradients
/// reaching h' (`dh`) and c' (`dc`) and the cell state before the step (`c_prev`); `dc`
/// becomes the gradient reaching c.
#[inline(always)]
fn step_back(
    pass: &LstmPass,
    k: usize,
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    da: &mut [f32],
) {
    let hs = dh.len();
    let [gi, gf, gg, go] = &pass.gates;
    for j in 0..hs {
        let (i, f, g, o) = (gi[k + j], gf[k + j], gg[k + j], go[k + j]);
        let tc = pass.tanh_c[k + j];
        let d_c = dc[j] + dh[j] * o * (1.0 - tc * tc);
        da[j] = d_c * g * i * (1.0 - i);
        da[hs + j] = d_c * c_prev[j] * f * (1.0 - f);
        da[2 * hs + j] = d_c * i * (1.0 - g * g);
        da[3 * hs + j] = dh[j] * tc * o * (1.0 - o);
        dc[j] = d_c * f;
    }
}

avx2::dispatch!(
    /// The backward pass: `d_outputs` (B × T × H, ignored past each length) and `d_last`
    /// (B × H) are the loss's gradients with respect to the outputs and the last h. Built for
    /// AVX2 where the CPU has it, as `forward` is.
    pub fn backward / backward_avx2 => backward_body(
        w: &CellWeights<'_>,
        batch: &Batch<'_>,
        pass: &LstmPass,
        d_outputs: &[f32],
        d_last: &[f32],
    ) -> CellGrads
);

#[inline(always)]
fn backward_body(
    w: &CellWeights<'_>,
    batch: &Batch<'_>,
    pass: &LstmPass,
    d_outputs: &[f32],
    d_last: &[f32],
) -> CellGrads {
    let (d, hs) = (w.input, w.hidden);
    let (b_n, t_n) = (batch.batch, batch.steps);
    let g4 = 4 * hs;
    let mut grads = CellGrads::zeros(4, d, hs, batch);
    let mut dh = d_last.to_vec();
    let mut dc = vec![0.0f32; b_n * hs];
    // Per (b, t) the gates' pre-activation gradients (B·T × 4H, 0 past each length), the
    // same for both projections: step t's rows are every T-th, read in place by the products.
    let mut dgi = vec![0.0f32; b_n * t_n * g4];
    let (mut g_h, zeros) = (vec![0.0f32; hs], vec![0.0f32; hs]);
    for t in (0..t_n).rev() {
        let at = t * b_n * hs;
        for b in 0..b_n {
            // Past the length, h and c are carried unchanged and so are their gradients.
            if t >= batch.lengths[b] {
                continue;
            }
            let row = (b * t_n + t) * hs;
            for j in 0..hs {
                g_h[j] = dh[b * hs + j] + d_outputs[row + j];
            }
            let c_prev = if t == 0 {
                &zeros[..]
            } else {
                let prev = ((t - 1) * b_n + b) * hs;
                &pass.cells[prev..prev + hs]
            };
            let da = &mut dgi[(b * t_n + t) * g4..(b * t_n + t + 1) * g4];
            step_back(
                pass,
                at + b * hs,
                c_prev,
                &g_h,
                &mut dc[b * hs..(b + 1) * hs],
                da,
            );
            // dh reaching h comes only through the recurrence (added below).
            dh[b * hs..(b + 1) * hs].fill(0.0);
        }
        // dh += dgh_t · W_hh (rows of padded steps are 0).
        matmul(
            (b_n, hs, g4),
            &mut dh,
            true,
            &dgi[t * g4..],
            (t_n * g4, 1),
            w.weight_hh,
            (hs, 1),
        );
    }
    // dW_hh = Σ dghᵀ · h_prev: a sequence's h before step t ≥ 1 is its output at t − 1 (h₀ = 0).
    for (b, &len) in batch.lengths.iter().enumerate() {
        let len = len.min(t_n);
        if len < 2 {
            continue;
        }
        matmul(
            (g4, hs, len - 1),
            &mut grads.weight_hh,
            true,
            &dgi[(b * t_n + 1) * g4..],
            (1, g4),
            &pass.outputs[b * t_n * hs..],
            (hs, 1),
        );
    }
    grads.add_input_projection(w, batch, &dgi);
    // Both biases add to every gate's pre-activation alike.
    grads.bias_hh.clone_from(&grads.bias_ih);
    grads
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests;
