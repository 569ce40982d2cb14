//! A model applied to rows in evaluation mode, a chunk at a time (bounding memory on large
//! sets): class probabilities, log probabilities, reconstruction errors.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::Model;
pub use super::network::{EVAL_CHUNK, SEQUENCE_EVAL_FLOATS};
use crate::engine::data::rows::{Rows, gather};

/// The mean squared reconstruction error of each of `idx` rows (an autoencoder's outputs
/// against its inputs), in eval mode.
pub fn reconstruction_errors(model: &mut Model, rows: Rows<'_>, idx: &[usize]) -> Vec<f64> {
    let d = rows.features;
    let mut out = Vec::with_capacity(idx.len());
    let mut rng = ChaCha8Rng::seed_from_u64(0); // eval mode draws nothing
    for chunk in idx.chunks(EVAL_CHUNK) {
        let (xt, _) = gather(rows, chunk, 0.0, &mut rng);
        let recon = model.raw_outputs(&xt, chunk.len());
        out.extend(chunk.iter().enumerate().map(|(i, &r)| {
            let sq: f64 = recon[i * d..(i + 1) * d]
                .iter()
                .zip(&rows.x[r * d..(r + 1) * d])
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            sq / d.max(1) as f64
        }));
    }
    out
}

/// Log class probabilities (rows × classes) of `idx` rows.
pub fn log_proba_rows(model: &mut Model, rows: Rows<'_>, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * model.outputs());
    let mut rng = ChaCha8Rng::seed_from_u64(0); // eval mode draws nothing
    for chunk in idx.chunks(model.eval_rows(rows.features)) {
        let (xt, _) = gather(rows, chunk, 0.0, &mut rng);
        out.extend(model.log_proba(&xt, chunk.len()));
    }
    out
}

/// Class probabilities (rows × classes) of `idx` rows.
pub fn predict_rows(model: &mut Model, rows: Rows<'_>, idx: &[usize]) -> Vec<f32> {
    log_proba_rows(model, rows, idx)
        .into_iter()
        .map(f32::exp)
        .collect()
}
