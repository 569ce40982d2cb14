//! Attention of a query state `s` over a sequence's encoder states `h_j`, in the three classic
//! forms, forward and backward:
//!
//! - additive (Bahdanau): `e_j = vᵀ tanh(W_s s + W_h h_j)`;
//! - multiplicative, general (Luong): `e_j = sᵀ W_g h_j`;
//! - dot (Luong): `e_j = sᵀ h_j`;
//!
//! then `α = softmax(e)` over the sequence's valid steps and `context = Σ_j α_j h_j`. A batch
//! is computed at once (the weights' products as matrix products over every step);
//! `forward`/`backward` are the batch of one sequence: `states` T × H (only the first `length`
//! rows count), `s` H.

use super::activations::tanh_in_place;
use crate::engine::model::kernels::matmul;

/// The form and its weights (`W_s`, `W_h`: A × H, `v`: A; `W_g`: H × H).
#[derive(Debug, Clone, Copy)]
pub enum Form<'a> {
    Additive {
        w_s: &'a [f32],
        w_h: &'a [f32],
        v: &'a [f32],
        size: usize,
    },
    General {
        w_g: &'a [f32],
    },
    Dot,
}

/// One sequence's encoder states (T × H, the first `length` rows valid) and its query (H).
#[derive(Debug, Clone, Copy)]
pub struct Sequence<'a> {
    pub states: &'a [f32],
    pub length: usize,
    pub h: usize,
    pub query: &'a [f32],
}

/// One sequence's attention: scores `e`, weights `α` (0 past the length), the context, and
/// (additive) each step's `tanh` for the backward pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attended {
    pub scores: Vec<f32>,
    pub weights: Vec<f32>,
    pub context: Vec<f32>,
    hidden: Vec<f32>,
}

/// Gradients of one sequence's attention: the states (T × H), the query, and the form's
/// weights (additive: `W_s`, `W_h`, `v`; general: `W_g`; dot: none), accumulated into.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttentionGrads {
    pub states: Vec<f32>,
    pub query: Vec<f32>,
    pub w_s: Vec<f32>,
    pub w_h: Vec<f32>,
    pub v: Vec<f32>,
    pub w_g: Vec<f32>,
}

impl AttentionGrads {
    /// Zeroed gradients for `form` over one sequence's `steps` × `h` states.
    pub fn zeros(form: &Form<'_>, steps: usize, h: usize) -> Self {
        Self::zeros_batch(form, 1, steps, h)
    }

    /// Zeroed gradients for `form` over a batch's `batch` × `steps` × `h` states.
    pub fn zeros_batch(form: &Form<'_>, batch: usize, steps: usize, h: usize) -> Self {
        let mut g = Self {
            states: vec![0.0; batch * steps * h],
            query: vec![0.0; batch * h],
            ..Self::default()
        };
        match form {
            Form::Additive { size, .. } => {
                g.w_s = vec![0.0; size * h];
                g.w_h = vec![0.0; size * h];
                g.v = vec![0.0; *size];
            }
            Form::General { .. } => g.w_g = vec![0.0; h * h],
            Form::Dot => {}
        }
        g
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A padded batch of encoder states (B × T × H; only each sequence's first `lengths[b]` rows
/// count) and one query per sequence (B × H).
#[derive(Debug, Clone, Copy)]
pub struct States<'a> {
    pub states: &'a [f32],
    pub lengths: &'a [usize],
    pub steps: usize,
    pub h: usize,
    pub queries: &'a [f32],
}

/// A batch's attention: scores and weights (B × T, 0 past each length), contexts (B × H), and
/// what the backward pass needs (additive: `tanh(W_s s + W_h h_j)`, B × T × A; general:
/// `W_gᵀ s`, B × H).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchAttended {
    pub scores: Vec<f32>,
    pub weights: Vec<f32>,
    pub context: Vec<f32>,
    kept: Vec<f32>,
}

/// The forward pass over a batch: the weights' products are matrix products over every step
/// of every sequence at once.
pub fn forward_batch(form: &Form<'_>, x: &States<'_>) -> BatchAttended {
    let (b_n, t_n, h) = (x.lengths.len(), x.steps, x.h);
    let mut out = BatchAttended {
        scores: vec![0.0; b_n * t_n],
        weights: vec![0.0; b_n * t_n],
        context: vec![0.0; b_n * h],
        kept: Vec::new(),
    };
    let state = |b: usize, t: usize| &x.states[(b * t_n + t) * h..(b * t_n + t + 1) * h];
    match form {
        Form::Additive { w_s, w_h, v, size } => {
            let a_n = *size;
            let mut q = vec![0.0f32; b_n * a_n];
            matmul((b_n, a_n, h), &mut q, false, x.queries, (h, 1), w_s, (1, h));
            let mut u = vec![0.0f32; b_n * t_n * a_n];
            matmul(
                (b_n * t_n, a_n, h),
                &mut u,
                false,
                x.states,
                (h, 1),
                w_h,
                (1, h),
            );
            for b in 0..b_n {
                let qb = &q[b * a_n..(b + 1) * a_n];
                for t in 0..t_n {
                    let ut = &mut u[(b * t_n + t) * a_n..(b * t_n + t + 1) * a_n];
                    if t >= x.lengths[b] {
                        ut.fill(0.0);
                        continue;
                    }
                    for (k, &qa) in ut.iter_mut().zip(qb) {
                        *k += qa;
                    }
                    tanh_in_place(ut);
                    out.scores[b * t_n + t] = dot(v, ut);
                }
            }
            out.kept = u;
        }
        Form::General { w_g } => {
            // sᵀ W_g h_j = (W_gᵀ s) · h_j.
            let mut g = vec![0.0f32; b_n * h];
            matmul((b_n, h, h), &mut g, false, x.queries, (h, 1), w_g, (h, 1));
            for b in 0..b_n {
                for t in 0..x.lengths[b] {
                    out.scores[b * t_n + t] = dot(&g[b * h..(b + 1) * h], state(b, t));
                }
            }
            out.kept = g;
        }
        Form::Dot => {
            for b in 0..b_n {
                for t in 0..x.lengths[b] {
                    out.scores[b * t_n + t] = dot(&x.queries[b * h..(b + 1) * h], state(b, t));
                }
            }
        }
    }
    for b in 0..b_n {
        let len = x.lengths[b];
        let e = &out.scores[b * t_n..b * t_n + len];
        let max = e.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = e.iter().map(|e| (e - max).exp()).sum();
        let context = &mut out.context[b * h..(b + 1) * h];
        for t in 0..len {
            let w = (out.scores[b * t_n + t] - max).exp() / total;
            out.weights[b * t_n + t] = w;
            for (c, s) in context.iter_mut().zip(state(b, t)) {
                *c += w * s;
            }
        }
    }
    out
}

/// The backward pass over a batch, given the loss's gradient of each context (B × H);
/// accumulates into `grads` (from `AttentionGrads::zeros_batch`).
pub fn backward_batch(
    form: &Form<'_>,
    x: &States<'_>,
    att: &BatchAttended,
    d_context: &[f32],
    grads: &mut AttentionGrads,
) {
    let (b_n, t_n, h) = (x.lengths.len(), x.steps, x.h);
    let state = |b: usize, t: usize| &x.states[(b * t_n + t) * h..(b * t_n + t + 1) * h];
    // Through the weighted sum, then the softmax: de_j = α_j (dα_j − Σ_k α_k dα_k).
    let mut d_scores = vec![0.0f32; b_n * t_n];
    for b in 0..b_n {
        let dc = &d_context[b * h..(b + 1) * h];
        let len = x.lengths[b];
        let mut mean = 0.0f32;
        for t in 0..len {
            let da = dot(dc, state(b, t));
            d_scores[b * t_n + t] = da;
            mean += att.weights[b * t_n + t] * da;
        }
        for t in 0..len {
            let w = att.weights[b * t_n + t];
            d_scores[b * t_n + t] = w * (d_scores[b * t_n + t] - mean);
            for (g, c) in grads.states[(b * t_n + t) * h..(b * t_n + t + 1) * h]
                .iter_mut()
                .zip(dc)
            {
                *g += w * c;
            }
        }
    }
    match form {
        Form::Additive { w_s, w_h, v, size } => {
            let a_n = *size;
            let u = &att.kept;
            // dU = de · v ∘ (1 − u²); 0 on padded steps, where de is 0.
            let mut du = vec![0.0f32; b_n * t_n * a_n];
            let mut dq = vec![0.0f32; b_n * a_n];
            for b in 0..b_n {
                for t in 0..x.lengths[b] {
                    let de = d_scores[b * t_n + t];
                    let at = (b * t_n + t) * a_n;
                    let (ut, dut) = (&u[at..at + a_n], &mut du[at..at + a_n]);
                    for a in 0..a_n {
                        grads.v[a] += de * ut[a];
                        dut[a] = de * v[a] * (1.0 - ut[a] * ut[a]);
                        dq[b * a_n + a] += dut[a];
                    }
                }
            }
            let n = b_n * t_n;
            matmul(
                (a_n, h, n),
                &mut grads.w_h,
                true,
                &du,
                (1, a_n),
                x.states,
                (h, 1),
            );
            matmul(
                (n, h, a_n),
                &mut grads.states,
                true,
                &du,
                (a_n, 1),
                w_h,
                (h, 1),
            );
            matmul(
                (a_n, h, b_n),
                &mut grads.w_s,
                true,
                &dq,
                (1, a_n),
                x.queries,
                (h, 1),
            );
            matmul(
                (b_n, h, a_n),
                &mut grads.query,
                true,
                &dq,
                (a_n, 1),
                w_s,
                (h, 1),
            );
        }
        Form::General { w_g } => {
            let g = &att.kept;
            let mut dg = vec![0.0f32; b_n * h];
            for b in 0..b_n {
                for t in 0..x.lengths[b] {
                    let de = d_scores[b * t_n + t];
                    for (d, s) in dg[b * h..(b + 1) * h].iter_mut().zip(state(b, t)) {
                        *d += de * s;
                    }
                    let at = (b * t_n + t) * h;
                    for (d, gk) in grads.states[at..at + h]
                        .iter_mut()
                        .zip(&g[b * h..(b + 1) * h])
                    {
                        *d += de * gk;
                    }
                }
            }
            // g = W_gᵀ s: ds = W_g dg, dW_g = s dgᵀ.
            matmul(
                (b_n, h, h),
                &mut grads.query,
                true,
                &dg,
                (h, 1),
                w_g,
                (1, h),
            );
            matmul(
                (h, h, b_n),
                &mut grads.w_g,
                true,
                x.queries,
                (1, h),
                &dg,
                (h, 1),
            );
        }
        Form::Dot => {
            for b in 0..b_n {
                let s = &x.queries[b * h..(b + 1) * h];
                for t in 0..x.lengths[b] {
                    let de = d_scores[b * t_n + t];
                    for (q, v) in grads.query[b * h..(b + 1) * h].iter_mut().zip(state(b, t)) {
                        *q += de * v;
                    }
                    let at = (b * t_n + t) * h;
                    for (d, q) in grads.states[at..at + h].iter_mut().zip(s) {
                        *d += de * q;
                    }
                }
            }
        }
    }
}

/// One sequence's forward pass (a batch of one).
pub fn forward(form: &Form<'_>, seq: &Sequence<'_>) -> Attended {
    let steps = seq.states.len() / seq.h.max(1);
    let att = forward_batch(form, &one(seq, steps, &[seq.length]));
    Attended {
        scores: att.scores,
        weights: att.weights,
        context: att.context,
        hidden: att.kept,
    }
}

/// One sequence's backward pass, given the loss's gradient `d_context`; accumulates into
/// `grads` (from `AttentionGrads::zeros`).
pub fn backward(
    form: &Form<'_>,
    seq: &Sequence<'_>,
    att: &Attended,
    d_context: &[f32],
    grads: &mut AttentionGrads,
) {
    let steps = seq.states.len() / seq.h.max(1);
    let batch = BatchAttended {
        scores: att.scores.clone(),
        weights: att.weights.clone(),
        context: att.context.clone(),
        kept: att.hidden.clone(),
    };
    backward_batch(
        form,
        &one(seq, steps, &[seq.length]),
        &batch,
        d_context,
        grads,
    );
}

fn one<'a>(seq: &Sequence<'a>, steps: usize, lengths: &'a [usize; 1]) -> States<'a> {
    States {
        states: seq.states,
        lengths,
        steps,
        h: seq.h,
        queries: seq.query,
    }
}
