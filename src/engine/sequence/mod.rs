//! Sequence models' layers, pure kernels over padded batches: the GRU (forward and backward
//! through time, PyTorch's layout), attention in its additive, general and dot forms, and the
//! GRU classifier they make (attention over the states, a linear head on `[context; s]`).
//! Pinned to PyTorch by `tests/engine/sequence.rs`; the model and the service use them next.

mod activations;
pub mod attention;
pub mod batch;
pub mod cell;
pub mod classifier;
pub mod gru;
pub mod lstm;
pub mod parameters;
pub mod stack;
