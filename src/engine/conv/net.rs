//! The convolutional classifier's forward and backward passes over a padded batch: blocks of
//! conv → batch norm → ReLU units (a residual block adds its shortcut before its last ReLU),
//! global average pooling over each sequence's valid steps, a linear head and the
//! class-weighted mean cross-entropy (`head`).

use super::conv1d::{Conv, Steps};
use super::norm::{self, NormPass};
use super::parameters::{Block, ConvNet, Unit};
use crate::engine::model::head;
use crate::engine::model::param::{Mode, Param, RunningStats};
use crate::engine::sequence::batch::Batch;

/// What one unit's forward pass keeps: its input's im2col, its convolution's output, batch
/// norm's pass, and its output (after the ReLU, when it has one).
#[derive(Debug, Clone, Default)]
struct UnitPass {
    cols: Vec<f32>,
    z: Vec<f32>,
    norm: NormPass,
    out: Vec<f32>,
}

#[derive(Debug, Clone, Default)]
struct BlockPass {
    input: Vec<f32>,
    units: Vec<UnitPass>,
    /// A residual block's shortcut, and the block's output after the ReLU of the sum.
    shortcut: Option<UnitPass>,
    out: Vec<f32>,
}

/// The forward pass's results.
#[derive(Debug, Clone, Default)]
pub struct NetPass {
    blocks: Vec<BlockPass>,
    /// B × C: each sequence's mean over its valid steps of the top block's output.
    pub features: Vec<f32>,
    valid: Vec<bool>,
}

fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

/// The weights a forward pass reads and the running statistics it moves, borrowed apart from
/// the network's layout so the blocks need no copy.
struct State<'a> {
    params: &'a [Param],
    running: &'a mut [(String, RunningStats)],
}

impl State<'_> {
    /// A unit's conv and batch norm on `x` (and ReLU with `activate`).
    fn unit_forward(
        &mut self,
        unit: &Unit,
        x: &[f32],
        g: Steps,
        valid: &[bool],
        mode: Mode,
        activate: bool,
    ) -> UnitPass {
        let mut p = UnitPass::default();
        unit.conv.im2col(x, g, &mut p.cols);
        unit.conv
            .forward(&self.params[unit.weight].data, &p.cols, g, &mut p.z);
        let (gamma, beta) = (&self.params[unit.gamma].data, &self.params[unit.beta].data);
        let stats = &mut self.running[unit.stats].1;
        norm::forward(
            &p.z,
            unit.conv.output,
            valid,
            (gamma, beta),
            stats,
            mode,
            &mut p.norm,
            &mut p.out,
        );
        if activate {
            relu(&mut p.out);
        }
        p
    }

    fn shortcut_forward(
        &mut self,
        block: &Block,
        x: &[f32],
        g: Steps,
        valid: &[bool],
        mode: Mode,
    ) -> Option<UnitPass> {
        let s = block.shortcut.as_ref()?;
        let filters = block.units.last().map_or(s.channels, |u| u.conv.output);
        let mut p = UnitPass::default();
        let z = match s.projection {
            Some(w) => {
                let conv = Conv {
                    input: s.channels,
                    output: filters,
                    kernel: 1,
                };
                conv.forward(&self.params[w].data, x, g, &mut p.z);
                &p.z
            }
            None => x,
        };
        let (gamma, beta) = (&self.params[s.gamma].data, &self.params[s.beta].data);
        let stats = &mut self.running[s.stats].1;
        norm::forward(
            z,
            filters,
            valid,
            (gamma, beta),
            stats,
            mode,
            &mut p.norm,
            &mut p.out,
        );
        Some(p)
    }
}

impl ConvNet {
    /// The forward pass; `Train` mode moves the running statistics.
    pub fn forward(&mut self, batch: &Batch<'_>, mode: Mode) -> NetPass {
        let g = Steps {
            batch: batch.batch,
            steps: batch.steps,
        };
        let valid: Vec<bool> = (0..g.batch * g.steps)
            .map(|r| r % g.steps < batch.lengths[r / g.steps])
            .collect();
        // Padded steps read as 0 whatever the batch carries there.
        let mut h: Vec<f32> = batch.x.to_vec();
        let d = self.input;
        for (r, _) in valid.iter().enumerate().filter(|(_, ok)| !**ok) {
            h[r * d..(r + 1) * d].fill(0.0);
        }
        let mut pass = NetPass::default();
        let mut state = State {
            params: &self.params,
            running: &mut self.running,
        };
        for block in &self.blocks {
            let residual = block.shortcut.is_some();
            let mut bp = BlockPass {
                input: h,
                ..BlockPass::default()
            };
            for (u, unit) in block.units.iter().enumerate() {
                let last = u + 1 == block.units.len();
                // Each unit reads the one before it (the first, the block's input).
                let input = bp.units.last().map_or(&bp.input, |p| &p.out);
                let up = state.unit_forward(unit, input, g, &valid, mode, !(residual && last));
                bp.units.push(up);
            }
            bp.shortcut = state.shortcut_forward(block, &bp.input, g, &valid, mode);
            let mut x = bp.units.last().map_or(&bp.input, |p| &p.out).clone();
            if let Some(s) = &bp.shortcut {
                x.iter_mut().zip(&s.out).for_each(|(a, b)| *a += b);
                relu(&mut x);
            }
            h = x.clone();
            bp.out = x;
            pass.blocks.push(bp);
        }
        pass.features = pool(&h, self.features(), batch);
        pass.valid = valid;
        pass
    }

    /// Class log-probabilities (B × K), in eval mode.
    pub fn log_proba(&mut self, batch: &Batch<'_>) -> Vec<f32> {
        let pass = self.forward(batch, Mode::Eval);
        let n = self.params.len();
        let mut z = head::logits(
            &self.params[n - 2].data,
            &self.params[n - 1].data,
            &pass.features,
            self.classes,
        );
        head::log_softmax(&mut z, self.classes);
        z
    }

    /// A training step: the class-weighted mean cross-entropy and every parameter's gradient,
    /// in `params` order.
    pub fn train_step(
        &mut self,
        batch: &Batch<'_>,
        labels: &[u32],
        class_weights: &[f32],
    ) -> (f32, Vec<Vec<f32>>) {
        self.train_step_seen(batch, labels, class_weights, |_, _| {})
    }

    /// As `train_step`, showing `seen` each unit's output after its ReLU (the block's sum for
    /// a residual block's last unit), with its channels: what dead units are counted from.
    pub fn train_step_seen(
        &mut self,
        batch: &Batch<'_>,
        labels: &[u32],
        class_weights: &[f32],
        mut seen: impl FnMut(&[f32], usize),
    ) -> (f32, Vec<Vec<f32>>) {
        let pass = self.forward(batch, Mode::Train);
        for (block, bp) in self.blocks.iter().zip(&pass.blocks) {
            for (u, (unit, up)) in block.units.iter().zip(&bp.units).enumerate() {
                let last = u + 1 == block.units.len();
                let out = if last && block.shortcut.is_some() {
                    &bp.out
                } else {
                    &up.out
                };
                seen(out, unit.conv.output);
            }
        }
        let n = self.params.len();
        let (w_out, b_out) = (&self.params[n - 2].data, &self.params[n - 1].data);
        let logits = head::logits(w_out, b_out, &pass.features, self.classes);
        let (loss, d_logits) = head::cross_entropy(&logits, labels, class_weights, self.classes);
        let mut grads: Vec<Vec<f32>> = self
            .params
            .iter()
            .map(|p| vec![0.0; p.data.len()])
            .collect();
        let (d_w, d_b, d_features) = head::backward(&d_logits, &pass.features, w_out, self.classes);
        grads[n - 2] = d_w;
        grads[n - 1] = d_b;
        let mut d_h = unpool(&d_features, self.features(), batch);
        let g = Steps {
            batch: batch.batch,
            steps: batch.steps,
        };
        for (i, block) in self.blocks.iter().enumerate().rev() {
            d_h = self.block_backward(
                block,
                &pass.blocks[i],
                d_h,
                g,
                &pass.valid,
                &mut grads,
                i > 0,
            );
        }
        (loss, grads)
    }

    /// A block's backward pass from its output's gradient to its input's (`None`-like empty
    /// when `need_input` is false: the first block's input is the data).
    #[allow(clippy::too_many_arguments)]
    fn block_backward(
        &self,
        block: &Block,
        bp: &BlockPass,
        mut d: Vec<f32>,
        g: Steps,
        valid: &[bool],
        grads: &mut [Vec<f32>],
        need_input: bool,
    ) -> Vec<f32> {
        let mut d_input_short = Vec::new();
        if let (Some(s), Some(sp)) = (&block.shortcut, &bp.shortcut) {
            // relu(sum): the sum's gradient reaches both branches.
            d.iter_mut().zip(&bp.out).for_each(|(v, &o)| {
                if o <= 0.0 {
                    *v = 0.0
                }
            });
            let filters = block.units.last().map_or(s.channels, |u| u.conv.output);
            let mut d_z = Vec::new();
            let (dg, db) = two(grads, s.gamma, s.beta);
            norm::backward(
                &d,
                filters,
                valid,
                &self.params[s.gamma].data,
                &sp.norm,
                (dg, db),
                &mut d_z,
            );
            match s.projection {
                Some(w) => {
                    let conv = Conv {
                        input: s.channels,
                        output: filters,
                        kernel: 1,
                    };
                    conv.backward_weight(&bp.input, &d_z, g, &mut grads[w]);
                    if need_input {
                        conv.backward_input(
                            &self.params[w].data,
                            &d_z,
                            g,
                            &mut Vec::new(),
                            &mut d_input_short,
                        );
                    }
                }
                None => d_input_short = d_z,
            }
        }
        let residual = block.shortcut.is_some();
        let mut d_cols = Vec::new();
        for (u, unit) in block.units.iter().enumerate().rev() {
            let up = &bp.units[u];
            if !(residual && u + 1 == block.units.len()) {
                d.iter_mut().zip(&up.out).for_each(|(v, &o)| {
                    if o <= 0.0 {
                        *v = 0.0
                    }
                });
            }
            let mut d_z = Vec::new();
            let (dg, db) = two(grads, unit.gamma, unit.beta);
            norm::backward(
                &d,
                unit.conv.output,
                valid,
                &self.params[unit.gamma].data,
                &up.norm,
                (dg, db),
                &mut d_z,
            );
            unit.conv
                .backward_weight(&up.cols, &d_z, g, &mut grads[unit.weight]);
            if u > 0 || need_input {
                unit.conv.backward_input(
                    &self.params[unit.weight].data,
                    &d_z,
                    g,
                    &mut d_cols,
                    &mut d,
                );
            }
        }
        if !d_input_short.is_empty() {
            d.iter_mut().zip(&d_input_short).for_each(|(a, b)| *a += b);
        }
        d
    }
}

/// Two distinct entries of `grads`, mutably.
fn two(grads: &mut [Vec<f32>], a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
    debug_assert!(a < b);
    let (lo, hi) = grads.split_at_mut(b);
    (&mut lo[a], &mut hi[0])
}

/// Each sequence's mean over its valid steps (B × C).
fn pool(h: &[f32], c_n: usize, batch: &Batch<'_>) -> Vec<f32> {
    let mut out = vec![0.0f32; batch.batch * c_n];
    for (b, &len) in batch.lengths.iter().enumerate() {
        let row = &mut out[b * c_n..(b + 1) * c_n];
        for t in 0..len {
            let r = (b * batch.steps + t) * c_n;
            row.iter_mut()
                .zip(&h[r..r + c_n])
                .for_each(|(s, v)| *s += v);
        }
        let inv = 1.0 / len.max(1) as f32;
        row.iter_mut().for_each(|s| *s *= inv);
    }
    out
}

/// The pooling's backward pass: each valid step gets its sequence's gradient over its length.
fn unpool(d_features: &[f32], c_n: usize, batch: &Batch<'_>) -> Vec<f32> {
    let mut d = vec![0.0f32; batch.batch * batch.steps * c_n];
    for (b, &len) in batch.lengths.iter().enumerate() {
        let inv = 1.0 / len.max(1) as f32;
        for t in 0..len {
            let r = (b * batch.steps + t) * c_n;
            for (v, g) in d[r..r + c_n]
                .iter_mut()
                .zip(&d_features[b * c_n..(b + 1) * c_n])
            {
                *v = g * inv;
            }
        }
    }
    d
}
