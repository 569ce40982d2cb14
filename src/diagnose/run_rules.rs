//! The rules over one run's epoch history: over- and underfitting and unstable training here,
//! the gradient and activation rules in `gradient_rules`. Each threshold is a named constant with
//! its reason; they were tuned on `../shared/diagnostics/cases.json` (README "Diagnostics").

use super::gradient_rules as gradients;
pub use super::rule::RunContext;
use super::rule::{Rule, explains, finding, num};
use crate::domain::finding::{Kind, RunDiagnosis, RunFinding, Severity};
use crate::engine::train::EpochRecord;

/// Overfitting: the held-out loss ends at least this multiple of its minimum…
pub const OVERFIT_RISE: f64 = 1.2;
/// …and at least this much above it (in loss units)…
pub const OVERFIT_MIN_RISE: f64 = 0.02;
/// …the minimum at least this many epochs before the end, while the training loss fell.
pub const OVERFIT_EPOCHS_AFTER: usize = 3;
/// Underfitting: a last training loss at least this share of the chance loss.
pub const UNDERFIT_SHARE: f64 = 0.9;
/// Unstable: at least `UNSTABLE_RISES` epochs whose training loss rose by `UNSTABLE_STEP`
/// (relative) and by `UNSTABLE_SCALE` of the first epoch's loss; or a last loss
/// `UNSTABLE_END` times the lowest, `UNSTABLE_SCALE`-sized.
pub const UNSTABLE_RISES: usize = 3;
pub const UNSTABLE_STEP: f64 = 1.25;
pub const UNSTABLE_SCALE: f64 = 0.05;
pub const UNSTABLE_END: f64 = 2.0;

/// How a run ended, if it has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunEnd {
    Training,
    Finished,
    /// A non-finite value in this (1-based) epoch.
    Diverged {
        epoch: u64,
    },
}

/// Diagnoses a run's epochs so far (an ensemble's first member's).
pub fn diagnose(ctx: &RunContext<'_>, history: &[EpochRecord], end: RunEnd) -> RunDiagnosis {
    let first_member = history.first().and_then(|r| r.member);
    let h: Vec<&EpochRecord> = history
        .iter()
        .filter(|r| r.member == first_member)
        .collect();
    let mut findings = Vec::new();
    if let RunEnd::Diverged { epoch } = end {
        findings.push(diverged(epoch));
    }
    if !h.is_empty() {
        let rules: [Rule; 7] = [
            gradients::exploding,
            gradients::vanishing,
            unstable,
            gradients::dead,
            gradients::saturated,
            underfitting,
            overfitting,
        ];
        for rule in rules {
            if let Some(f) = rule(ctx, &h)
                && !findings.iter().any(|g: &RunFinding| g.kind == f.kind)
            {
                findings.push(f);
            }
        }
    }
    // A cause found in the same run makes its symptoms info (`explains`).
    let causes: Vec<Kind> = (findings.iter())
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| f.kind)
        .collect();
    for f in &mut findings {
        if causes.iter().any(|&c| explains(c, f.kind)) {
            f.severity = Severity::Info;
        }
    }
    RunDiagnosis {
        findings,
        train_loss: h.last().map(|r| r.train_loss),
        epochs: h.len() as u64,
    }
}

fn diverged(epoch: u64) -> RunFinding {
    finding(
        Kind::ExplodingGradients,
        Severity::Error,
        Some(epoch),
        None,
        format!("a loss, gradient or weight turned non-finite (NaN or infinite) in epoch {epoch}"),
        &[("non_finite_epoch", epoch as f64)],
        f64::MAX,
    )
}

/// Epochs whose training loss rose by a step that matters at the run's scale.
fn unstable(_: &RunContext<'_>, h: &[&EpochRecord]) -> Option<RunFinding> {
    let loss: Vec<f64> = h.iter().map(|r| r.train_loss).collect();
    let scale = UNSTABLE_SCALE * loss[0];
    let rises: Vec<usize> = (1..loss.len())
        .filter(|&i| loss[i] > UNSTABLE_STEP * loss[i - 1] && loss[i] - loss[i - 1] > scale)
        .collect();
    let (low_at, low) = loss
        .iter()
        .copied()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let end = *loss.last()?;
    let ends_high = end > UNSTABLE_END * low && end - low > scale;
    if rises.len() < UNSTABLE_RISES && !ends_high {
        return None;
    }
    let first = rises.first().copied().unwrap_or(low_at + 1);
    Some(finding(
        Kind::UnstableTraining,
        Severity::Warning,
        Some(h[first].epoch),
        None,
        format!(
            "the training loss rose in {} of {} epochs (first in epoch {}); it reached {} in \
             epoch {} and ends at {}",
            rises.len(),
            loss.len() - 1,
            h[first].epoch,
            num(low),
            h[low_at].epoch,
            num(end)
        ),
        &[
            ("rises", rises.len() as f64),
            ("lowest_train_loss", low),
            ("last_train_loss", end),
        ],
        rises.len() as f64 + end / low.max(f64::MIN_POSITIVE),
    ))
}

fn underfitting(ctx: &RunContext<'_>, h: &[&EpochRecord]) -> Option<RunFinding> {
    let chance = ctx.chance_loss?;
    let last = h.last()?;
    if h.len() < 3 || last.train_loss < UNDERFIT_SHARE * chance {
        return None;
    }
    let first = h[0].train_loss;
    Some(finding(
        Kind::Underfitting,
        Severity::Warning,
        Some(h[0].epoch),
        None,
        format!(
            "the training loss went from {} to {} in {} epochs, {} times the chance loss \
             ({chance:.4}, predicting the class frequencies): the model learned little",
            num(first),
            num(last.train_loss),
            h.len(),
            num(last.train_loss / chance)
        ),
        &[
            ("first_train_loss", first),
            ("last_train_loss", last.train_loss),
            ("chance_loss", chance),
        ],
        last.train_loss / chance,
    ))
}

fn overfitting(ctx: &RunContext<'_>, h: &[&EpochRecord]) -> Option<RunFinding> {
    let curve: Vec<(usize, f64)> = h
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.holdout_loss.map(|l| (i, l)))
        .collect();
    let (best, low) = curve.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let (end_at, end) = *curve.last()?;
    let fell = h[end_at].train_loss < h[best].train_loss;
    if end < OVERFIT_RISE * low
        || end - low < OVERFIT_MIN_RISE
        || end_at < best + OVERFIT_EPOCHS_AFTER
        || !fell
    {
        return None;
    }
    let restored = ctx
        .spec
        .training
        .early_stopping
        .as_ref()
        .is_some_and(|e| e.restore_best);
    let (severity, note) = if restored {
        (
            Severity::Info,
            "; early stopping returned the weights of its best validation epoch",
        )
    } else {
        (Severity::Warning, "")
    };
    Some(finding(
        Kind::Overfitting,
        severity,
        Some(h[best].epoch),
        None,
        format!(
            "the held-out loss was lowest in epoch {} ({}) and rose to {} by epoch {} while \
             the training loss fell from {} to {}{note}",
            h[best].epoch,
            num(low),
            num(end),
            h[end_at].epoch,
            num(h[best].train_loss),
            num(h[end_at].train_loss)
        ),
        &[
            ("best_epoch", h[best].epoch as f64),
            ("lowest_holdout_loss", low),
            ("last_holdout_loss", end),
            ("last_train_loss", h[end_at].train_loss),
        ],
        end / low.max(f64::MIN_POSITIVE),
    ))
}
