//! The convolutional families as `Network`s (`fcn`, `resnet1d`): packed sequence rows
//! (`data::sequences`) in, `ConvNet` under them. Their layers, for per-layer statistics, are
//! the convolution units and the output layer; batch norm's running statistics are buffers.

use rand_chacha::ChaCha8Rng;

use super::parameters::{ConvNet, ConvShape};
use crate::domain::spec::ModelSpec;
use crate::engine::data::sequences::unpacked;
use crate::engine::model::dense::Workspace;
use crate::engine::model::network::{EVAL_CHUNK, Input, Network, SEQUENCE_EVAL_FLOATS};
use crate::engine::model::param::Param;
use crate::engine::onnx::graph::Graph;
use crate::engine::onnx::{ExportError, Feed};
use crate::engine::sequence::batch::Batch;

/// A convolutional classifier, its family's name and the spec it was built from.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvFamily {
    pub kind: &'static str,
    pub spec: ModelSpec,
    pub net: ConvNet,
}

impl ConvFamily {
    pub fn new(
        kind: &'static str,
        spec: &ModelSpec,
        shape: &ConvShape,
        channels: usize,
        classes: usize,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let net = ConvNet::new(channels, shape, classes, rng);
        Self {
            kind,
            spec: spec.clone(),
            net,
        }
    }

    fn unpacked(&self, xt: &[f32], batch: usize) -> (Vec<f32>, Vec<usize>, usize) {
        unpacked(xt, batch, self.net.input)
    }
}

impl Network for ConvFamily {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn input(&self) -> Input {
        Input::Sequence
    }

    fn inputs(&self) -> usize {
        self.net.input
    }

    fn outputs(&self) -> usize {
        self.net.classes
    }

    fn params(&self) -> &[Param] {
        &self.net.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.net.params
    }

    fn layer_count(&self) -> usize {
        self.net.layer_count()
    }

    fn layer_of(&self) -> Vec<usize> {
        self.net.layer_of()
    }

    fn buffers(&self) -> Vec<(String, &[f32])> {
        let mut out = Vec::new();
        for (name, s) in &self.net.running {
            out.push((format!("{name}.running_mean"), s.mean.as_slice()));
            out.push((format!("{name}.running_var"), s.var.as_slice()));
        }
        out
    }

    fn buffers_mut(&mut self) -> Vec<(String, &mut [f32])> {
        let mut out = Vec::new();
        for (name, s) in &mut self.net.running {
            out.push((format!("{name}.running_mean"), s.mean.as_mut_slice()));
            out.push((format!("{name}.running_var"), s.var.as_mut_slice()));
        }
        out
    }

    fn step(
        &mut self,
        ws: &mut Workspace,
        xt: &[f32],
        batch: usize,
        labels: &[u32],
        class_weights: &[f32],
        _rng: &mut ChaCha8Rng,
    ) -> f32 {
        let (x, lengths, steps) = self.unpacked(xt, batch);
        let b = Batch {
            x: &x,
            batch,
            steps,
            lengths: &lengths,
        };
        let layers = self.layer_count() - 1;
        let mut layer = 0;
        let (loss, grads) = self
            .net
            .train_step_seen(&b, labels, class_weights, |out, units| {
                ws.record_relu_rows(layer, layers, out, units);
                layer += 1;
            });
        ws.grads = grads;
        loss
    }

    fn log_proba(&mut self, xt: &[f32], batch: usize) -> Vec<f32> {
        let (x, lengths, steps) = self.unpacked(xt, batch);
        self.net.log_proba(&Batch {
            x: &x,
            batch,
            steps,
            lengths: &lengths,
        })
    }

    /// Every unit's im2col, output and normalized values are kept per step.
    fn eval_rows(&self, width: usize) -> usize {
        let steps = width / self.net.input.max(1);
        let per_step: usize = self
            .net
            .blocks
            .iter()
            .flat_map(|b| &b.units)
            .map(|u| u.conv.input * u.conv.kernel + 3 * u.conv.output)
            .sum();
        (SEQUENCE_EVAL_FLOATS / (steps * per_step).max(1)).clamp(1, EVAL_CHUNK)
    }

    fn into_kind(self: Box<Self>, _kind: &str) -> Box<dyn Network> {
        self
    }

    fn onnx(&self, g: &mut Graph, feed: Feed<'_>) -> Result<String, ExportError> {
        let lengths = feed.lengths.ok_or(ExportError::NoLengths)?;
        Ok(self.net.onnx(g, feed.x, lengths))
    }

    fn clone_box(&self) -> Box<dyn Network> {
        Box::new(self.clone())
    }
}
