//! The MLP: hidden layers (optionally batch-normed, with residual skips) and a linear output
//! layer, on dfdx tensors with reverse-mode autodiff. A classifier's outputs are its classes;
//! an autoencoder's are its inputs.
//!
//! Activations are laid out features × batch, so each layer is `W · h` with the traced weight
//! on the left (dfdx merges tapes from the left operand).

use dfdx::prelude::*;
use rand_chacha::ChaCha8Rng;

use super::layers::{activate, apply_mask, batch_norm, init_weight};
use super::param::{Dev, Mat, Mode, Param, Plain1, Plain2, RunningStats, transpose};
use super::pass::{FoldedLayer, Handles, Pass};
use crate::domain::spec::{Init, ModelSpec};

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

/// A multi-layer perceptron with a softmax output.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub spec: ModelSpec,
    pub inputs: usize,
    /// Width of the output layer: the classes, or (an autoencoder) the inputs.
    pub outputs: usize,
    pub params: Vec<Param>,
    /// Hidden layers, then the output layer (no activation, batch norm or skip).
    pub layers: Vec<Layer>,
    /// Per hidden layer, when batch norm is on.
    pub running: Vec<Option<RunningStats>>,
}

impl Mlp {
    /// A freshly initialized model: weights by `spec.init`, biases zero, gamma one, beta zero.
    pub fn new(spec: &ModelSpec, inputs: usize, outputs: usize, rng: &mut ChaCha8Rng) -> Self {
        let classes = outputs;
        let he = match spec.init {
            Init::He => true,
            Init::Xavier => false,
            Init::Auto => spec.activation.is_relu_family(),
        };
        let mut params = Params(Vec::new());
        let (mut layers, mut running, mut width) = (Vec::new(), Vec::new(), inputs);
        for (i, &out) in spec.hidden_layers.iter().enumerate() {
            let out = out as usize;
            layers.push(params.hidden_layer(spec, (i, width, out), he, rng));
            running.push(spec.batch_norm.then(|| RunningStats {
                mean: vec![0.0; out],
                var: vec![1.0; out],
            }));
            width = out;
        }
        let w = init_weight(rng, classes, width, false);
        let weight = params.add("output.weight".into(), vec![classes, width], w, true);
        let bias = params.filled("output.bias".into(), classes, 0.0);
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
            outputs,
            params: params.0,
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
        let folded = self.folded(dev);
        let (handles2, handles1) = self.unfolded(dev);
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
                        folded: self.folded_at(folded),
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

    /// Each layer's weight and bias as one `[W | b]` matrix against `[h; 1]`: the bias rides
    /// in the matmul instead of a broadcast add, whose backward is slow in dfdx.
    fn folded(&self, dev: &Dev) -> Vec<Plain2> {
        self.layers
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
            .collect()
    }

    /// Tensors of the parameters not folded into a layer (projections, batch norm), by index:
    /// matrices, then vectors.
    fn unfolded(&self, dev: &Dev) -> (Vec<Option<Plain2>>, Vec<Option<Plain1>>) {
        let mut is_folded = vec![false; self.params.len()];
        for l in &self.layers {
            is_folded[l.weight] = true;
            is_folded[l.bias] = true;
        }
        let handles2 = self
            .params
            .iter()
            .zip(&is_folded)
            .map(|(p, &f)| {
                (p.shape.len() == 2 && !f)
                    .then(|| dev.tensor_from_vec(p.data.clone(), (p.shape[0], p.shape[1])))
            })
            .collect();
        let handles1 = self
            .params
            .iter()
            .zip(&is_folded)
            .map(|(p, &f)| {
                (p.shape.len() == 1 && !f)
                    .then(|| dev.tensor_from_vec(p.data.clone(), (p.shape[0],)))
            })
            .collect();
        (handles2, handles1)
    }

    /// The folded matrices with where their parts live, for the backward pass.
    fn folded_at(&self, folded: Vec<Plain2>) -> Vec<(Plain2, FoldedLayer)> {
        folded
            .into_iter()
            .zip(&self.layers)
            .map(|(wb, l)| {
                let at = FoldedLayer {
                    inputs: l.inputs,
                    outputs: l.outputs,
                    weight: l.weight,
                    bias: l.bias,
                };
                (wb, at)
            })
            .collect()
    }

    /// Log class probabilities (batch × classes, row-major) of `x` (features × batch), in
    /// eval mode.
    pub fn log_proba(&mut self, dev: &Dev, x: &[f32], batch: usize) -> Vec<f32> {
        let mut rng = rand::SeedableRng::seed_from_u64(0); // eval mode draws nothing
        let pass = self.forward(dev, x, batch, Mode::Eval, &mut rng);
        let log_probs = pass.logits.log_softmax::<Axis<0>>().as_vec();
        transpose(&log_probs, self.outputs, batch)
    }

    /// The raw outputs (batch × outputs, row-major) of `x` (features × batch), in eval mode:
    /// an autoencoder's reconstruction.
    pub fn outputs(&mut self, dev: &Dev, x: &[f32], batch: usize) -> Vec<f32> {
        let mut rng = rand::SeedableRng::seed_from_u64(0); // eval mode draws nothing
        let pass = self.forward(dev, x, batch, Mode::Eval, &mut rng);
        transpose(&pass.logits.as_vec(), self.outputs, batch)
    }
}

/// The parameters as `Mlp::new` lays them out, each added once (its index returned).
struct Params(Vec<Param>);

impl Params {
    fn add(&mut self, name: String, shape: Vec<usize>, data: Vec<f32>, penalized: bool) -> usize {
        self.0.push(Param {
            name,
            shape,
            data,
            penalized,
        });
        self.0.len() - 1
    }

    /// An unpenalized vector of `n` copies of `value` (a bias, gamma or beta).
    fn filled(&mut self, name: String, n: usize, value: f32) -> usize {
        self.add(name, vec![n], vec![value; n], false)
    }

    /// Hidden layer `i` from `width` to `out` units: its weight, bias, batch norm and skip,
    /// drawn from `rng` in that order.
    fn hidden_layer(
        &mut self,
        spec: &ModelSpec,
        (i, width, out): (usize, usize, usize),
        he: bool,
        rng: &mut ChaCha8Rng,
    ) -> Layer {
        let w = init_weight(rng, out, width, he);
        let weight = self.add(format!("hidden.{i}.weight"), vec![out, width], w, true);
        let bias = self.filled(format!("hidden.{i}.bias"), out, 0.0);
        let bn = spec.batch_norm.then(|| {
            let g = self.filled(format!("hidden.{i}.bn.weight"), out, 1.0);
            (g, self.filled(format!("hidden.{i}.bn.bias"), out, 0.0))
        });
        let skip = spec.residual.then(|| {
            (width != out).then(|| {
                let p = init_weight(rng, out, width, he);
                self.add(format!("hidden.{i}.proj.weight"), vec![out, width], p, true)
            })
        });
        Layer {
            inputs: width,
            outputs: out,
            weight,
            bias,
            bn,
            skip,
        }
    }
}
