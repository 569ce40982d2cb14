//! The table families as `Network`s: the MLP classifier (`mlp`) and the autoencoder
//! (`autoencoder`, for `one_class`), one MLP under both.

use rand_chacha::ChaCha8Rng;

use super::dense::Workspace;
use super::mlp::Mlp;
use super::network::{Input, Network};
use super::param::Param;
use crate::domain::spec::ModelSpec;
use crate::engine::onnx::graph::Graph;
use crate::engine::onnx::{ExportError, Feed};

/// An MLP, and whether it reconstructs its inputs (mean squared error) rather than
/// classifying them (class-weighted cross-entropy).
#[derive(Debug, Clone, PartialEq)]
pub struct TableNet {
    pub net: Mlp,
    pub reconstruct: bool,
}

impl TableNet {
    /// A freshly initialized classifier (weights by `spec.init`, biases zero).
    pub fn classifier(
        spec: &ModelSpec,
        inputs: usize,
        classes: usize,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let net = Mlp::new(spec, inputs, classes, rng);
        Self {
            net,
            reconstruct: false,
        }
    }

    /// A freshly initialized autoencoder of `spec`'s layers (already mirrored).
    pub fn autoencoder(spec: &ModelSpec, inputs: usize, rng: &mut ChaCha8Rng) -> Self {
        let net = Mlp::new(spec, inputs, inputs, rng);
        Self {
            net,
            reconstruct: true,
        }
    }
}

impl Network for TableNet {
    fn kind(&self) -> &'static str {
        if self.reconstruct {
            "autoencoder"
        } else {
            "mlp"
        }
    }

    fn spec(&self) -> &ModelSpec {
        &self.net.spec
    }

    fn input(&self) -> Input {
        Input::Table
    }

    fn inputs(&self) -> usize {
        self.net.inputs
    }

    fn outputs(&self) -> usize {
        self.net.outputs
    }

    fn params(&self) -> &[Param] {
        &self.net.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.net.params
    }

    /// Hidden layers, then the output layer.
    fn layer_count(&self) -> usize {
        self.net.layers.len()
    }

    fn layer_of(&self) -> Vec<usize> {
        let mut of = vec![0; self.net.params.len()];
        for (l, layer) in self.net.layers.iter().enumerate() {
            of[layer.weight] = l;
            of[layer.bias] = l;
            if let Some((g, b)) = layer.bn {
                of[g] = l;
                of[b] = l;
            }
            if let Some(Some(p)) = layer.skip {
                of[p] = l;
            }
        }
        of
    }

    fn buffers(&self) -> Vec<(String, &[f32])> {
        let mut out = Vec::new();
        for (i, stats) in self.net.running.iter().enumerate() {
            if let Some(s) = stats {
                out.push((format!("hidden.{i}.bn.running_mean"), s.mean.as_slice()));
                out.push((format!("hidden.{i}.bn.running_var"), s.var.as_slice()));
            }
        }
        out
    }

    fn buffers_mut(&mut self) -> Vec<(String, &mut [f32])> {
        let mut out = Vec::new();
        for (i, stats) in self.net.running.iter_mut().enumerate() {
            if let Some(s) = stats {
                out.push((format!("hidden.{i}.bn.running_mean"), s.mean.as_mut_slice()));
                out.push((format!("hidden.{i}.bn.running_var"), s.var.as_mut_slice()));
            }
        }
        out
    }

    fn step(
        &mut self,
        ws: &mut Workspace,
        x: &[f32],
        batch: usize,
        labels: &[u32],
        class_weights: &[f32],
        rng: &mut ChaCha8Rng,
    ) -> f32 {
        let reconstruct = self.reconstruct;
        self.net
            .dense_step(ws, x, batch, labels, class_weights, reconstruct, rng)
    }

    fn log_proba(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        self.net
            .dense_log_proba(&mut Workspace::default(), x, batch)
    }

    fn raw_outputs(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        self.net.dense_outputs(&mut Workspace::default(), x, batch)
    }

    fn into_kind(mut self: Box<Self>, kind: &str) -> Box<dyn Network> {
        match kind {
            "mlp" => self.reconstruct = false,
            "autoencoder" => self.reconstruct = true,
            _ => {}
        }
        self
    }

    fn onnx(&self, g: &mut Graph, feed: Feed<'_>) -> Result<String, ExportError> {
        Ok(self.net.onnx(g, feed.x))
    }

    fn clone_box(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}
