//! The MLP's training step and evaluation without a tape: forward, the loss and its gradient,
//! and backward written out layer by layer over reused buffers, with every matrix product on
//! `gemm` (its AVX-512 kernels where the CPU has them). This is the path training and
//! prediction take; the dfdx forward in `mlp.rs` is its reference (tests hold the two to the
//! same losses and gradients) and the layer the next model families build on.
//!
//! Why not dfdx's tape here: an MLP step on it spends about half its time outside the products
//! (an allocation per op, the `[W | b]` fold, broadcasts), and its products run on `gemm` 0.15,
//! half this core's speed. Fused here: bias into the product, activation and dropout into one
//! pass, softmax with the cross-entropy gradient, batch norm's backward in two sweeps.
//!
//! Layout as in `mlp.rs`: activations are features × batch, row-major; weights `(out, in)`.

use rand_chacha::ChaCha8Rng;

use super::activity::Activity;
use super::kernels::{
    activate, log_sum_exp, matmul, softmax_cross_entropy, sum, through_activation,
};
use super::layers::{BN_EPS, BN_MOMENTUM, apply_mask};
use super::mlp::{Layer, Mlp};
use super::param::Mode;
use crate::domain::spec::Activation;

/// Buffers one model's steps reuse: sized on the first batch, grown only for a larger one.
#[derive(Debug, Default, Clone)]
pub struct Workspace {
    /// The inputs after input dropout (features × batch).
    input: Vec<f32>,
    layers: Vec<LayerBuffers>,
    logits: Vec<f32>,
    dlogits: Vec<f32>,
    dh: Vec<f32>,
    dprev: Vec<f32>,
    /// The last step's gradients, in parameter order and shape.
    pub grads: Vec<Vec<f32>>,
    /// Per hidden layer, what the training batches since `begin_epoch` did (`activity.rs`
    /// reads and records it).
    pub(super) activity: Vec<Activity>,
    pub(super) activation: Option<Activation>,
}

#[derive(Debug, Default, Clone)]
struct LayerBuffers {
    /// After batch norm, before the activation.
    pre: Vec<f32>,
    /// The activation, before dropout.
    act: Vec<f32>,
    /// The layer's output: after dropout and the skip.
    out: Vec<f32>,
    /// Dropout's multipliers (0 or 1/(1−p)), when dropout ran.
    mask: Vec<f32>,
    /// Batch norm (training): the normalized values and 1/σ per feature.
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
    /// Whether `out` holds the output (dropout or a skip ran); else `act` is the output.
    has_out: bool,
}

impl LayerBuffers {
    fn output(&self) -> &[f32] {
        if self.has_out { &self.out } else { &self.act }
    }
}

/// `z (out × batch) = W · h + b`: the bias fills `z`, the product adds to it.
fn linear(mlp: &Mlp, l: &Layer, h: &[f32], batch: usize, z: &mut Vec<f32>) {
    let (w, b) = (&mlp.params[l.weight].data, &mlp.params[l.bias].data);
    z.resize(l.outputs * batch, 0.0);
    for (row, &bo) in z.chunks_exact_mut(batch).zip(b) {
        row.fill(bo);
    }
    matmul(
        (l.outputs, batch, l.inputs),
        z,
        true,
        w,
        (l.inputs, 1),
        h,
        (batch, 1),
    );
}

impl Workspace {
    fn size_for(&mut self, mlp: &Mlp) {
        let hidden = mlp.layers.len() - 1;
        if self.layers.len() != hidden {
            self.layers = vec![LayerBuffers::default(); hidden];
        }
        if self.grads.len() != mlp.params.len() {
            self.grads = mlp.params.iter().map(|p| vec![0.0; p.data.len()]).collect();
        }
    }
}

impl Mlp {
    /// Runs the model on `x` (features × batch) into `ws`, returning the logits (outputs ×
    /// batch). In `Train` mode, `rng` draws the dropout masks (in the order `forward` draws
    /// them) and batch norm updates its running statistics.
    pub fn dense_forward<'w>(
        &mut self,
        ws: &'w mut Workspace,
        x: &[f32],
        batch: usize,
        mode: Mode,
        rng: &mut ChaCha8Rng,
    ) -> &'w [f32] {
        ws.size_for(self);
        let train = mode == Mode::Train;
        ws.input.clear();
        ws.input.extend_from_slice(x);
        if train && self.spec.input_dropout > 0.0 {
            apply_mask(&mut ws.input, self.spec.input_dropout, rng);
        }
        let hidden = self.layers.len() - 1;
        for li in 0..hidden {
            let layer = self.layers[li].clone();
            let (before, rest) = ws.layers.split_at_mut(li);
            let bufs = &mut rest[0];
            let h_prev: &[f32] = if li == 0 {
                &ws.input
            } else {
                before[li - 1].output()
            };
            linear(self, &layer, h_prev, batch, &mut bufs.pre);
            if let Some((g, b)) = layer.bn {
                let stats = self.running[li]
                    .as_mut()
                    .expect("running stats with batch norm");
                let (gamma, beta) = (&self.params[g].data, &self.params[b].data);
                let n = batch as f32;
                bufs.xhat.resize(layer.outputs * batch, 0.0);
                bufs.inv_std.resize(layer.outputs, 0.0);
                for j in 0..layer.outputs {
                    let row = &mut bufs.pre[j * batch..(j + 1) * batch];
                    let (mean, inv) = if train {
                        let mean = row.iter().sum::<f32>() / n;
                        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
                        let unbias = if batch > 1 { n / (n - 1.0) } else { 1.0 };
                        stats.mean[j] = (1.0 - BN_MOMENTUM) * stats.mean[j] + BN_MOMENTUM * mean;
                        stats.var[j] =
                            (1.0 - BN_MOMENTUM) * stats.var[j] + BN_MOMENTUM * var * unbias;
                        (mean, 1.0 / (var + BN_EPS).sqrt())
                    } else {
                        (stats.mean[j], 1.0 / (stats.var[j] + BN_EPS).sqrt())
                    };
                    bufs.inv_std[j] = inv;
                    let xhat = &mut bufs.xhat[j * batch..(j + 1) * batch];
                    for (xh, v) in xhat.iter_mut().zip(row.iter_mut()) {
                        *xh = (*v - mean) * inv;
                        *v = *xh * gamma[j] + beta[j];
                    }
                }
            }
            activate(self.spec.activation, &bufs.pre, &mut bufs.act);
            if train {
                ws.activity.resize(hidden, Activity::default());
                ws.activation = Some(self.spec.activation);
                let (pre, act) = (&bufs.pre, &bufs.act);
                ws.activity[li].record(self.spec.activation, pre, act, layer.outputs, batch);
            }
            let dropout = train && self.spec.dropout > 0.0;
            bufs.has_out = dropout || layer.skip.is_some();
            bufs.mask.clear();
            if bufs.has_out {
                bufs.out.clear();
                bufs.out.extend_from_slice(&bufs.act);
            }
            if dropout {
                bufs.mask.resize(layer.outputs * batch, 1.0);
                apply_mask(&mut bufs.mask, self.spec.dropout, rng);
                for (o, m) in bufs.out.iter_mut().zip(&bufs.mask) {
                    *o *= m;
                }
            }
            match layer.skip {
                None => {}
                Some(None) => {
                    for (o, h) in bufs.out.iter_mut().zip(h_prev) {
                        *o += h;
                    }
                }
                Some(Some(p)) => matmul(
                    (layer.outputs, batch, layer.inputs),
                    &mut bufs.out,
                    true,
                    &self.params[p].data,
                    (layer.inputs, 1),
                    h_prev,
                    (batch, 1),
                ),
            }
        }
        let out = self.layers[hidden].clone();
        let h_last: &[f32] = match hidden {
            0 => &ws.input,
            _ => ws.layers[hidden - 1].output(),
        };
        linear(self, &out, h_last, batch, &mut ws.logits);
        &ws.logits
    }

    /// One training step's loss and gradients (into `ws.grads`): the class-weighted mean
    /// cross-entropy of `labels` (PyTorch's weighted mean), or with `reconstruct` the mean
    /// squared error against `x` itself.
    #[allow(clippy::too_many_arguments)]
    pub fn dense_step(
        &mut self,
        ws: &mut Workspace,
        x: &[f32],
        batch: usize,
        labels: &[u32],
        class_weights: &[f32],
        reconstruct: bool,
        rng: &mut ChaCha8Rng,
    ) -> f32 {
        self.dense_forward(ws, x, batch, Mode::Train, rng);
        let k = self.outputs;
        ws.dlogits.clear();
        ws.dlogits.resize(k * batch, 0.0);
        let loss = if reconstruct {
            let scale = 1.0 / (k * batch) as f32;
            let mut sum = 0.0f32;
            for ((d, &l), &t) in ws.dlogits.iter_mut().zip(&ws.logits).zip(x) {
                let e = l - t;
                sum += e * e;
                *d = 2.0 * e * scale;
            }
            sum * scale
        } else {
            softmax_cross_entropy(&ws.logits, &mut ws.dlogits, labels, class_weights, k, batch)
        };
        self.backward(ws, batch);
        loss
    }

    fn backward(&self, ws: &mut Workspace, batch: usize) {
        let hidden = self.layers.len() - 1;
        let out = &self.layers[hidden];
        let h_last: &[f32] = match hidden {
            0 => &ws.input,
            _ => ws.layers[hidden - 1].output(),
        };
        weight_grads(out, &ws.dlogits, h_last, batch, &mut ws.grads);
        if hidden == 0 {
            return;
        }
        // dh = W_outᵀ · dlogits
        ws.dh.resize(out.inputs * batch, 0.0);
        matmul(
            (out.inputs, batch, out.outputs),
            &mut ws.dh,
            false,
            &self.params[out.weight].data,
            (1, out.inputs),
            &ws.dlogits,
            (batch, 1),
        );
        for li in (0..hidden).rev() {
            let layer = &self.layers[li];
            let bufs = &ws.layers[li];
            let h_prev: &[f32] = if li == 0 {
                &ws.input
            } else {
                ws.layers[li - 1].output()
            };
            let needs_prev = li > 0;
            ws.dprev.clear();
            ws.dprev.resize(layer.inputs * batch, 0.0);
            match layer.skip {
                None => {}
                Some(None) if needs_prev => ws.dprev.copy_from_slice(&ws.dh),
                Some(None) => {}
                Some(Some(p)) => {
                    matmul(
                        (layer.outputs, layer.inputs, batch),
                        &mut ws.grads[p],
                        false,
                        &ws.dh,
                        (batch, 1),
                        h_prev,
                        (1, batch),
                    );
                    if needs_prev {
                        matmul(
                            (layer.inputs, batch, layer.outputs),
                            &mut ws.dprev,
                            true,
                            &self.params[p].data,
                            (1, layer.inputs),
                            &ws.dh,
                            (batch, 1),
                        );
                    }
                }
            }
            // Through dropout and the activation, in place: dh becomes dL/d(pre).
            through_activation(
                self.spec.activation,
                &mut ws.dh,
                &bufs.pre,
                &bufs.act,
                &bufs.mask,
            );
            if let Some((g, b)) = layer.bn {
                let gamma = &self.params[g].data;
                let n = batch as f32;
                for (j, &gamma_j) in gamma.iter().enumerate().take(layer.outputs) {
                    let dy = &mut ws.dh[j * batch..(j + 1) * batch];
                    let xhat = &bufs.xhat[j * batch..(j + 1) * batch];
                    let (mut dgamma, mut dbeta) = (0.0f32, 0.0f32);
                    for (d, x) in dy.iter().zip(xhat) {
                        dgamma += d * x;
                        dbeta += d;
                    }
                    ws.grads[g][j] = dgamma;
                    ws.grads[b][j] = dbeta;
                    // dz = γ/(σ·n) · (n·dy − Σdy − x̂·Σ(dy·x̂))
                    let scale = gamma_j * bufs.inv_std[j] / n;
                    for (d, x) in dy.iter_mut().zip(xhat) {
                        *d = scale * (n * *d - dbeta - x * dgamma);
                    }
                }
            }
            weight_grads(layer, &ws.dh, h_prev, batch, &mut ws.grads);
            if needs_prev {
                matmul(
                    (layer.inputs, batch, layer.outputs),
                    &mut ws.dprev,
                    true,
                    &self.params[layer.weight].data,
                    (1, layer.inputs),
                    &ws.dh,
                    (batch, 1),
                );
                std::mem::swap(&mut ws.dh, &mut ws.dprev);
            }
        }
    }

    /// Log class probabilities (batch × classes, row-major) of `x` (features × batch), in eval
    /// mode.
    pub fn dense_log_proba(&mut self, ws: &mut Workspace, x: &[f32], batch: usize) -> Vec<f32> {
        let mut rng = rand::SeedableRng::seed_from_u64(0); // eval mode draws nothing
        let logits = self.dense_forward(ws, x, batch, Mode::Eval, &mut rng);
        let k = self.outputs;
        let mut out = vec![0.0f32; batch * k];
        for b in 0..batch {
            let lse = log_sum_exp(logits, k, batch, b);
            for c in 0..k {
                out[b * k + c] = logits[c * batch + b] - lse;
            }
        }
        out
    }

    /// The raw outputs (batch × outputs, row-major) of `x` (features × batch), in eval mode.
    pub fn dense_outputs(&mut self, ws: &mut Workspace, x: &[f32], batch: usize) -> Vec<f32> {
        let mut rng = rand::SeedableRng::seed_from_u64(0); // eval mode draws nothing
        let logits = self.dense_forward(ws, x, batch, Mode::Eval, &mut rng);
        super::param::transpose(logits, self.outputs, batch)
    }
}

/// `dW = dz · hᵀ`, `db = Σ_batch dz` for layer `l`.
fn weight_grads(l: &Layer, dz: &[f32], h: &[f32], batch: usize, grads: &mut [Vec<f32>]) {
    matmul(
        (l.outputs, l.inputs, batch),
        &mut grads[l.weight],
        false,
        dz,
        (batch, 1),
        h,
        (1, batch),
    );
    for (o, g) in grads[l.bias].iter_mut().enumerate() {
        *g = sum(&dz[o * batch..(o + 1) * batch]);
    }
}
