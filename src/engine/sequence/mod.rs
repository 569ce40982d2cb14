//! Recurrent models' layers, pure kernels over padded batches: the GRU and the LSTM (forward
//! and backward through time, PyTorch's layouts, one `Cell` trait), stacked and bidirectional
//! layers, attention in its additive, general and dot forms, and the classifier they make
//! (attention over the states, a linear head on `[context; s]`). Pinned to PyTorch by
//! `tests/engine/sequence.rs` and `tests/engine/lstm.rs`.

mod activations;
pub mod attention;
mod avx2;
pub mod batch;
pub mod cell;
pub mod classifier;
pub mod gru;
pub mod lstm;
mod onnx;
mod onnx_unrolled;
pub mod parameters;
pub mod stack;
