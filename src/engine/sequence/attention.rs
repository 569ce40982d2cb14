//! Attention of a query state `s` over a sequence's encoder states `h_j`, in the three classic
//! forms, forward and backward:
//!
//! - additive (Bahdanau): `e_j = vᵀ tanh(W_s s + W_h h_j)`;
//! - multiplicative, general (Luong): `e_j = sᵀ W_g h_j`;
//! - dot (Luong): `e_j = sᵀ h_j`;
//!
//! then `α = softmax(e)` over the sequence's valid steps and `context = Σ_j α_j h_j`. Per
//! sequence: `states` is T × H (only the first `length` rows count), `s` is H.

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
    /// Zeroed gradients for `form` over `steps` × `h` states.
    pub fn zeros(form: &Form<'_>, steps: usize, h: usize) -> Self {
        let mut g = Self {
            states: vec![0.0; steps * h],
            query: vec![0.0; h],
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

/// `m (rows × cols) · x`.
fn mat_vec(m: &[f32], x: &[f32], rows: usize) -> Vec<f32> {
    let cols = x.len();
    (0..rows)
        .map(|i| dot(&m[i * cols..(i + 1) * cols], x))
        .collect()
}

/// The forward pass for one sequence.
pub fn forward(form: &Form<'_>, seq: &Sequence<'_>) -> Attended {
    let Sequence {
        states,
        length,
        h,
        query: s,
    } = *seq;
    let steps = states.len() / h.max(1);
    let state = |j: usize| &states[j * h..(j + 1) * h];
    let mut out = Attended {
        scores: vec![0.0; steps],
        weights: vec![0.0; steps],
        context: vec![0.0; h],
        hidden: Vec::new(),
    };
    match form {
        Form::Additive { w_s, w_h, v, size } => {
            let query = mat_vec(w_s, s, *size);
            out.hidden = vec![0.0; steps * size];
            for j in 0..length {
                let key = mat_vec(w_h, state(j), *size);
                let u = &mut out.hidden[j * size..(j + 1) * size];
                for a in 0..*size {
                    u[a] = (query[a] + key[a]).tanh();
                }
                out.scores[j] = dot(v, u);
            }
        }
        Form::General { w_g } => {
            for j in 0..length {
                out.scores[j] = dot(s, &mat_vec(w_g, state(j), h));
            }
        }
        Form::Dot => {
            for j in 0..length {
                out.scores[j] = dot(s, state(j));
            }
        }
    }
    let max = out.scores[..length]
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = out.scores[..length].iter().map(|e| (e - max).exp()).sum();
    for j in 0..length {
        out.weights[j] = (out.scores[j] - max).exp() / total;
        for (c, x) in out.context.iter_mut().zip(state(j)) {
            *c += out.weights[j] * x;
        }
    }
    out
}

/// The backward pass for one sequence, given the loss's gradient `d_context`; accumulates into
/// `grads` (from `AttentionGrads::zeros`).
pub fn backward(
    form: &Form<'_>,
    seq: &Sequence<'_>,
    att: &Attended,
    d_context: &[f32],
    grads: &mut AttentionGrads,
) {
    let Sequence {
        states,
        length,
        h,
        query: s,
    } = *seq;
    let state = |j: usize| &states[j * h..(j + 1) * h];
    // Through the weighted sum, then the softmax: de_j = α_j (dα_j − Σ_k α_k dα_k).
    let d_alpha: Vec<f32> = (0..length).map(|j| dot(d_context, state(j))).collect();
    let mean: f32 = (0..length).map(|j| att.weights[j] * d_alpha[j]).sum();
    let d_scores: Vec<f32> = (0..length)
        .map(|j| att.weights[j] * (d_alpha[j] - mean))
        .collect();
    for j in 0..length {
        for (g, c) in grads.states[j * h..(j + 1) * h].iter_mut().zip(d_context) {
            *g += att.weights[j] * c;
        }
    }
    match form {
        Form::Additive { w_s, w_h, v, size } => {
            let a_n = *size;
            let mut d_query = vec![0.0f32; a_n];
            for (j, &de) in d_scores.iter().enumerate() {
                let u = &att.hidden[j * a_n..(j + 1) * a_n];
                for a in 0..a_n {
                    grads.v[a] += de * u[a];
                    let da = de * v[a] * (1.0 - u[a] * u[a]);
                    d_query[a] += da;
                    for (k, x) in state(j).iter().enumerate() {
                        grads.w_h[a * h + k] += da * x;
                        grads.states[j * h + k] += da * w_h[a * h + k];
                    }
                }
            }
            for a in 0..a_n {
                for k in 0..h {
                    grads.w_s[a * h + k] += d_query[a] * s[k];
                    grads.query[k] += d_query[a] * w_s[a * h + k];
                }
            }
        }
        Form::General { w_g } => {
            for (j, &de) in d_scores.iter().enumerate() {
                let wh = mat_vec(w_g, state(j), h);
                for i in 0..h {
                    grads.query[i] += de * wh[i];
                    for k in 0..h {
                        grads.w_g[i * h + k] += de * s[i] * state(j)[k];
                        grads.states[j * h + k] += de * s[i] * w_g[i * h + k];
                    }
                }
            }
        }
        Form::Dot => {
            for (j, &de) in d_scores.iter().enumerate() {
                for (q, x) in grads.query.iter_mut().zip(state(j)) {
                    *q += de * x;
                }
                for (g, q) in grads.states[j * h..(j + 1) * h].iter_mut().zip(s) {
                    *g += de * q;
                }
            }
        }
    }
}
