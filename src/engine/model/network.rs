//! What every family's network is to the trainer, the optimizer, the checkpoint format, the
//! predictor and the diagnostics: named parameters (PyTorch's names and shapes), buffers,
//! layers for per-layer statistics, one training step and evaluation. A family implements
//! `Network` in its own file; `registry` is the one place that lists the families.

use rand_chacha::ChaCha8Rng;

use super::dense::Workspace;
use super::param::Param;
use crate::domain::spec::ModelSpec;
use crate::engine::onnx::graph::Graph;
use crate::engine::onnx::{ExportError, Feed};

/// Rows evaluated at once.
pub const EVAL_CHUNK: usize = 4096;
/// Floats a sequence model's evaluation chunk may keep (its states and gates): 16 MiB.
pub const SEQUENCE_EVAL_FLOATS: usize = 1 << 22;

/// What a network reads: table rows, or packed sequence rows (`data::sequences`: a length,
/// then the steps' channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Table,
    Sequence,
}

/// One family's network. Inputs arrive as `gather` lays them out: features × batch.
pub trait Network: std::fmt::Debug + Send + Sync {
    /// The name checkpoints record (`mlp`, `autoencoder`, `gru`, …).
    fn kind(&self) -> &'static str;
    fn spec(&self) -> &ModelSpec;
    fn input(&self) -> Input;
    /// Input features; a sequence model's channels.
    fn inputs(&self) -> usize;
    /// Classes for a classifier, inputs for an autoencoder.
    fn outputs(&self) -> usize;
    fn params(&self) -> &[Param];
    fn params_mut(&mut self) -> &mut [Param];
    /// Layers, for per-layer statistics; the last is the output layer.
    fn layer_count(&self) -> usize;
    /// The layer (as `layer_count` numbers them) each parameter belongs to.
    fn layer_of(&self) -> Vec<usize>;
    /// State that is not a parameter (batch-norm running statistics), by checkpoint name.
    fn buffers(&self) -> Vec<(String, &[f32])> {
        Vec::new()
    }
    /// As `buffers`, to fill in.
    fn buffers_mut(&mut self) -> Vec<(String, &mut [f32])> {
        Vec::new()
    }
    /// One training step: the loss, with the gradients in `ws.grads` (parameter order).
    /// `rng` draws dropout.
    fn step(
        &mut self,
        ws: &mut Workspace,
        x: &[f32],
        batch: usize,
        labels: &[u32],
        class_weights: &[f32],
        rng: &mut ChaCha8Rng,
    ) -> f32;
    /// Log class probabilities (batch × classes, row-major), in eval mode.
    fn log_proba(&mut self, x: &[f32], batch: usize) -> Vec<f32>;
    /// The raw outputs (batch × outputs), in eval mode: an autoencoder's reconstruction.
    fn raw_outputs(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        self.log_proba(x, batch)
    }
    /// Rows of `width` values evaluated at once, bounding the memory evaluation keeps.
    fn eval_rows(&self, _width: usize) -> usize {
        EVAL_CHUNK
    }
    /// Whether the network pools with attention (has weights to explain).
    fn has_attention(&self) -> bool {
        false
    }
    /// Each sequence's attention weights over its steps, for a network that pools with
    /// attention; `None` otherwise.
    fn attention(&self, _x: &[f32], _batch: usize) -> Option<Vec<Vec<f32>>> {
        None
    }
    /// This network as the family named `kind` when they share weights (an MLP and an
    /// autoencoder: a checkpoint written before checkpoints named their kind reads as `mlp`).
    fn into_kind(self: Box<Self>, _kind: &str) -> Box<dyn Network>;
    /// This network as ONNX nodes of `g`: its raw outputs (batch × outputs) from `feed` (what
    /// `input()` says it reads). A family that does not export yet says so.
    fn onnx(&self, _g: &mut Graph, _feed: Feed<'_>) -> Result<String, ExportError> {
        Err(ExportError::Unsupported(self.kind()))
    }
    fn clone_box(&self) -> Box<dyn Network>;
}
