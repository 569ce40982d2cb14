//! What reading and writing share: the format's name, the optimizer buffers' names, and the
//! byte-level serialization with its errors.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};

use crate::engine::EngineError;

pub(super) const FORMAT: &str = "crossfold-checkpoint-v1";
pub(super) const BUFFERS: [&str; 8] = [
    "momentum_buffer",
    "sum",
    "square_avg",
    "acc_delta",
    "grad_avg",
    "exp_avg",
    "exp_avg_sq",
    "max_exp_avg_sq",
];

/// The safetensors bytes of F32 `tensors` (name, shape, little-endian data) and `meta`.
pub(super) fn serialize(
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    meta: HashMap<String, String>,
) -> Result<Vec<u8>, EngineError> {
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    safetensors::serialize(views, Some(meta)).map_err(internal)
}

pub(super) fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("writing a checkpoint: {e}"))
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidInput(format!("unreadable checkpoint: {e}"))
}
