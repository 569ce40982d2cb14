//! A convolutional classifier's layout and parameters as PyTorch builds them: per block, its
//! units (`blocks.{b}.units.{u}.conv.weight` `(out, in, k)`, no bias; `….bn.weight`,
//! `….bn.bias`), a residual block's shortcut (`blocks.{b}.shortcut.conv.weight` when the
//! channels change, `….shortcut.bn.*`), then `output.weight`, `output.bias`. Convolutions and
//! the head draw `U(−1/√fan_in, 1/√fan_in)` (PyTorch's defaults); batch norm starts at γ = 1,
//! β = 0 with running statistics 0 and 1.

use rand::Rng;

use super::conv1d::Conv;
use crate::engine::model::param::{Param, RunningStats};

/// Conv → batch norm → ReLU (the ReLU of a residual block's last unit comes after the sum).
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub conv: Conv,
    /// Indices into `params`: the convolution's weights, γ, β; into `running`: the statistics.
    pub weight: usize,
    pub gamma: usize,
    pub beta: usize,
    pub stats: usize,
}

/// A residual block's shortcut: batch norm of the block's input, after a 1×1 convolution when
/// the channels change (`conv: Some(unit)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Shortcut {
    pub projection: Option<usize>,
    pub channels: usize,
    pub gamma: usize,
    pub beta: usize,
    pub stats: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub units: Vec<Unit>,
    /// `Some`: a residual block, `relu(units(x) + shortcut(x))`.
    pub shortcut: Option<Shortcut>,
}

/// The architecture: blocks of filters and kernels, residual or plain.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvShape {
    /// Per block, its filters; each unit of a block has the block's filters.
    pub filters: Vec<usize>,
    /// Each unit's kernel, the same in every block.
    pub kernels: Vec<usize>,
    /// Residual blocks of all the kernels (ResNet-1D); else one unit per block with the
    /// block's kernel (FCN).
    pub residual: bool,
}

/// The network's parameters by PyTorch name, its layout and running statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvNet {
    pub input: usize,
    pub classes: usize,
    pub blocks: Vec<Block>,
    pub params: Vec<Param>,
    /// Per batch norm (units, then a block's shortcut), with its checkpoint name.
    pub running: Vec<(String, RunningStats)>,
}

struct Builder<'r, R: Rng> {
    params: Vec<Param>,
    running: Vec<(String, RunningStats)>,
    rng: &'r mut R,
}

impl<R: Rng> Builder<'_, R> {
    fn uniform(&mut self, name: String, shape: Vec<usize>, fan: usize, penalized: bool) -> usize {
        let bound = 1.0 / (fan as f32).sqrt();
        let n = shape.iter().product();
        let data = (0..n).map(|_| self.rng.gen_range(-bound..bound)).collect();
        self.params.push(Param {
            name,
            shape,
            data,
            penalized,
        });
        self.params.len() - 1
    }

    /// γ, β and the running statistics of a batch norm named `prefix`.
    fn norm(&mut self, prefix: &str, channels: usize) -> (usize, usize, usize) {
        for (part, value) in [("weight", 1.0), ("bias", 0.0)] {
            self.params.push(Param {
                name: format!("{prefix}.{part}"),
                shape: vec![channels],
                data: vec![value; channels],
                penalized: false,
            });
        }
        let stats = RunningStats {
            mean: vec![0.0; channels],
            var: vec![1.0; channels],
        };
        self.running.push((prefix.to_owned(), stats));
        (
            self.params.len() - 2,
            self.params.len() - 1,
            self.running.len() - 1,
        )
    }

    fn unit(&mut self, prefix: &str, conv: Conv) -> Unit {
        let shape = vec![conv.output, conv.input, conv.kernel];
        let weight = self.uniform(
            format!("{prefix}.conv.weight"),
            shape,
            conv.input * conv.kernel,
            true,
        );
        let (gamma, beta, stats) = self.norm(&format!("{prefix}.bn"), conv.output);
        Unit {
            conv,
            weight,
            gamma,
            beta,
            stats,
        }
    }
}

impl ConvNet {
    pub fn new(input: usize, shape: &ConvShape, classes: usize, rng: &mut impl Rng) -> Self {
        let mut b = Builder {
            params: Vec::new(),
            running: Vec::new(),
            rng,
        };
        let mut blocks = Vec::new();
        let mut channels = input;
        for (i, &filters) in shape.filters.iter().enumerate() {
            let kernels: Vec<usize> = if shape.residual {
                shape.kernels.clone()
            } else {
                vec![
                    shape
                        .kernels
                        .get(i)
                        .or(shape.kernels.last())
                        .copied()
                        .unwrap_or(1),
                ]
            };
            let mut units = Vec::new();
            let mut from = channels;
            for (u, &kernel) in kernels.iter().enumerate() {
                let conv = Conv {
                    input: from,
                    output: filters,
                    kernel,
                };
                units.push(b.unit(&format!("blocks.{i}.units.{u}"), conv));
                from = filters;
            }
            let shortcut = shape.residual.then(|| {
                let projection = (channels != filters).then(|| {
                    let fan = channels;
                    b.uniform(
                        format!("blocks.{i}.shortcut.conv.weight"),
                        vec![filters, channels, 1],
                        fan,
                        true,
                    )
                });
                let (gamma, beta, stats) = b.norm(&format!("blocks.{i}.shortcut.bn"), filters);
                Shortcut {
                    projection,
                    channels,
                    gamma,
                    beta,
                    stats,
                }
            });
            blocks.push(Block { units, shortcut });
            channels = filters;
        }
        b.uniform(
            "output.weight".into(),
            vec![classes, channels],
            channels,
            true,
        );
        b.uniform("output.bias".into(), vec![classes], channels, false);
        Self {
            input,
            classes,
            blocks,
            params: b.params,
            running: b.running,
        }
    }

    /// The top block's channels: the pooled features' width.
    pub fn features(&self) -> usize {
        self.blocks
            .last()
            .and_then(|b| b.units.last())
            .map_or(self.input, |u| u.conv.output)
    }

    /// Layers for per-layer statistics: every convolution unit, then the output layer.
    pub fn layer_count(&self) -> usize {
        self.blocks.iter().map(|b| b.units.len()).sum::<usize>() + 1
    }

    /// The layer of each parameter: one per unit (a shortcut is its block's last unit's), then
    /// the output layer.
    pub fn layer_of(&self) -> Vec<usize> {
        let mut of = vec![0; self.params.len()];
        let mut layer = 0usize;
        for block in &self.blocks {
            for unit in &block.units {
                for p in [unit.weight, unit.gamma, unit.beta] {
                    of[p] = layer;
                }
                layer += 1;
            }
            if let Some(s) = &block.shortcut {
                for p in s.projection.iter().chain([&s.gamma, &s.beta]) {
                    of[*p] = layer.saturating_sub(1);
                }
            }
        }
        let n = of.len();
        of[n - 2] = layer;
        of[n - 1] = layer;
        of
    }
}
