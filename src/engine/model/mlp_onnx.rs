//! The MLP as ONNX nodes: each layer one `Gemm` (eval-mode batch norm folded into its weight
//! and bias), its activation, and its residual skip; dropout is gone at inference.

use super::layers::BN_EPS;
use super::mlp::{Layer, Mlp};
use crate::domain::spec::Activation;
use crate::engine::onnx::graph::{Attr, Graph};

impl Mlp {
    /// The network's raw outputs (batch × outputs) for `x` (batch × inputs, float).
    pub fn onnx(&self, g: &mut Graph, x: &str) -> String {
        let mut h = x.to_owned();
        let hidden = self.layers.len() - 1;
        for (li, layer) in self.layers.iter().enumerate() {
            let (w, b) = self.folded_layer(li);
            let w = g.floats("weight", &[layer.outputs, layer.inputs], w);
            let b = g.floats("bias", &[layer.outputs], b);
            let z = g.op("Gemm", &[&h, &w, &b], vec![("transB", Attr::Int(1))]);
            if li == hidden {
                return z;
            }
            let a = activation(g, &z, self.spec.activation);
            h = match layer.skip {
                None => a,
                Some(None) => g.op("Add", &[&a, &h], vec![]),
                Some(Some(p)) => {
                    let p = &self.params[p];
                    let p = g.floats("projection", &p.shape, p.data.clone());
                    let s = g.op("Gemm", &[&h, &p], vec![("transB", Attr::Int(1))]);
                    g.op("Add", &[&a, &s], vec![])
                }
            };
        }
        unreachable!("the output layer returns")
    }

    /// Layer `li`'s weight (outputs × inputs) and bias with its batch norm's eval-mode affine
    /// map folded in: `γ·(Wx + b − μ)/√(σ² + ε) + β`.
    fn folded_layer(&self, li: usize) -> (Vec<f32>, Vec<f32>) {
        let Layer {
            inputs,
            weight,
            bias,
            bn,
            ..
        } = self.layers[li];
        let (mut w, mut b) = (
            self.params[weight].data.clone(),
            self.params[bias].data.clone(),
        );
        let (Some((gamma, beta)), Some(stats)) =
            (bn, self.running.get(li).and_then(Option::as_ref))
        else {
            return (w, b);
        };
        let (gamma, beta) = (&self.params[gamma].data, &self.params[beta].data);
        for (o, bo) in b.iter_mut().enumerate() {
            let scale = f64::from(gamma[o]) / f64::from(stats.var[o] + BN_EPS).sqrt();
            for wi in &mut w[o * inputs..(o + 1) * inputs] {
                *wi = (f64::from(*wi) * scale) as f32;
            }
            let shifted = (f64::from(*bo) - f64::from(stats.mean[o])) * scale;
            *bo = (shifted + f64::from(beta[o])) as f32;
        }
        (w, b)
    }
}

/// `act` applied to `z`; GELU exactly, as `x·Φ(x)` through `Erf`.
fn activation(g: &mut Graph, z: &str, act: Activation) -> String {
    match act {
        Activation::Relu => g.op("Relu", &[z], vec![]),
        Activation::LeakyRelu => g.op("LeakyRelu", &[z], vec![("alpha", Attr::Float(0.01))]),
        Activation::Elu => g.op("Elu", &[z], vec![("alpha", Attr::Float(1.0))]),
        Activation::Sigmoid => g.op("Sigmoid", &[z], vec![]),
        Activation::Tanh => g.op("Tanh", &[z], vec![]),
        Activation::Gelu => {
            let root2 = g.scalar("sqrt2", std::f32::consts::SQRT_2);
            let (one, half) = (g.scalar("one", 1.0), g.scalar("half", 0.5));
            let scaled = g.op("Div", &[z, &root2], vec![]);
            let erf = g.op("Erf", &[&scaled], vec![]);
            let cdf = g.op("Add", &[&erf, &one], vec![]);
            let xcdf = g.op("Mul", &[z, &cdf], vec![]);
            g.op("Mul", &[&xcdf, &half], vec![])
        }
    }
}
