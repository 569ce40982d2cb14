//! The MLP: parameters as flat f32 vectors (the master copy the optimizer updates), and a
//! forward pass on dfdx tensors with reverse-mode autodiff.
//!
//! Activations are laid out features × batch, so each layer is `W · h` with the traced weight
//! on the left (dfdx merges tapes from the left operand).

use dfdx::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::domain::spec::{Activation, Init, ModelSpec};

/// The CPU device.
pub type Dev = Cpu;
type Traced = OwnedTape<f32, Dev>;
/// A features × batch matrix on the tape.
pub type Mat = Tensor<(usize, usize), f32, Dev, Traced>;
type Plain2 = Tensor<(usize, usize), f32, Dev>;
type Plain1 = Tensor<(usize,), f32, Dev>;

/// PyTorch's BatchNorm1d defaults.
pub const BN_EPS: f32 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

/// One named parameter (PyTorch-style names, row-major, `(out, in)` for weights).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// Whether L1/L2 penalties apply (weights, not biases or batch-norm parameters).
    pub penalized: bool,
}

/// Indices into `params` of one layer's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: usize,
    pub bias: usize,
    /// Batch-norm gamma and beta.
    pub bn: Option<(usize, usize)>,
    /// Residual skip: `None` = no skip; `Some(None)` = identity; `Some(Some(p))` = projection.
    pub skip: Option<Option<usize>>,
}

/// Running statistics of one batch-norm layer.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningStats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// A multi-layer perceptron with a softmax output.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub spec: ModelSpec,
    pub inputs: usize,
    pub classes: usize,
    pub params: Vec<Param>,
    /// Hidden layers, then the output layer (no activation, batch norm or skip).
    pub layers: Vec<Layer>,
    /// Per hidden layer, when batch norm is on.
    pub running: Vec<Option<RunningStats>>,
}

/// Training (batch statistics, dropout) or evaluation (running statistics, no dropout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

impl Mlp {
    /// A freshly initialized model: weights by `spec.init`, biases zero, gamma one, beta zero.
    pub fn new(spec: &ModelSpec, inputs: usize, classes: usize, rng: &mut ChaCha8Rng) -> Self {
        let he = match spec.init {
            Init::He => true,
            Init::Xavier => false,
            Init::Auto => spec.activation.is_relu_family(),
        };
        let mut params = Vec::new();
        let mut layers = Vec::new();
        let mut running = Vec::new();
        let mut width = inputs;
        let add = |params: &mut Vec<Param>,
                   name: String,
                   shape: Vec<usize>,
                   data: Vec<f32>,
                   penalized| {
            params.push(Param {
                name,
                shape,
                data,
                penalized,
            });
            params.len() - 1
        };
        for (i, &out) in spec.hidden_layers.iter().enumerate() {
            let out = out as usize;
            let w = init_weight(rng, out, width, he);
            let weight = add(
                &mut params,
                format!("hidden.{i}.weight"),
                vec![out, width],
                w,
                true,
            );
            let bias = add(
                &mut params,
                format!("hidden.{i}.bias"),
                vec![out],
                vec![0.0; out],
                false,
            );
            let bn = spec.batch_norm.then(|| {
                let g = add(
                    &mut params,
                    format!("hidden.{i}.bn.weight"),
                    vec![out],
                    vec![1.0; out],
                    false,
                );
                let b = add(
                    &mut params,
                    format!("hidden.{i}.bn.bias"),
                    vec![out],
                    vec![0.0; out],
                    false,
                );
                (g, b)
            });
            running.push(spec.batch_norm.then(|| RunningStats {
                mean: vec![0.0; out],
                var: vec![1.0; out],
            }));
            let skip = spec.residual.then(|| {
                (width != out).then(|| {
                    let p = init_weight(rng, out, width, he);
                    add(
                        &mut params,
                        format!("hidden.{i}.proj.weight"),
                        vec![out, width],
                        p,
                        true,
                    )
                })
            });
            layers.push(Layer {
                inputs: width,
                outputs: out,
                weight,
                bias,
                bn,
                skip,
            });
            width = out;
        }
        let w = init_weight(rng, classes, width, false);
        let weight = add(
            &mut params,
            "output.weight".into(),
            vec![classes, width],
            w,
            true,
        );
        let bias = add(
            &mut params,
            "output.bias".into(),
            vec![classes],
            vec![0.0; classes],
            false,
        );
        layers.push(Layer {
            inputs: width,
            outputs: classes,
            weight,
            bias,
            bn: None,
            skip: None,
        });
        Self {
            spec: spec.clone(),
            inputs,
            classes,
            params,
            layers,
            running,
        }
    }

    /// Runs the model on `x` (features × batch, row-major). In `Train` mode, `rng` draws
    /// dropout masks and batch norm updates its running statistics.
    pub fn forward(
        &mut self,
        dev: &Dev,
        x: &[f32],
        batch: usize,
        mode: Mode,
        rng: &mut ChaCha8Rng,
    ) -> Pass {
        // Each layer's weight and bias travel as one `[W | b]` matrix against `[h; 1]`: the
        // bias rides in the matmul instead of a broadcast add, whose backward is slow in dfdx.
        let folded: Vec<Plain2> = self
            .layers
            .iter()
            .map(|l| {
                let (w, b) = (&self.params[l.weight].data, &self.params[l.bias].data);
                let mut wb = Vec::with_capacity(l.outputs * (l.inputs + 1));
                for o in 0..l.outputs {
                    wb.extend_from_slice(&w[o * l.inputs..(o + 1) * l.inputs]);
                    wb.push(b[o]);
                }
                dev.tensor_from_vec(wb, (l.outputs, l.inputs + 1))
            })
            .collect();
        let mut is_folded = vec![false; self.params.len()];
        for l in &self.layers {
            is_folded[l.weight] = true;
            is_folded[l.bias] = true;
        }
        let handles2: Vec<Option<Plain2>> = self
            .params
            .iter()
            .zip(&is_folded)
            .map(|(p, &f)| {
                (p.shape.len() == 2 && !f)
                    .then(|| dev.tensor_from_vec(p.data.clone(), (p.shape[0], p.shape[1])))
            })
            .collect();
        let handles1: Vec<Option<Plain1>> = self
            .params
            .iter()
            .zip(&is_folded)
            .map(|(p, &f)| {
                (p.shape.len() == 1 && !f)
                    .then(|| dev.tensor_from_vec(p.data.clone(), (p.shape[0],)))
            })
            .collect();
        let w = |i: usize| {
            handles2[i]
                .as_ref()
                .expect("a matrix parameter")
                .leaky_trace()
        };
        let v = |i: usize| {
            handles1[i]
                .as_ref()
                .expect("a vector parameter")
                .leaky_trace()
        };
        let ones = || -> Plain2 { dev.ones_like(&(1, batch)) };

        let mut input = x.to_vec();
        if mode == Mode::Train && self.spec.input_dropout > 0.0 {
            apply_mask(&mut input, self.spec.input_dropout, rng);
        }
        let plain_x: Plain2 = dev.tensor_from_vec(input.clone(), (self.inputs, batch));
        input.extend(std::iter::repeat_n(1.0, batch));
        let x_aug: Plain2 = dev.tensor_from_vec(input, (self.inputs + 1, batch));
        let mut h: Option<Mat> = None;
        let hidden = self.layers.len() - 1;
        for (li, layer) in self.layers.iter().enumerate() {
            let shape = (layer.outputs, batch);
            let wb = folded[li].leaky_trace();
            // The tape (the graph so far) must travel with exactly one use of `h`.
            let (mut z, carried) = match h {
                None => (wb.matmul(x_aug.clone()), None),
                Some(h) => {
                    let aug = |t: Mat| (t, ones()).concat_along(Axis::<0>);
                    match layer.skip {
                        None => (wb.matmul(aug(h)), None),
                        Some(_) => (wb.matmul(aug(h.with_empty_tape())), Some(h)),
                    }
                }
            };
            if li == hidden {
                return Pass {
                    logits: z,
                    handles: Handles {
                        folded,
                        layers: self.layers.clone(),
                        handles2,
                        handles1,
                    },
                    batch,
                };
            }
            if let Some((g, b)) = layer.bn {
                let stats = self.running[li]
                    .as_mut()
                    .expect("running stats with batch norm");
                z = batch_norm(z, v(g), v(b), stats, mode);
            }
            let mut a = activate(z, self.spec.activation);
            if mode == Mode::Train && self.spec.dropout > 0.0 {
                let mut mask = vec![1.0f32; layer.outputs * batch];
                apply_mask(&mut mask, self.spec.dropout, rng);
                a = a * dev.tensor_from_vec(mask, shape);
            }
            h = Some(match (layer.skip, carried) {
                (Some(None), Some(skip)) => a + skip,
                (Some(None), None) => a + plain_x.clone(),
                (Some(Some(p)), Some(skip)) => a + w(p).matmul(skip),
                (Some(Some(p)), None) => a + w(p).matmul(plain_x.clone()),
                (None, _) => a,
            });
        }
        unreachable!("the output layer returns")
    }

    /// Log class probabilities (batch × classes, row-major) of `x` (features × batch), in
    /// eval mode.
    pub fn log_proba(&mut self, dev: &Dev, x: &[f32], batch: usize) -> Vec<f32> {
        let mut rng = rand::SeedableRng::seed_from_u64(0); // eval mode draws nothing
        let pass = self.forward(dev, x, batch, Mode::Eval, &mut rng);
        let log_probs = pass.logits.log_softmax::<Axis<0>>().as_vec();
        transpose(&log_probs, self.classes, batch)
    }

    /// The raw outputs (batch × outputs, row-major) of `x` (features × batch), in eval mode:
    /// an autoencoder's reconstruction.
    pub fn outputs(&mut self, dev: &Dev, x: &[f32], batch: usize) -> Vec<f32> {
        let mut rng = rand::SeedableRng::seed_from_u64(0); // eval mode draws nothing
        let pass = self.forward(dev, x, batch, Mode::Eval, &mut rng);
        transpose(&pass.logits.as_vec(), self.classes, batch)
    }
}

/// One forward pass: the logits on the tape and the parameter handles to read gradients by.
pub struct Pass {
    pub logits: Mat,
    handles: Handles,
    pub batch: usize,
}

/// The parameter tensors a pass read, to look their gradients up by.
struct Handles {
    folded: Vec<Plain2>,
    layers: Vec<Layer>,
    handles2: Vec<Option<Plain2>>,
    handles1: Vec<Option<Plain1>>,
}

/// Loss value, gradients (in parameter order) and probabilities of a training step.
pub struct StepResult {
    pub loss: f32,
    pub grads: Vec<Vec<f32>>,
}

impl Pass {
    /// Class-weighted softmax cross-entropy, PyTorch's weighted mean
    /// (`Σ w_yi · l_i / Σ w_yi`), then backprop to every parameter.
    pub fn backward(self, dev: &Dev, labels: &[u32], class_weights: &[f32]) -> StepResult {
        let classes = class_weights.len();
        let weights = loss_weights(labels, class_weights, classes, self.batch);
        let logp = self.logits.log_softmax::<Axis<0>>();
        let loss = (logp * dev.tensor_from_vec(weights, (classes, self.batch)))
            .sum::<(), _>()
            .negate();
        self.handles.gradients(loss)
    }

    /// Mean squared error against `target` (outputs × batch, like the logits), PyTorch's
    /// `MSELoss()`: the autoencoder's reconstruction loss.
    pub fn backward_reconstruction(self, dev: &Dev, target: &[f32]) -> StepResult {
        let shape = *self.logits.shape();
        let target: Plain2 = dev.tensor_from_vec(target.to_vec(), shape);
        let loss = (self.logits - target).square().mean::<(), _>();
        self.handles.gradients(loss)
    }
}

impl Handles {
    /// Backprop from `loss` to every parameter, gradients in parameter order.
    fn gradients(self, loss: Tensor<(), f32, Dev, Traced>) -> StepResult {
        let value = loss.as_vec()[0];
        let grads = loss.backward();
        let mut out: Vec<Vec<f32>> = self
            .handles2
            .iter()
            .zip(&self.handles1)
            .map(|(m, v)| match (m, v) {
                (Some(m), _) => grads.get(m).as_vec(),
                (None, Some(v)) => grads.get(v).as_vec(),
                (None, None) => Vec::new(), // a folded weight or bias: filled below
            })
            .collect();
        for (l, wb) in self.layers.iter().zip(&self.folded) {
            let g = grads.get(wb).as_vec();
            let cols = l.inputs + 1;
            out[l.weight] = (0..l.outputs)
                .flat_map(|o| g[o * cols..o * cols + l.inputs].iter().copied())
                .collect();
            out[l.bias] = (0..l.outputs).map(|o| g[o * cols + l.inputs]).collect();
        }
        StepResult {
            loss: value,
            grads: out,
        }
    }
}

/// The weighted-mean factors: `w_y / Σ w_y` at (class y_i, sample i), zero elsewhere.
fn loss_weights(labels: &[u32], class_weights: &[f32], classes: usize, batch: usize) -> Vec<f32> {
    let total: f64 = labels
        .iter()
        .map(|&y| f64::from(class_weights[y as usize]))
        .sum();
    let mut m = vec![0.0f32; classes * batch];
    if total > 0.0 {
        for (i, &y) in labels.iter().enumerate() {
            m[y as usize * batch + i] = (f64::from(class_weights[y as usize]) / total) as f32;
        }
    }
    m
}

fn activate(z: Mat, act: Activation) -> Mat {
    match act {
        Activation::Relu => z.relu(),
        Activation::LeakyRelu => z.prelu(0.01),
        // elu(z) = relu(z) + exp(min(z, 0)) - 1, with min(z, 0) = -relu(-z).
        Activation::Elu => z.with_empty_tape().relu() + (z.negate().relu().negate().exp() - 1.0),
        Activation::Gelu => gelu(z),
        Activation::Sigmoid => z.sigmoid(),
        Activation::Tanh => z.tanh(),
    }
}

/// Exact GELU, `x·Φ(x)`. dfdx 0.13's `accurate_gelu` has the right value but its derivative's
/// second term is `x·e^(-x²/2)/√π` instead of `x·φ(x) = x·e^(-x²/2)/√(2π)`, so the gradient is
/// assembled here: `x·Φ + (x − x̄)·xφ`, where `x̄` is a tape-less copy (the second term is exactly
/// zero in value and contributes `xφ` to the gradient).
fn gelu(z: Mat) -> Mat {
    let shape = *z.shape();
    let dev = z.device().clone();
    let xs = z.as_vec();
    let cdf: Vec<f32> = xs
        .iter()
        .map(|&x| 0.5 * (1.0 + libm::erf(f64::from(x) / std::f64::consts::SQRT_2)) as f32)
        .collect();
    let slope: Vec<f32> = xs
        .iter()
        .map(|&x| {
            let x = f64::from(x);
            (x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()) as f32
        })
        .collect();
    let plain: Plain2 = dev.tensor_from_vec(xs, shape);
    z.with_empty_tape() * dev.tensor_from_vec(cdf, shape)
        + (z - plain) * dev.tensor_from_vec(slope, shape)
}

/// Batch norm over the batch axis (axis 1). Train: batch statistics (biased variance to
/// normalize, unbiased for the running estimate, as PyTorch). Eval: running statistics.
pub fn batch_norm(
    z: Mat,
    gamma: Tensor<(usize,), f32, Dev, Traced>,
    beta: Tensor<(usize,), f32, Dev, Traced>,
    stats: &mut RunningStats,
    mode: Mode,
) -> Mat {
    let shape = *z.shape();
    let (features, n) = shape;
    let dev = z.device().clone();
    let xhat = match mode {
        Mode::Train => {
            let mean = z.with_empty_tape().sum::<(usize,), Axis<1>>() / n as f32;
            let mean_v = mean.as_vec();
            let centered = z - mean.broadcast_like::<_, Axis<1>>(&shape);
            let var = centered
                .with_empty_tape()
                .square()
                .sum::<(usize,), Axis<1>>()
                / n as f32;
            let var_v = var.as_vec();
            let unbias = if n > 1 {
                n as f32 / (n as f32 - 1.0)
            } else {
                1.0
            };
            for j in 0..features {
                stats.mean[j] = (1.0 - BN_MOMENTUM) * stats.mean[j] + BN_MOMENTUM * mean_v[j];
                stats.var[j] = (1.0 - BN_MOMENTUM) * stats.var[j] + BN_MOMENTUM * var_v[j] * unbias;
            }
            let std = (var + BN_EPS).sqrt();
            centered / std.broadcast_like::<_, Axis<1>>(&shape)
        }
        Mode::Eval => {
            let mean: Plain1 = dev.tensor_from_vec(stats.mean.clone(), (features,));
            let inv: Vec<f32> = stats
                .var
                .iter()
                .map(|v| 1.0 / (v + BN_EPS).sqrt())
                .collect();
            let inv: Plain1 = dev.tensor_from_vec(inv, (features,));
            (z - mean.broadcast_like::<_, Axis<1>>(&shape))
                * inv.broadcast_like::<_, Axis<1>>(&shape)
        }
    };
    xhat * gamma.broadcast_like::<_, Axis<1>>(&shape) + beta.broadcast_like::<_, Axis<1>>(&shape)
}

/// Zeroes each element with probability `p` and scales survivors by 1/(1-p) (inverted dropout).
fn apply_mask(values: &mut [f32], p: f64, rng: &mut ChaCha8Rng) {
    let keep = (1.0 / (1.0 - p)) as f32;
    for v in values.iter_mut() {
        if rng.r#gen::<f64>() < p {
            *v = 0.0;
        } else {
            *v *= keep;
        }
    }
}

/// He normal (`kaiming_normal_`, fan in) or Xavier uniform (`xavier_uniform_`), `(out, in)`.
fn init_weight(rng: &mut ChaCha8Rng, out: usize, inp: usize, he: bool) -> Vec<f32> {
    if he {
        let normal = Normal::new(0.0f64, (2.0 / inp as f64).sqrt()).expect("a finite std");
        (0..out * inp).map(|_| normal.sample(rng) as f32).collect()
    } else {
        let a = (6.0 / (inp + out) as f64).sqrt();
        let uniform = Uniform::new_inclusive(-a, a);
        (0..out * inp).map(|_| uniform.sample(rng) as f32).collect()
    }
}

/// Row-major `rows × cols` to row-major `cols × rows`.
pub fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}
