//! Stacked and bidirectional recurrent layers of one cell kind, as `torch.nn.GRU` and
//! `torch.nn.LSTM(num_layers, bidirectional, dropout)` run them:
//! layer `l` reads the outputs of layer `l − 1` (after dropout, in training); a reverse
//! direction reads each sequence backwards within its own length, and a layer's output at a
//! step is `[forward; reverse]`. The stack's final state is `[h_n forward; h_n reverse]` of
//! the top layer: the forward direction's last valid state and the reverse direction's state
//! after reading the whole sequence.

use rand::Rng;

use super::batch::Batch;
use super::cell::{Cell, CellGrads, CellWeights};

/// The weights of one direction of one layer, borrowed.
pub type Direction<'a> = CellWeights<'a>;

/// The forward pass's results and what the backward pass needs.
#[derive(Debug, Clone)]
pub struct StackPass<C: Cell> {
    /// B × T × (H · directions): the top layer's outputs (0 past each length).
    pub outputs: Vec<f32>,
    /// B × (H · directions): the stack's final state.
    pub last: Vec<f32>,
    /// Per layer: its input (B × T × D_l), each direction's pass, the dropout mask applied to
    /// its output (empty: none).
    layers: Vec<LayerPass<C>>,
}

impl<C: Cell> Default for StackPass<C> {
    fn default() -> Self {
        Self {
            outputs: Vec::new(),
            last: Vec::new(),
            layers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct LayerPass<C: Cell> {
    input: Vec<f32>,
    passes: Vec<C::Pass>,
    /// The reverse direction's input (each sequence reversed within its length).
    reversed: Vec<f32>,
    mask: Vec<f32>,
}

/// Per layer and direction, the weights' gradients.
pub type StackGrads = Vec<Vec<CellGrads>>;

/// `batch` with other inputs of the same shape.
fn of<'a>(batch: &Batch<'a>, x: &'a [f32]) -> Batch<'a> {
    Batch { x, ..*batch }
}

/// Each sequence of `x` (B × T × D) reversed within its length; padding stays 0.
fn reverse(x: &[f32], lengths: &[usize], steps: usize, d: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    for (b, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            let (src, dst) = ((b * steps + t) * d, (b * steps + len - 1 - t) * d);
            out[dst..dst + d].copy_from_slice(&x[src..src + d]);
        }
    }
    out
}

/// The forward pass. `weights[l][dir]`; `dropout` > 0 with an `rng` drops each lower layer's
/// outputs (inverted dropout, as PyTorch), never the top layer's.
pub fn forward<C: Cell>(
    weights: &[Vec<Direction<'_>>],
    batch: &Batch<'_>,
    dropout: f64,
    mut rng: Option<&mut dyn rand::RngCore>,
) -> StackPass<C> {
    let (b_n, t_n) = (batch.batch, batch.steps);
    let mut input = batch.x.to_vec();
    let mut pass = StackPass::default();
    for (l, dirs) in weights.iter().enumerate() {
        let h = dirs[0].hidden;
        let width = h * dirs.len();
        let d = dirs[0].input;
        let fwd = C::forward(&dirs[0], &of(batch, &input));
        let (fwd_out, fwd_last) = (C::outputs(&fwd), C::last(&fwd));
        let mut out = vec![0.0f32; b_n * t_n * width];
        let mut last = vec![0.0f32; b_n * width];
        for bt in 0..b_n * t_n {
            out[bt * width..bt * width + h].copy_from_slice(&fwd_out[bt * h..(bt + 1) * h]);
        }
        for b in 0..b_n {
            last[b * width..b * width + h].copy_from_slice(&fwd_last[b * h..(b + 1) * h]);
        }
        let mut layer = LayerPass::<C> {
            input: Vec::new(),
            passes: vec![fwd],
            reversed: Vec::new(),
            mask: Vec::new(),
        };
        if dirs.len() == 2 {
            let reversed = reverse(&input, batch.lengths, t_n, d);
            let rev = C::forward(&dirs[1], &of(batch, &reversed));
            let (rev_out, rev_last) = (C::outputs(&rev), C::last(&rev));
            for (b, &len) in batch.lengths.iter().enumerate() {
                for t in 0..len {
                    let (src, dst) = ((b * t_n + t) * h, (b * t_n + len - 1 - t) * width + h);
                    out[dst..dst + h].copy_from_slice(&rev_out[src..src + h]);
                }
                last[b * width + h..(b + 1) * width].copy_from_slice(&rev_last[b * h..(b + 1) * h]);
            }
            layer.reversed = reversed;
            layer.passes.push(rev);
        }
        let top = l + 1 == weights.len();
        if !top
            && dropout > 0.0
            && let Some(rng) = rng.as_deref_mut()
        {
            let keep = 1.0 / (1.0 - dropout) as f32;
            layer.mask = (0..out.len())
                .map(|_| if rng.gen_bool(dropout) { 0.0 } else { keep })
                .collect();
            out.iter_mut().zip(&layer.mask).for_each(|(v, m)| *v *= m);
        }
        layer.input = std::mem::replace(&mut input, out);
        pass.layers.push(layer);
        if top {
            pass.last = last;
        }
    }
    pass.outputs = input;
    pass
}

/// The backward pass from the loss's gradients of the top layer's outputs and the final state:
/// every layer's and direction's weight gradients, and the inputs' gradient (B × T × D).
pub fn backward<C: Cell>(
    weights: &[Vec<Direction<'_>>],
    batch: &Batch<'_>,
    pass: &StackPass<C>,
    d_outputs: &[f32],
    d_last: &[f32],
) -> (StackGrads, Vec<f32>) {
    let (b_n, t_n) = (batch.batch, batch.steps);
    let mut grads: StackGrads = vec![Vec::new(); weights.len()];
    let mut d_out = d_outputs.to_vec();
    for (l, dirs) in weights.iter().enumerate().rev() {
        let layer = &pass.layers[l];
        let h = dirs[0].hidden;
        let width = h * dirs.len();
        let d = dirs[0].input;
        if !layer.mask.is_empty() {
            d_out.iter_mut().zip(&layer.mask).for_each(|(g, m)| *g *= m);
        }
        let top = l + 1 == weights.len();
        // Split the output gradient by direction (the reverse one back in its own order).
        let mut d_fwd = vec![0.0f32; b_n * t_n * h];
        let mut d_last_fwd = vec![0.0f32; b_n * h];
        for bt in 0..b_n * t_n {
            d_fwd[bt * h..(bt + 1) * h].copy_from_slice(&d_out[bt * width..bt * width + h]);
        }
        if top {
            for b in 0..b_n {
                d_last_fwd[b * h..(b + 1) * h].copy_from_slice(&d_last[b * width..b * width + h]);
            }
        }
        let g = C::backward(
            &dirs[0],
            &of(batch, &layer.input),
            &layer.passes[0],
            &d_fwd,
            &d_last_fwd,
        );
        let mut d_x = g.x.clone();
        let mut layer_grads = vec![g];
        if dirs.len() == 2 {
            let mut d_rev = vec![0.0f32; b_n * t_n * h];
            let mut d_last_rev = vec![0.0f32; b_n * h];
            for (b, &len) in batch.lengths.iter().enumerate() {
                for t in 0..len {
                    let (dst, src) = ((b * t_n + t) * h, (b * t_n + len - 1 - t) * width + h);
                    d_rev[dst..dst + h].copy_from_slice(&d_out[src..src + h]);
                }
                if top {
                    d_last_rev[b * h..(b + 1) * h]
                        .copy_from_slice(&d_last[b * width + h..(b + 1) * width]);
                }
            }
            let g = C::backward(
                &dirs[1],
                &of(batch, &layer.reversed),
                &layer.passes[1],
                &d_rev,
                &d_last_rev,
            );
            for (s, v) in d_x.iter_mut().zip(reverse(&g.x, batch.lengths, t_n, d)) {
                *s += v;
            }
            layer_grads.push(g);
        }
        grads[l] = layer_grads;
        d_out = d_x;
    }
    (grads, d_out)
}
