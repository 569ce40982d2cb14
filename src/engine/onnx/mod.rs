//! ONNX as crossfold writes it: the protobuf messages (`proto`), a graph built a node at a
//! time (`graph`), and why a model cannot be exported. Each family writes its own nodes
//! (`Network::onnx`); `engine::export` assembles a predictor's whole model.

pub mod graph;
pub mod proto;
pub mod steps;

/// Opset 17 of the default domain, ONNX-ML 3, IR version 8.
pub const OPSET: i64 = 17;
pub const ML_OPSET: i64 = 3;
pub const IR_VERSION: i64 = 8;
/// The graph's outputs.
pub const PROBABILITIES: &str = "probabilities";
pub const LABEL: &str = "label";

/// The graph inputs a family's nodes read: table rows (batch × inputs), or padded sequences
/// (batch × steps × channels, scaled) with each one's length (int64, batch).
#[derive(Debug, Clone, Copy)]
pub struct Feed<'a> {
    pub x: &'a str,
    pub lengths: Option<&'a str>,
    /// Recurrent layers unrolled over exactly this many steps (the input padded to it), for
    /// runtimes that read ONNX's `GRU`/`LSTM` only with a constant `sequence_lens` (tract).
    pub unroll: Option<usize>,
}

/// Why a predictor cannot be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("ONNX export of {0} models is not built yet")]
    Unsupported(&'static str),
    #[error("a sequence model's export needs the sequences' lengths")]
    NoLengths,
    #[error("the feature column {0:?} has the name of an output of the exported model")]
    NameClash(String),
    #[error("nothing to export: no models")]
    Empty,
    /// `?steps=` asked of a model that reads table rows: there are no steps to unroll.
    #[error("steps applies to a sequence model's export; this model reads table rows")]
    StepsOnTable,
}
