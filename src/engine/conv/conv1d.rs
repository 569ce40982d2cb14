//! One 1-D convolution without bias, as `torch.nn.Conv1d(in, out, k, padding="same",
//! bias=False)`: weights `(out, in, k)` row-major, `left = (k − 1) / 2` zeros before each
//! sequence and the rest after (PyTorch's split for an even `k`). As one matrix product over
//! the batch's steps: the im2col matrix (B·T × in·k) times the weights' transpose.

use crate::engine::model::kernels::matmul;

/// A convolution's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    pub input: usize,
    pub output: usize,
    pub kernel: usize,
}

/// Batch geometry: `batch` sequences of `steps` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    pub batch: usize,
    pub steps: usize,
}

impl Conv {
    fn left(&self) -> usize {
        (self.kernel - 1) / 2
    }

    fn width(&self) -> usize {
        self.input * self.kernel
    }

    /// `cols[(b, t), i·k + j] = x[b, t + j − left, i]`, 0 outside the sequence's steps (x is
    /// already 0 past each length).
    pub fn im2col(&self, x: &[f32], g: Steps, cols: &mut Vec<f32>) {
        let (c, k, w) = (self.input, self.kernel, self.width());
        cols.clear();
        cols.resize(g.batch * g.steps * w, 0.0);
        for b in 0..g.batch {
            for t in 0..g.steps {
                let row = &mut cols[(b * g.steps + t) * w..(b * g.steps + t + 1) * w];
                for j in 0..k {
                    let Some(src) = (t + j).checked_sub(self.left()).filter(|&s| s < g.steps)
                    else {
                        continue;
                    };
                    let from = &x[(b * g.steps + src) * c..(b * g.steps + src + 1) * c];
                    for (i, &v) in from.iter().enumerate() {
                        row[i * k + j] = v;
                    }
                }
            }
        }
    }

    /// `out (B·T × out) = cols · Wᵀ`.
    pub fn forward(&self, weight: &[f32], cols: &[f32], g: Steps, out: &mut Vec<f32>) {
        let (w, o) = (self.width(), self.output);
        out.clear();
        out.resize(g.batch * g.steps * o, 0.0);
        matmul(
            (g.batch * g.steps, o, w),
            out,
            false,
            cols,
            (w, 1),
            weight,
            (1, w),
        );
    }

    /// The weights' gradient `dW (out × in·k) = d_outᵀ · cols`, accumulated into `d_weight`.
    pub fn backward_weight(&self, cols: &[f32], d_out: &[f32], g: Steps, d_weight: &mut [f32]) {
        let (w, o) = (self.width(), self.output);
        let rows = g.batch * g.steps;
        matmul((o, w, rows), d_weight, true, d_out, (1, o), cols, (w, 1));
    }

    /// The input's gradient (B × T × in): `d_cols = d_out · W`, folded back (col2im).
    pub fn backward_input(
        &self,
        weight: &[f32],
        d_out: &[f32],
        g: Steps,
        d_cols: &mut Vec<f32>,
        d_x: &mut Vec<f32>,
    ) {
        let (c, k, w, o) = (self.input, self.kernel, self.width(), self.output);
        let rows = g.batch * g.steps;
        d_cols.clear();
        d_cols.resize(rows * w, 0.0);
        matmul((rows, w, o), d_cols, false, d_out, (o, 1), weight, (w, 1));
        d_x.clear();
        d_x.resize(rows * c, 0.0);
        for b in 0..g.batch {
            for t in 0..g.steps {
                let row = &d_cols[(b * g.steps + t) * w..(b * g.steps + t + 1) * w];
                for j in 0..k {
                    let Some(src) = (t + j).checked_sub(self.left()).filter(|&s| s < g.steps)
                    else {
                        continue;
                    };
                    let into = &mut d_x[(b * g.steps + src) * c..(b * g.steps + src + 1) * c];
                    for (i, v) in into.iter_mut().enumerate() {
                        *v += row[i * k + j];
                    }
                }
            }
        }
    }
}
