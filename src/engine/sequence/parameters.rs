//! A GRU classifier's parameters as PyTorch builds them: the GRU's four per layer and
//! direction (`weight_ih_l{k}[_reverse]`, …), the attention's, the output layer's; every one
//! `U(−1/√fan, 1/√fan)`.

use rand::Rng;

use super::classifier::{GruClassifier, Pooling};
use crate::engine::model::param::Param;

/// The shape of a classifier's GRU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GruShape {
    pub hidden: usize,
    pub layers: usize,
    pub bidirectional: bool,
    pub dropout: f64,
}

/// `U(−1/√fan, 1/√fan)`, PyTorch's initialization of GRU and linear weights.
fn uniform(n: usize, fan: usize, rng: &mut impl Rng) -> Vec<f32> {
    let bound = 1.0 / (fan as f32).sqrt();
    (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
}

impl GruClassifier {
    /// One unidirectional layer.
    pub fn new(
        input: usize,
        hidden: usize,
        classes: usize,
        pooling: Pooling,
        rng: &mut impl Rng,
    ) -> Self {
        let shape = GruShape {
            hidden,
            layers: 1,
            bidirectional: false,
            dropout: 0.0,
        };
        Self::with_shape(input, shape, classes, pooling, rng)
    }

    pub fn with_shape(
        input: usize,
        shape: GruShape,
        classes: usize,
        pooling: Pooling,
        rng: &mut impl Rng,
    ) -> Self {
        let h = shape.hidden;
        let directions = if shape.bidirectional { 2 } else { 1 };
        // Weights are penalized (L1/L2), biases are not, as for the MLP.
        let mut param = |name: &str, shape: Vec<usize>, fan: usize, penalized: bool| Param {
            name: name.to_owned(),
            data: uniform(shape.iter().product(), fan, rng),
            shape,
            penalized,
        };
        let mut params = Vec::new();
        for l in 0..shape.layers {
            let d = if l == 0 { input } else { h * directions };
            for suffix in ["", "_reverse"].into_iter().take(directions) {
                params.push(param(
                    &format!("gru.weight_ih_l{l}{suffix}"),
                    vec![3 * h, d],
                    h,
                    true,
                ));
                params.push(param(
                    &format!("gru.weight_hh_l{l}{suffix}"),
                    vec![3 * h, h],
                    h,
                    true,
                ));
                params.push(param(
                    &format!("gru.bias_ih_l{l}{suffix}"),
                    vec![3 * h],
                    h,
                    false,
                ));
                params.push(param(
                    &format!("gru.bias_hh_l{l}{suffix}"),
                    vec![3 * h],
                    h,
                    false,
                ));
            }
        }
        // Attention and the head read the top layer's states, H per direction.
        let h = h * directions;
        match pooling {
            Pooling::Additive => {
                params.push(param("attention.W_s.weight", vec![h, h], h, true));
                params.push(param("attention.W_h.weight", vec![h, h], h, true));
                params.push(param("attention.v.weight", vec![1, h], h, true));
            }
            Pooling::Multiplicative => {
                params.push(param("attention.W_g.weight", vec![h, h], h, true))
            }
            Pooling::None | Pooling::Dot => {}
        }
        let features = Self::features_of(h, pooling);
        params.push(param(
            "output.weight",
            vec![classes, features],
            features,
            true,
        ));
        params.push(param("output.bias", vec![classes], features, false));
        Self {
            input,
            hidden: shape.hidden,
            layers: shape.layers,
            directions,
            dropout: shape.dropout,
            classes,
            pooling,
            params,
        }
    }
}
