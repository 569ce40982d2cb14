//! What an epoch measures besides its training loss: the loss and accuracy of held-back rows,
//! how far each layer's weights moved, and the error a non-finite value ends a run with.

use crate::engine::EngineError;
use crate::engine::data::rows::Rows;
use crate::engine::model::Model;
use crate::engine::model::infer::{log_proba_rows, reconstruction_errors};
use crate::engine::model::param::Param;

use super::request::{Objective, TrainRequest};

/// Per layer: its weights' L2 norm, and how far they moved from `start` (relative).
pub(super) struct Movement {
    pub(super) norms: Vec<f64>,
    pub(super) ratios: Vec<f64>,
}

pub(super) fn weight_movement(
    params: &[Param],
    start: &[Vec<f32>],
    layer_of: &[usize],
    layers: usize,
) -> Movement {
    let (mut now, mut before, mut moved) =
        (vec![0.0; layers], vec![0.0; layers], vec![0.0; layers]);
    for ((p, s), &l) in params.iter().zip(start).zip(layer_of) {
        if !p.penalized {
            continue;
        }
        now[l] += squares(&p.data);
        before[l] += squares(s);
        let delta: Vec<f32> = p.data.iter().zip(s).map(|(a, b)| a - b).collect();
        moved[l] += squares(&delta);
    }
    Movement {
        norms: now.iter().map(|v: &f64| v.sqrt()).collect(),
        ratios: moved
            .iter()
            .zip(&before)
            .map(|(m, b): (&f64, &f64)| m.sqrt() / b.sqrt().max(f64::MIN_POSITIVE))
            .collect(),
    }
}

/// `Σ v²` in f64 over eight lanes, so it vectorizes.
pub(super) fn squares(v: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = v.chunks_exact(8);
    let rest: f64 = chunks
        .remainder()
        .iter()
        .map(|&x| f64::from(x).powi(2))
        .sum();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += f64::from(x) * f64::from(x);
        }
    }
    lanes.iter().sum::<f64>() + rest
}

/// The error of a run whose `epoch` (0-based) produced a non-finite `quantity`.
pub(super) fn diverged(epoch: u64, quantity: &'static str) -> EngineError {
    EngineError::Diverged {
        epoch: epoch + 1,
        quantity,
    }
}

/// The mean loss of `idx` rows in eval mode (class-weighted cross-entropy, or the mean squared
/// reconstruction error) and, when classifying, their accuracy.
pub(super) fn evaluate(
    model: &mut Model,
    req: &TrainRequest<'_>,
    rows: Rows<'_>,
    idx: &[usize],
) -> (f64, Option<f64>) {
    if req.objective == Objective::Reconstruct {
        let errors = reconstruction_errors(model, rows, idx);
        return (
            errors.iter().sum::<f64>() / errors.len().max(1) as f64,
            None,
        );
    }
    let weights = &req.class_weights;
    let log_proba = log_proba_rows(model, rows, idx);
    let k = model.outputs();
    let (mut loss, mut wsum, mut correct) = (0.0f64, 0.0f64, 0usize);
    for (i, &r) in idx.iter().enumerate() {
        let y = rows.y[r] as usize;
        let lp = &log_proba[i * k..(i + 1) * k];
        let w = f64::from(weights[y]);
        loss -= w * f64::from(lp[y]);
        wsum += w;
        let argmax = lp
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(c, _)| c);
        correct += usize::from(argmax == y);
    }
    (
        loss / wsum.max(f64::MIN_POSITIVE),
        Some(correct as f64 / idx.len().max(1) as f64),
    )
}
