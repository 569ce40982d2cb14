//! A model applied to rows in evaluation mode, a chunk at a time (bounding memory on large
//! sets): class probabilities, log probabilities, reconstruction errors.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::Model;
use super::param::Dev;
use crate::engine::data::rows::{Rows, gather};

/// Rows evaluated at once.
pub const EVAL_CHUNK: usize = 4096;
/// Floats a GRU's evaluation chunk may keep (its states and gates): 16 MiB.
pub const SEQUENCE_EVAL_FLOATS: usize = 1 << 22;

/// Rows of `width` evaluated at once by `model`: a GRU keeps about 9 floats per state value
/// and step, so its chunks are smaller.
pub fn eval_rows(model: &Model, width: usize) -> usize {
    match model {
        Model::Gru(g) => {
            let steps = width / g.net.input.max(1);
            (SEQUENCE_EVAL_FLOATS / (9 * steps * g.net.hidden).max(1)).clamp(1, EVAL_CHUNK)
        }
        _ => EVAL_CHUNK,
    }
}

/// The mean squared reconstruction error of each of `idx` rows (an autoencoder's outputs
/// against its inputs), in eval mode.
pub fn reconstruction_errors(
    model: &mut Model,
    dev: &Dev,
    rows: Rows<'_>,
    idx: &[usize],
) -> Vec<f64> {
    let d = rows.features;
    let mut out = Vec::with_capacity(idx.len());
    let mut rng = ChaCha8Rng::seed_from_u64(0); // eval mode draws nothing
    for chunk in idx.chunks(EVAL_CHUNK) {
        let (xt, _) = gather(rows, chunk, 0.0, &mut rng);
        let recon = model.raw_outputs(dev, &xt, chunk.len());
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
pub fn log_proba_rows(model: &mut Model, dev: &Dev, rows: Rows<'_>, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * model.outputs());
    let mut rng = ChaCha8Rng::seed_from_u64(0); // eval mode draws nothing
    for chunk in idx.chunks(eval_rows(model, rows.features)) {
        let (xt, _) = gather(rows, chunk, 0.0, &mut rng);
        out.extend(model.log_proba(dev, &xt, chunk.len()));
    }
    out
}

/// Class probabilities (rows × classes) of `idx` rows.
pub fn predict_rows(model: &mut Model, dev: &Dev, rows: Rows<'_>, idx: &[usize]) -> Vec<f32> {
    log_proba_rows(model, dev, rows, idx)
        .into_iter()
        .map(f32::exp)
        .collect()
}
