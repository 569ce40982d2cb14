//! The pieces a forward pass is built from: activations, batch norm, dropout masks and weight
//! initialization, each following PyTorch's definition.

use dfdx::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use super::param::{Dev, Mat, Mode, Plain1, Plain2, RunningStats, Traced};
use crate::domain::spec::Activation;

/// PyTorch's BatchNorm1d defaults.
pub const BN_EPS: f32 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

pub fn activate(z: Mat, act: Activation) -> Mat {
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
pub fn apply_mask(values: &mut [f32], p: f64, rng: &mut ChaCha8Rng) {
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
pub fn init_weight(rng: &mut ChaCha8Rng, out: usize, inp: usize, he: bool) -> Vec<f32> {
    if he {
        let normal = Normal::new(0.0f64, (2.0 / inp as f64).sqrt()).expect("a finite std");
        (0..out * inp).map(|_| normal.sample(rng) as f32).collect()
    } else {
        let a = (6.0 / (inp + out) as f64).sqrt();
        let uniform = Uniform::new_inclusive(-a, a);
        (0..out * inp).map(|_| uniform.sample(rng) as f32).collect()
    }
}
