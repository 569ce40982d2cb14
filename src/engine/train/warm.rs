//! A fine-tuned run's first weights: a fresh model (drawn from the RNG as from scratch) with
//! the source model's parameters copied in by name and shape.

use super::request::WarmStart;
use crate::engine::model::Model;

/// `fresh` with `warm`'s weights, parameter by parameter (same name and shape), but for the
/// output layer when `warm` resets it; batch-norm statistics come along.
pub(super) fn warm_started(mut fresh: Model, warm: &WarmStart) -> Model {
    let of = fresh.layer_of();
    let output = fresh.layer_count().saturating_sub(1);
    let source = warm.model.params();
    for (p, &layer) in fresh.params_mut().iter_mut().zip(&of) {
        if warm.reset_output && layer == output {
            continue;
        }
        if let Some(s) = source
            .iter()
            .find(|s| s.name == p.name && s.shape == p.shape)
        {
            p.data.clone_from(&s.data);
        }
    }
    let buffers: Vec<(String, Vec<f32>)> = warm
        .model
        .buffers()
        .into_iter()
        .map(|(n, v)| (n, v.to_vec()))
        .collect();
    for (name, into) in fresh.buffers_mut() {
        if let Some((_, v)) = buffers
            .iter()
            .find(|(n, v)| *n == name && v.len() == into.len())
        {
            into.copy_from_slice(v);
        }
    }
    fresh
}
