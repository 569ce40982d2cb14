//! The rules over a run's gradient and activation statistics: gradients that vanish (the first
//! layer's norm a small share of the output layer's) or explode (huge norms or losses), dead
//! ReLU units and saturated sigmoid/tanh units.

use super::rule::{RunContext, finding};
use crate::domain::finding::{Kind, RunFinding, Severity};
use crate::engine::train::EpochRecord;

/// Vanishing: the first layer's gradient norm below this share of the output layer's…
/// (AUTOTRAINER's monitor).
pub const VANISHING_RATIO: f64 = 1e-3;
/// …and below this absolute norm.
pub const VANISHING_NORM: f64 = 1e-4;
/// Exploding: the first layer's gradient norm above this multiple of the output layer's
/// (AUTOTRAINER).
pub const EXPLODING_RATIO: f64 = 70.0;
/// Exploding: a global gradient norm above this (healthy runs here stay below 10).
pub const EXPLODING_NORM: f64 = 1e3;
/// Exploding: a training loss this many times the chance loss (a model that only knows the
/// class frequencies); `EXPLODED_LOSS` times is an error, the loss has left any useful range.
/// (RMSprop at its default rate on a 128³ ReLU network spikes to 125 times in its first
/// epoch and recovers: that is not yet exploding.)
pub const EXPLODING_LOSS: f64 = 1e3;
pub const EXPLODED_LOSS: f64 = 1e4;
/// Exploding: a training loss that grows to this many times its lowest so far (and above the
/// chance loss): orders of magnitude.
pub const EXPLODING_GROWTH: f64 = 100.0;
/// Dead (ReLU family) or saturated (sigmoid, tanh) units: a hidden layer with at least this
/// share of them at the last epoch. (Adam at 0.05 leaves half of a layer dead while the
/// loss swings: that is the learning rate's doing, and 0.6 keeps it out.)
pub const DEAD_SHARE: f64 = 0.6;
pub const SATURATED_SHARE: f64 = 0.5;
/// The first layer's and the output layer's gradient norms of an epoch.
fn ends(r: &EpochRecord) -> Option<(f64, f64)> {
    match r.layer_grad_norms.as_slice() {
        [first, .., last] => Some((*first, *last)),
        _ => None,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

pub(super) fn vanishing(_: &RunContext<'_>, h: &[&EpochRecord]) -> Option<RunFinding> {
    let per_epoch: Vec<(u64, f64, f64)> = h
        .iter()
        .filter_map(|r| ends(r).map(|(a, b)| (r.epoch, a, b)))
        .collect();
    let vanished: Vec<&(u64, f64, f64)> = per_epoch
        .iter()
        // Exactly 0 is a layer whose units all died (dead units), not a vanishing gradient.
        .filter(|(_, a, b)| *a > 0.0 && *a < VANISHING_NORM && *a < VANISHING_RATIO * b)
        .collect();
    // Most epochs: one noisy epoch is not a trend.
    if vanished.is_empty() || vanished.len() * 2 < per_epoch.len() {
        return None;
    }
    let first = median(per_epoch.iter().map(|e| e.1).collect());
    let last = median(per_epoch.iter().map(|e| e.2).collect());
    let ratio = first / last.max(f64::MIN_POSITIVE);
    Some(finding(
        Kind::VanishingGradients,
        Severity::Warning,
        Some(vanished[0].0),
        Some(0),
        format!(
            "the first layer's gradient norm is {first:.2e}, {ratio:.1e} of the output layer's \
             ({last:.2e}; medians over {} epochs): the early layers barely learn",
            per_epoch.len()
        ),
        &[
            ("first_layer_grad_norm", first),
            ("output_layer_grad_norm", last),
            ("ratio", ratio),
            ("epochs_vanished", vanished.len() as f64),
        ],
        -ratio.max(f64::MIN_POSITIVE).log10(),
    ))
}

pub(super) fn exploding(ctx: &RunContext<'_>, h: &[&EpochRecord]) -> Option<RunFinding> {
    // One-class has no chance loss: only the gradient rules apply.
    let chance = ctx.chance_loss.unwrap_or(f64::MAX).max(1e-3);
    let (worst, loss) = h
        .iter()
        .map(|r| (r.epoch, r.train_loss))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (big, norm) = h
        .iter()
        .map(|r| (r.epoch, r.grad_norm))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let ratios: Vec<f64> = h
        .iter()
        .filter_map(|r| ends(r).map(|(a, b)| a / b.max(f64::MIN_POSITIVE)))
        .collect();
    let ratio = median(ratios);
    let by_loss = loss > EXPLODING_LOSS * chance;
    let by_norm = norm > EXPLODING_NORM;
    let by_ratio = ratio > EXPLODING_RATIO;
    let growth = grew(h, chance);
    if !(by_loss || by_norm || by_ratio || growth.is_some()) {
        return None;
    }
    let severity = if loss > EXPLODED_LOSS * chance {
        Severity::Error
    } else {
        Severity::Warning
    };
    let first = h
        .iter()
        .find(|r| {
            r.train_loss > EXPLODING_LOSS * chance
                || growth.is_some_and(|(e, _, _)| r.epoch == e)
                || r.grad_norm > EXPLODING_NORM
                || ends(r).is_some_and(|(a, b)| a > EXPLODING_RATIO * b)
        })
        .map_or(worst.min(big), |r| r.epoch);
    let mut summary = Vec::new();
    if by_loss {
        summary.push(format!(
            "the training loss reached {loss:.3e} in epoch {worst}, {:.0e} times the chance \
             loss ({chance:.3})",
            loss / chance
        ));
    }
    if let Some((e, low, high)) = growth {
        summary.push(format!(
            "the training loss grew from {low:.4} to {high:.4} by epoch {e}, {:.0} times",
            high / low
        ));
    }
    if by_norm {
        summary.push(format!(
            "the gradient norm reached {norm:.3e} in epoch {big}"
        ));
    }
    if by_ratio {
        summary.push(format!(
            "the first layer's gradient norm is {ratio:.0} times the output layer's (median)"
        ));
    }
    Some(finding(
        Kind::ExplodingGradients,
        severity,
        Some(first),
        None,
        summary.join("; "),
        &[
            ("max_train_loss", loss),
            ("chance_loss", chance),
            ("max_grad_norm", norm),
            ("first_to_output_ratio", ratio),
        ],
        (loss / chance).max(norm).log10(),
    ))
}

/// The first epoch whose training loss is `EXPLODING_GROWTH` times the lowest before it and
/// above the chance loss (tiny losses that grow are not explosions): its epoch, the low and
/// the loss.
fn grew(h: &[&EpochRecord], chance: f64) -> Option<(u64, f64, f64)> {
    let mut low = f64::INFINITY;
    for r in h {
        if r.train_loss > EXPLODING_GROWTH * low && r.train_loss > chance {
            return Some((r.epoch, low, r.train_loss));
        }
        low = low.min(r.train_loss);
    }
    None
}

/// The hidden layer with the largest share in `of(record)` at the last epoch, if it reaches
/// `share`, and the first epoch any layer did.
fn worst_layer(
    h: &[&EpochRecord],
    of: fn(&EpochRecord) -> &[f64],
    share: f64,
) -> Option<(usize, f64, u64)> {
    let last = h.last()?;
    let (layer, &value) = of(last)
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    if value < share {
        return None;
    }
    let first = h
        .iter()
        .find(|r| of(r).iter().any(|&v| v >= share))
        .map_or(last.epoch, |r| r.epoch);
    Some((layer, value, first))
}

pub(super) fn dead(_: &RunContext<'_>, h: &[&EpochRecord]) -> Option<RunFinding> {
    let (layer, value, first) = worst_layer(h, |r| &r.dead_unit_fractions, DEAD_SHARE)?;
    Some(finding(
        Kind::DeadUnits,
        Severity::Warning,
        Some(first),
        Some(layer),
        format!(
            "{:.0}% of hidden layer {layer}'s units never activated in the last epoch",
            value * 100.0
        ),
        &[("dead_fraction", value)],
        value,
    ))
}

pub(super) fn saturated(_: &RunContext<'_>, h: &[&EpochRecord]) -> Option<RunFinding> {
    let (layer, value, first) = worst_layer(h, |r| &r.saturated_fractions, SATURATED_SHARE)?;
    Some(finding(
        Kind::SaturatedUnits,
        Severity::Warning,
        Some(first),
        Some(layer),
        format!(
            "{:.0}% of hidden layer {layer}'s activations were saturated (slope below 0.01) in \
             the last epoch",
            value * 100.0
        ),
        &[("saturated_fraction", value)],
        value,
    ))
}
