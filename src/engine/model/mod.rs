//! Every network crossfold trains, behind one type: the trainer, the optimizer, the checkpoint
//! format and the predictor reach a model only through `Model`, a family's `Network` boxed.
//! Each family implements `Network` in its own place (`table.rs`: the MLP and the autoencoder;
//! `recurrent.rs`: the GRU and the LSTM over `sequence`'s kernels; `engine::conv`: FCN and
//! ResNet-1D); `registry.rs` is the one place that lists them.

pub mod activity;
pub mod autoencoder;
pub mod dense;
pub mod epoch_activity;
pub mod head;
pub mod infer;
pub mod kernels;
pub mod layers;
pub mod mlp;
mod mlp_onnx;
pub mod network;
pub mod param;
pub mod pass;
pub mod recurrent;
pub mod registry;
pub mod table;

use rand_chacha::ChaCha8Rng;

use self::dense::Workspace;
pub use self::network::{Input, Network};
use self::param::Param;
use crate::domain::spec::ModelSpec;
use crate::engine::onnx::graph::Graph;
use crate::engine::onnx::{ExportError, Feed};

/// A network of any family, and what its outputs mean.
#[derive(Debug)]
pub struct Model(Box<dyn Network>);

impl Clone for Model {
    fn clone(&self) -> Self {
        Model(self.0.clone_box())
    }
}

/// Two models are equal when they are of one kind with the same weights and buffers.
impl PartialEq for Model {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind()
            && self.spec() == other.spec()
            && self.params() == other.params()
            && self.0.buffers() == other.0.buffers()
    }
}

impl Model {
    pub fn new(net: Box<dyn Network>) -> Self {
        Model(net)
    }

    /// The name checkpoints record.
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    pub fn spec(&self) -> &ModelSpec {
        self.0.spec()
    }

    pub fn input(&self) -> Input {
        self.0.input()
    }

    /// Input features; a sequence model's channels.
    pub fn inputs(&self) -> usize {
        self.0.inputs()
    }

    /// Classes for a classifier, inputs for an autoencoder.
    pub fn outputs(&self) -> usize {
        self.0.outputs()
    }

    /// This model's network as the kind `like` is (the same weights): a checkpoint written
    /// before checkpoints named their model kind reads as `mlp`, and the run's objective, not
    /// the file, decides what it is.
    pub fn as_kind_of(self, like: &Model) -> Model {
        Model(self.0.into_kind(like.kind()))
    }

    /// Whether `other` has this kind and shape (a checkpoint of it can be continued here).
    pub fn same_shape(&self, other: &Model) -> bool {
        self.kind() == other.kind()
            && self.inputs() == other.inputs()
            && self.outputs() == other.outputs()
            && self.params().len() == other.params().len()
    }

    pub fn params(&self) -> &[Param] {
        self.0.params()
    }

    pub fn params_mut(&mut self) -> &mut [Param] {
        self.0.params_mut()
    }

    /// Layers, for per-layer statistics; the last is the output layer.
    pub fn layer_count(&self) -> usize {
        self.0.layer_count()
    }

    /// The layer (as `layer_count` numbers them) each parameter belongs to.
    pub fn layer_of(&self) -> Vec<usize> {
        self.0.layer_of()
    }

    /// State that is not a parameter (batch-norm running statistics), by checkpoint name.
    pub fn buffers(&self) -> Vec<(String, &[f32])> {
        self.0.buffers()
    }

    /// As `buffers`, to fill in.
    pub fn buffers_mut(&mut self) -> Vec<(String, &mut [f32])> {
        self.0.buffers_mut()
    }

    /// One training step on `x` (features × batch): the loss, with the gradients in
    /// `ws.grads` (parameter order). Cross-entropy against `labels` weighted by
    /// `class_weights`, or an autoencoder's squared error against `x`. `rng` draws dropout.
    pub fn step(
        &mut self,
        ws: &mut Workspace,
        x: &[f32],
        batch: usize,
        labels: &[u32],
        class_weights: &[f32],
        rng: &mut ChaCha8Rng,
    ) -> f32 {
        self.0.step(ws, x, batch, labels, class_weights, rng)
    }

    /// Log class probabilities (batch × classes, row-major) of `x` (features × batch), in eval
    /// mode; an autoencoder's outputs are not probabilities, so this is for classifiers.
    pub fn log_proba(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        self.0.log_proba(x, batch)
    }

    /// The raw outputs (batch × outputs, row-major) of `x` (features × batch), in eval mode:
    /// an autoencoder's reconstruction.
    pub fn raw_outputs(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        self.0.raw_outputs(x, batch)
    }

    /// Rows of `width` values evaluated at once.
    pub fn eval_rows(&self, width: usize) -> usize {
        self.0.eval_rows(width)
    }

    /// Whether the model pools with attention (has weights to explain).
    pub fn has_attention(&self) -> bool {
        self.0.has_attention()
    }

    /// Each sequence's attention weights over its steps (`None`: no attention pooling).
    pub fn attention(&self, x: &[f32], batch: usize) -> Option<Vec<Vec<f32>>> {
        self.0.attention(x, batch)
    }

    /// This model as ONNX nodes: its raw outputs from `feed`.
    pub fn onnx(&self, g: &mut Graph, feed: Feed<'_>) -> Result<String, ExportError> {
        self.0.onnx(g, feed)
    }
}
