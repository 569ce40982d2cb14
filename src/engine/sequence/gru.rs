//! One GRU layer, forward and backward through time, with PyTorch's layout and equations
//! (`torch.nn.GRU`, gates stacked `[r, z, n]` along the rows of `weight_ih` (3H × D) and
//! `weight_hh` (3H × H)):
//!
//! ```text
//! r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn))      h' = (1 − z) ∘ n + z ∘ h,   h₀ = 0
//! ```
//!
//! Sequences of different lengths share a padded batch (B × T × D, batch-major): past its
//! length a sequence's state is carried unchanged, its outputs there are 0, and its padded
//! inputs get no gradient, so padding never changes any sequence's output or gradient (as
//! PyTorch's packed sequences). The input projections of every step are one matrix product;
//! each step's recurrence is one more.

use super::activations::{sigmoid, tanh};
use super::avx2;
use super::cell::{Cell, CellGrads, CellWeights, gates};
use crate::engine::model::kernels::matmul;
use crate::engine::model::param::transpose;
use crate::engine::onnx::graph::Graph;

/// A layer's weights: 3H × D, 3H × H, 3H, 3H.
pub type GruWeights<'a> = CellWeights<'a>;

/// The GRU cell, for the stack and the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gru;

impl Cell for Gru {
    const NAME: &'static str = "gru";
    const GATES: usize = 3;
    const ONNX_OP: &'static str = "GRU";
    const ONNX_GATES: &'static [usize] = &[1, 0, 2];
    // PyTorch applies the reset gate after the recurrent product.
    const ONNX_ATTRS: &'static [(&'static str, i64)] = &[("linear_before_reset", 1)];
    type Pass = GruPass;

    fn forward(w: &CellWeights<'_>, batch: &Batch<'_>) -> GruPass {
        forward(w, batch)
    }

    fn backward(
        w: &CellWeights<'_>,
        batch: &Batch<'_>,
        pass: &GruPass,
        d_outputs: &[f32],
        d_last: &[f32],
    ) -> CellGrads {
        backward(w, batch, pass, d_outputs, d_last)
    }

    fn onnx_step(
        g: &mut Graph,
        (gi, gh): (&str, &str),
        (h, _): (&str, Option<&str>),
        hidden: usize,
    ) -> (String, Option<String>) {
        let [ri, zi, ni] = gates(g, gi, hidden);
        let [rh, zh, nh] = gates(g, gh, hidden);
        let r = g.op("Add", &[&ri, &rh], vec![]);
        let r = g.op("Sigmoid", &[&r], vec![]);
        let z = g.op("Add", &[&zi, &zh], vec![]);
        let z = g.op("Sigmoid", &[&z], vec![]);
        let n = g.op("Mul", &[&r, &nh], vec![]);
        let n = g.op("Add", &[&ni, &n], vec![]);
        let n = g.op("Tanh", &[&n], vec![]);
        // (1 − z) ∘ n + z ∘ h = n + z ∘ (h − n).
        let d = g.op("Sub", &[h, &n], vec![]);
        let d = g.op("Mul", &[&z, &d], vec![]);
        (g.op("Add", &[&n, &d], vec![]), None)
    }

    fn outputs(pass: &GruPass) -> &[f32] {
        &pass.outputs
    }

    fn last(pass: &GruPass) -> &[f32] {
        &pass.last
    }
}

pub use super::batch::Batch;

/// What the forward pass keeps for the backward pass, and its outputs.
#[derive(Debug, Clone, Default)]
pub struct GruPass {
    /// B × T × H: each step's state (0 past a sequence's length).
    pub outputs: Vec<f32>,
    /// B × H: each sequence's state at its last valid step.
    pub last: Vec<f32>,
    /// Per step (T × B × H): the state before it, and the gates r, z, n and `W_hn h + b_hn`.
    h_prev: Vec<f32>,
    r: Vec<f32>,
    z: Vec<f32>,
    n: Vec<f32>,
    hn: Vec<f32>,
}

/// The layer's gradients.
pub type GruGrads = CellGrads;

avx2::dispatch!(
    /// The forward pass over `batch`, built for AVX2 where the CPU has it (`avx2.rs`).
    pub fn forward / forward_avx2 => forward_body(w: &GruWeights<'_>, batch: &Batch<'_>) -> GruPass
);

#[inline(always)]
fn forward_body(w: &GruWeights<'_>, batch: &Batch<'_>) -> GruPass {
    let (d, hs) = (w.input, w.hidden);
    let (b_n, t_n) = (batch.batch, batch.steps);
    let g3 = 3 * hs;
    // Every step's input projection at once: (B·T × D) · W_ihᵀ.
    let mut gi = vec![0.0f32; b_n * t_n * g3];
    matmul(
        (b_n * t_n, g3, d),
        &mut gi,
        false,
        batch.x,
        (d, 1),
        w.weight_ih,
        (1, d),
    );
    for row in gi.chunks_exact_mut(g3) {
        for (j, v) in row.iter_mut().enumerate() {
            *v += w.bias_ih[j] + if j < 2 * hs { w.bias_hh[j] } else { 0.0 };
        }
    }
    let mut pass = GruPass {
        outputs: vec![0.0; b_n * t_n * hs],
        last: vec![0.0; b_n * hs],
        h_prev: vec![0.0; t_n * b_n * hs],
        r: vec![0.0; t_n * b_n * hs],
        z: vec![0.0; t_n * b_n * hs],
        n: vec![0.0; t_n * b_n * hs],
        hn: vec![0.0; t_n * b_n * hs],
    };
    let mut h = vec![0.0f32; b_n * hs];
    let mut gh = vec![0.0f32; b_n * g3];
    // W_hhᵀ row by row, which `gemm` reads in place (as the LSTM's forward pass does).
    let w_hh_t = transpose(w.weight_hh, g3, hs);
    for t in 0..t_n {
        matmul((b_n, g3, hs), &mut gh, false, &h, (hs, 1), &w_hh_t, (g3, 1));
        let at = t * b_n * hs;
        pass.h_prev[at..at + b_n * hs].copy_from_slice(&h);
        for b in 0..b_n {
            if t >= batch.lengths[b] {
                continue;
            }
            // Slices of one (b, t), so each loop below vectorizes.
            let gi_row = &gi[(b * t_n + t) * g3..(b * t_n + t + 1) * g3];
            let gh_row = &gh[b * g3..(b + 1) * g3];
            let k = at + b * hs;
            let (r, z) = (&mut pass.r[k..k + hs], &mut pass.z[k..k + hs]);
            let (n, hn) = (&mut pass.n[k..k + hs], &mut pass.hn[k..k + hs]);
            // gi already holds b_ih, and b_hh for r and z.
            for j in 0..hs {
                r[j] = sigmoid(gi_row[j] + gh_row[j]);
                z[j] = sigmoid(gi_row[hs + j] + gh_row[hs + j]);
                hn[j] = gh_row[2 * hs + j] + w.bias_hh[2 * hs + j];
                n[j] = tanh(gi_row[2 * hs + j] + r[j] * hn[j]);
            }
            let hb = &mut h[b * hs..(b + 1) * hs];
            let out = &mut pass.outputs[(b * t_n + t) * hs..(b * t_n + t + 1) * hs];
            for j in 0..hs {
                hb[j] = (1.0 - z[j]) * n[j] + z[j] * hb[j];
                out[j] = hb[j];
            }
        }
    }
    pass.last = h;
    pass
}

avx2::dispatch!(
    /// The backward pass: `d_outputs` (B × T × H, ignored past each length) and `d_last`
    /// (B × H) are the loss's gradients with respect to the outputs and the last states.
    /// Built for AVX2 where the CPU has it, as `forward` is.
    pub fn backward / backward_avx2 => backward_body(
        w: &GruWeights<'_>,
        batch: &Batch<'_>,
        pass: &GruPass,
        d_outputs: &[f32],
        d_last: &[f32],
    ) -> GruGrads
);

#[inline(always)]
fn backward_body(
    w: &GruWeights<'_>,
    batch: &Batch<'_>,
    pass: &GruPass,
    d_outputs: &[f32],
    d_last: &[f32],
) -> GruGrads {
    let (d, hs) = (w.input, w.hidden);
    let (b_n, t_n) = (batch.batch, batch.steps);
    let g3 = 3 * hs;
    let mut dh = d_last.to_vec();
    // Per (b, t): the pre-activation gradients of the input projection [r, z, n].
    let mut dgi = vec![0.0f32; b_n * t_n * g3];
    let mut dgh = vec![0.0f32; b_n * g3];
    let mut grads = CellGrads::zeros(3, d, hs, batch);
    let mut dh_prev = vec![0.0f32; b_n * hs];
    for t in (0..t_n).rev() {
        let at = t * b_n * hs;
        dgh.fill(0.0);
        for b in 0..b_n {
            let valid = t < batch.lengths[b];
            for j in 0..hs {
                let k = at + b * hs + j;
                if !valid {
                    // The state is carried through a padded step unchanged.
                    dh_prev[b * hs + j] = dh[b * hs + j];
                    continue;
                }
                let g = dh[b * hs + j] + d_outputs[(b * t_n + t) * hs + j];
                let (r, z, n, hn) = (pass.r[k], pass.z[k], pass.n[k], pass.hn[k]);
                let h_old = pass.h_prev[k];
                let dn = g * (1.0 - z);
                let dz = g * (h_old - n);
                let da_n = dn * (1.0 - n * n);
                let da_r = da_n * hn * r * (1.0 - r);
                let da_z = dz * z * (1.0 - z);
                let gi_row = (b * t_n + t) * g3;
                dgi[gi_row + j] = da_r;
                dgi[gi_row + hs + j] = da_z;
                dgi[gi_row + 2 * hs + j] = da_n;
                dgh[b * g3 + j] = da_r;
                dgh[b * g3 + hs + j] = da_z;
                dgh[b * g3 + 2 * hs + j] = da_n * r;
                dh_prev[b * hs + j] = g * z;
            }
        }
        // dW_hh += dghᵀ · h_prev; dh_prev += dgh · W_hh (rows of padded steps are 0).
        let h_prev = &pass.h_prev[at..at + b_n * hs];
        matmul(
            (g3, hs, b_n),
            &mut grads.weight_hh,
            true,
            &dgh,
            (1, g3),
            h_prev,
            (hs, 1),
        );
        matmul(
            (b_n, hs, g3),
            &mut dh_prev,
            true,
            &dgh,
            (g3, 1),
            w.weight_hh,
            (hs, 1),
        );
        for row in dgh.chunks_exact(g3) {
            for (s, v) in grads.bias_hh.iter_mut().zip(row) {
                *s += v;
            }
        }
        std::mem::swap(&mut dh, &mut dh_prev);
    }
    grads.add_input_projection(w, batch, &dgi);
    grads
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests;
