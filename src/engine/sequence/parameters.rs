//! A recurrent classifier's parameters as PyTorch builds them: the GRU's or LSTM's four per
//! layer and direction (`gru.weight_ih_l{k}[_reverse]`, `lstm.…`), the attention's, the
//! output layer's; every one `U(−1/√fan, 1/√fan)`, but for a unit forget bias when asked.

use rand::Rng;

use super::cell::Cell;
use super::classifier::{Pooling, RnnClassifier};
use crate::engine::model::param::Param;

/// The shape of a classifier's recurrent layers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RnnShape {
    pub hidden: usize,
    pub layers: usize,
    pub bidirectional: bool,
    pub dropout: f64,
    /// LSTM: the forget gate's bias starts at 1 (`b_if` = 1, `b_hf` = 0; Keras'
    /// `unit_forget_bias`), so early gradients are not forgotten.
    pub unit_forget_bias: bool,
}

/// The GRU's shape.
pub type GruShape = RnnShape;

/// `U(−1/√fan, 1/√fan)`, PyTorch's initialization of GRU and linear weights.
fn uniform(n: usize, fan: usize, rng: &mut impl Rng) -> Vec<f32> {
    let bound = 1.0 / (fan as f32).sqrt();
    (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
}

impl<C: Cell> RnnClassifier<C> {
    /// One unidirectional layer.
    pub fn new(
        input: usize,
        hidden: usize,
        classes: usize,
        pooling: Pooling,
        rng: &mut impl Rng,
    ) -> Self {
        let shape = RnnShape {
            hidden,
            layers: 1,
            bidirectional: false,
            dropout: 0.0,
            unit_forget_bias: false,
        };
        Self::with_shape(input, shape, classes, pooling, rng)
    }

    pub fn with_shape(
        input: usize,
        shape: RnnShape,
        classes: usize,
        pooling: Pooling,
        rng: &mut impl Rng,
    ) -> Self {
        let (h, g) = (shape.hidden, C::GATES * shape.hidden);
        let name = C::NAME;
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
                    &format!("{name}.weight_ih_l{l}{suffix}"),
                    vec![g, d],
                    h,
                    true,
                ));
                params.push(param(
                    &format!("{name}.weight_hh_l{l}{suffix}"),
                    vec![g, h],
                    h,
                    true,
                ));
                let mut bias_ih = param(&format!("{name}.bias_ih_l{l}{suffix}"), vec![g], h, false);
                let mut bias_hh = param(&format!("{name}.bias_hh_l{l}{suffix}"), vec![g], h, false);
                if shape.unit_forget_bias {
                    // Gates [i, f, g, o]: the forget gate's rows are the second H.
                    bias_ih.data[h..2 * h].fill(1.0);
                    bias_hh.data[h..2 * h].fill(0.0);
                }
                params.extend([bias_ih, bias_hh]);
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
            cell: std::marker::PhantomData,
        }
    }
}
