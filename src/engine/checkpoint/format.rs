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
    let bytes = safetensors::serialize(views, Some(meta)).map_err(internal)?;
    canonical(bytes)
}

/// The bytes with the header's metadata in key order. safetensors writes it from a `HashMap`,
/// whose order differs from one call to the next; a run's checkpoint is promised to be the
/// same bytes however (and on however many cores) it was computed.
fn canonical(mut bytes: Vec<u8>) -> Result<Vec<u8>, EngineError> {
    let size = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| internal("safetensors wrote no header"))? as usize;
    let header = bytes
        .get(8..8 + size)
        .ok_or_else(|| internal("a short header"))?;
    let mut value: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(internal)?;
    if let Some(serde_json::Value::Object(meta)) = value.get_mut("__metadata__") {
        meta.sort_keys();
    }
    let sorted = serde_json::to_vec(&value).map_err(internal)?;
    // The same entries in another order: the same length, so the offsets stay; the rest of the
    // header is safetensors' padding.
    let unpadded = header.trim_ascii_end().len();
    if sorted.len() != unpadded {
        return Err(internal("the sorted header changed length"));
    }
    bytes[8..8 + unpadded].copy_from_slice(&sorted);
    Ok(bytes)
}

pub(super) fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("writing a checkpoint: {e}"))
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidInput(format!("unreadable checkpoint: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tensors_and_metadata_serialize_to_the_same_bytes_every_time() {
        let tensors = vec![
            (
                "b".to_owned(),
                vec![2],
                [1.0f32, 2.0].map(f32::to_le_bytes).concat(),
            ),
            ("a".to_owned(), vec![1], 3.0f32.to_le_bytes().to_vec()),
        ];
        let meta = || {
            (0..40)
                .map(|i| (format!("key{i}"), format!("value {i}")))
                .collect::<HashMap<_, _>>()
        };
        let first = serialize(&tensors, meta()).unwrap();
        for _ in 0..20 {
            assert_eq!(serialize(&tensors, meta()).unwrap(), first);
        }
        let read = safetensors::SafeTensors::read_metadata(&first).unwrap().1;
        assert_eq!(read.metadata().as_ref().unwrap().len(), 40);
    }
}
