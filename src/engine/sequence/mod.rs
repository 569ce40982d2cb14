//! Sequence models' layers, pure kernels over padded batches: the GRU (forward and backward
//! through time, PyTorch's layout) and attention in its additive, general and dot forms.
//! Pinned to PyTorch by `tests/engine/sequence.rs`; the model and the service use them next.

pub mod attention;
pub mod gru;
