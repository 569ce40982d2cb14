//! The convolutional families as ONNX nodes: channels first (batch × C × steps), each unit one
//! `Conv` (`same` padding split as `conv1d` does) with its eval-mode batch norm folded into
//! the weights and a bias, zeroed past each length as the network keeps it; a residual block's
//! shortcut (a 1-wide projection or the identity, with its batch norm) added before the ReLU;
//! the average over each sequence's valid steps; the linear head.

use super::parameters::{Block, ConvNet, Shortcut, Unit};
use crate::engine::model::layers::BN_EPS;
use crate::engine::onnx::graph::{Attr, Graph};
use crate::engine::onnx::proto::FLOAT;
use crate::engine::onnx::steps::{unsqueeze, valid_steps};

impl ConvNet {
    /// Logits (batch × classes) of `x` (batch × steps × channels, scaled) whose sequences have
    /// `lengths` (int64, batch).
    pub fn onnx(&self, g: &mut Graph, x: &str, lengths: &str) -> String {
        let first = g.ints("index", &[], vec![0]);
        let x0 = g.op("Gather", &[x, &first], vec![("axis", Attr::Int(2))]);
        let valid = valid_steps(g, &x0, lengths);
        let mask = g.op("Cast", &[&valid], vec![("to", Attr::Int(FLOAT.into()))]);
        let mask = unsqueeze(g, &mask, 1);
        let h = g.op("Transpose", &[x], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
        // Padded steps read as 0 whatever the batch carries there.
        let mut h = g.op("Mul", &[&h, &mask], vec![]);
        for block in &self.blocks {
            h = self.block_onnx(g, block, &h, &mask);
        }
        let axes = g.ints("axes", &[1], vec![2]);
        let sum = g.op("ReduceSum", &[&h, &axes], vec![("keepdims", Attr::Int(0))]);
        let len = g.op("Cast", &[lengths], vec![("to", Attr::Int(FLOAT.into()))]);
        let len = unsqueeze(g, &len, 1);
        let one = g.scalar("one", 1.0);
        let len = g.op("Max", &[&len, &one], vec![]);
        let features = g.op("Div", &[&sum, &len], vec![]);
        let n = self.params.len();
        let (w, b) = (&self.params[n - 2], &self.params[n - 1]);
        let w = g.floats("output_weight", &w.shape, w.data.clone());
        let b = g.floats("output_bias", &b.shape, b.data.clone());
        g.op("Gemm", &[&features, &w, &b], vec![("transB", Attr::Int(1))])
    }

    fn block_onnx(&self, g: &mut Graph, block: &Block, x: &str, mask: &str) -> String {
        let residual = block.shortcut.is_some();
        let mut h = x.to_owned();
        for (u, unit) in block.units.iter().enumerate() {
            let last = u + 1 == block.units.len();
            h = self.unit_onnx(g, unit, &h, mask);
            if !(residual && last) {
                h = g.op("Relu", &[&h], vec![]);
            }
        }
        let Some(s) = &block.shortcut else {
            return h;
        };
        let filters = block.units.last().map_or(s.channels, |u| u.conv.output);
        let shortcut = self.shortcut_onnx(g, s, filters, x, mask);
        let sum = g.op("Add", &[&h, &shortcut], vec![]);
        g.op("Relu", &[&sum], vec![])
    }

    /// A unit's convolution and batch norm, zero past each length.
    fn unit_onnx(&self, g: &mut Graph, unit: &Unit, x: &str, mask: &str) -> String {
        let (scale, shift) = self.norm((unit.gamma, unit.beta, unit.stats));
        let (k, out) = (unit.conv.kernel, unit.conv.output);
        let w = scaled_rows(&self.params[unit.weight].data, &scale);
        let w = g.floats("conv_weight", &[out, unit.conv.input, k], w);
        let b = g.floats("conv_bias", &[out], shift);
        let left = (k - 1) / 2;
        let attrs = vec![
            ("kernel_shape", Attr::Ints(vec![k as i64])),
            ("pads", Attr::Ints(vec![left as i64, (k - 1 - left) as i64])),
        ];
        let z = g.op("Conv", &[x, &w, &b], attrs);
        g.op("Mul", &[&z, mask], vec![])
    }

    /// A residual block's shortcut of `x`: its projection (or `x`) and batch norm.
    fn shortcut_onnx(
        &self,
        g: &mut Graph,
        s: &Shortcut,
        filters: usize,
        x: &str,
        mask: &str,
    ) -> String {
        let (scale, shift) = self.norm((s.gamma, s.beta, s.stats));
        let z = match s.projection {
            Some(p) => {
                let w = scaled_rows(&self.params[p].data, &scale);
                let w = g.floats("projection", &[filters, s.channels, 1], w);
                let b = g.floats("projection_bias", &[filters], shift);
                let attrs = vec![("kernel_shape", Attr::Ints(vec![1]))];
                g.op("Conv", &[x, &w, &b], attrs)
            }
            None => {
                let scale = g.floats("scale", &[filters, 1], scale);
                let shift = g.floats("shift", &[filters, 1], shift);
                let z = g.op("Mul", &[x, &scale], vec![]);
                g.op("Add", &[&z, &shift], vec![])
            }
        };
        g.op("Mul", &[&z, mask], vec![])
    }

    /// A batch norm's eval-mode map per channel as `scale · z + shift`.
    fn norm(&self, (gamma, beta, stats): (usize, usize, usize)) -> (Vec<f32>, Vec<f32>) {
        let (gamma, beta) = (&self.params[gamma].data, &self.params[beta].data);
        let stats = &self.running[stats].1;
        (0..gamma.len())
            .map(|c| {
                let scale = f64::from(gamma[c]) / f64::from(stats.var[c] + BN_EPS).sqrt();
                let shift = f64::from(beta[c]) - f64::from(stats.mean[c]) * scale;
                (scale as f32, shift as f32)
            })
            .unzip()
    }
}

/// A weight of `scale.len()` output rows, each row scaled by its channel's factor.
fn scaled_rows(w: &[f32], scale: &[f32]) -> Vec<f32> {
    let per = w.len() / scale.len().max(1);
    (w.chunks(per).zip(scale))
        .flat_map(|(row, &s)| {
            row.iter()
                .map(move |v| (f64::from(*v) * f64::from(s)) as f32)
        })
        .collect()
}
