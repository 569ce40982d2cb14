//! Asynchronous successive halving (ASHA, Li et al. 2020): a trial's runs pause at each rung's
//! epochs; once all its folds are there, it is ranked by where its mean held-out loss curve is
//! heading at the last rung (`learning_curve::heading`), and it goes on when it is among the
//! best 1/η of the trials scored at that rung so far. A rung decides without waiting for the
//! others (asynchronous: a promotion never waits for the slowest trial), but only once the
//! search has no new work queued: trials not yet started go first, so a promotion is decided
//! on as many scores as the workers' time allows, not on the first few alone. When
//! nothing trains and nothing can be promoted, every trial still paused is halted where it
//! stands.
//!
//! Pure: the store reads each trial's progress, `decide` says what to do, the store does it.
//! It is a function of what is stored, so a restart decides the same.

use serde::{Deserialize, Serialize};

use super::learning_curve;

/// One fold run of a trial, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoldProgress {
    /// Paused at this rung's epoch, waiting for a decision.
    pub paused_at: Option<u64>,
    /// It ended: its epochs are all it will have (completed, early-stopped or halted).
    pub ended: bool,
    /// It failed or was cancelled: the trial has no score.
    pub failed: bool,
    /// Held-out loss of epoch 1, 2, … so far.
    pub losses: Vec<f64>,
}

/// What to do with a trial (by its index in `decide`'s slice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Train on, to the next rung's epoch (the last rung's is the end).
    Promote { trial: usize, to: u64 },
    /// End it with the epochs it has.
    Halt { trial: usize },
}

/// The trial's score at `epoch`: the mean over its folds of the held-out loss there (a fold
/// that ended sooner counts its last epoch's); `None` until every fold has reached it.
pub fn rung_score(folds: &[FoldProgress], epoch: u64) -> Option<f64> {
    let mut sum = 0.0;
    for fold in folds {
        let reached = fold.losses.len() as u64 >= epoch;
        if fold.failed || !(reached || fold.ended) || fold.losses.is_empty() {
            return None;
        }
        sum += fold.losses[(epoch as usize).min(fold.losses.len()) - 1];
    }
    (!folds.is_empty()).then(|| sum / folds.len() as f64)
}

/// The trial's mean held-out loss curve to `epoch` (a fold that ended sooner repeats its last
/// loss); `None` until every fold has reached it, as `rung_score`.
fn mean_curve(folds: &[FoldProgress], epoch: u64) -> Option<Vec<f64>> {
    rung_score(folds, epoch)?;
    let at = |fold: &FoldProgress, e: usize| fold.losses[e.min(fold.losses.len()) - 1];
    let n = folds.len() as f64;
    Some(
        (1..=epoch as usize)
            .map(|e| folds.iter().map(|f| at(f, e)).sum::<f64>() / n)
            .collect(),
    )
}

/// What a trial is ranked by at the rung `epoch`: where its mean curve is heading at the last
/// rung `horizon`.
pub fn rung_rank(folds: &[FoldProgress], epoch: u64, horizon: u64) -> Option<f64> {
    mean_curve(folds, epoch).map(|curve| learning_curve::heading(&curve, horizon))
}

/// Where the search's other runs stand when it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Runs of the search are queued to train: new trials go first, promotions wait.
    Queued,
    /// Nothing queued, some still training: promotions are made.
    Training,
    /// Nothing queued or training: promotions, or else the halts that end the search.
    Idle,
}

/// The rung the trial waits at: its folds all paused there or ended, one at least paused.
pub fn waiting_at(folds: &[FoldProgress]) -> Option<u64> {
    let rung = folds.iter().find_map(|f| f.paused_at)?;
    let all = folds
        .iter()
        .all(|f| f.paused_at == Some(rung) || f.ended || f.failed);
    all.then_some(rung)
}

/// The promotions due now, from the highest rung down (none while `work` is queued); when
/// `Idle` and none are due, a halt for every waiting trial.
pub fn decide(trials: &[Vec<FoldProgress>], rungs: &[u64], eta: u64, work: Work) -> Vec<Decision> {
    let mut out = Vec::new();
    let (Some(&horizon), false) = (rungs.last(), work == Work::Queued) else {
        return out;
    };
    for k in (0..rungs.len().saturating_sub(1)).rev() {
        let epoch = rungs[k];
        let to = rungs[k + 1];
        let mut scored: Vec<(f64, usize)> = (trials.iter().enumerate())
            .filter_map(|(i, folds)| rung_rank(folds, epoch, horizon).map(|s| (s, i)))
            .collect();
        // Ties go to the earlier trial, so the order is total and a restart decides the same.
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let keep = scored.len() / eta.max(1) as usize;
        out.extend(
            (scored.iter().take(keep))
                .filter(|(_, i)| waiting_at(&trials[*i]) == Some(epoch))
                .map(|&(_, trial)| Decision::Promote { trial, to }),
        );
    }
    if work == Work::Idle && out.is_empty() {
        // The best trial trains to the end even where ⌊n/η⌋ promotes none: some trial of the
        // search has its full epochs.
        if let Some(best) = best_unfinished(trials, rungs) {
            return vec![best];
        }
        out.extend(
            (0..trials.len())
                .filter(|&i| waiting_at(&trials[i]).is_some())
                .map(|trial| Decision::Halt { trial }),
        );
    }
    out
}

/// When no trial has reached the last rung: the best trial waiting at the highest rung that
/// has one, promoted.
fn best_unfinished(trials: &[Vec<FoldProgress>], rungs: &[u64]) -> Option<Decision> {
    let top = *rungs.last()?;
    if trials.iter().any(|folds| rung_score(folds, top).is_some()) {
        return None;
    }
    let (rung, _, trial) = (trials.iter().enumerate())
        .filter_map(|(i, folds)| {
            let at = waiting_at(folds)?;
            Some((at, rung_rank(folds, at, top)?, i))
        })
        .min_by(|a, b| {
            (b.0.cmp(&a.0))
                .then(a.1.total_cmp(&b.1))
                .then(a.2.cmp(&b.2))
        })?;
    let k = rungs.iter().position(|&r| r == rung)?;
    Some(Decision::Promote {
        trial,
        to: *rungs.get(k + 1)?,
    })
}

/// A run's (or, averaged over its folds, a trial's) held-out loss at a rung.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RungLoss {
    pub epoch: u64,
    pub loss: f64,
}

/// A run's losses at the rungs it reached (`losses` by epoch); one that stopped early counts its
/// last loss at the rungs beyond, as `rung_score` does.
pub fn rung_losses(rungs: &[u64], losses: &[f64], stopped_early: bool) -> Vec<RungLoss> {
    let Some(&last) = losses.last() else {
        return Vec::new();
    };
    (rungs.iter())
        .filter_map(|&epoch| {
            let loss = match losses.get(epoch as usize - 1) {
                Some(&l) => l,
                None if stopped_early => last,
                None => return None,
            };
            Some(RungLoss { epoch, loss })
        })
        .collect()
}

/// Most epochs a search of `trials` trials can train per fold: every trial to the first rung,
/// then the best 1/η of them (at least one) to each next: what synchronous halving spends, the
/// estimate's figure (asynchronous promotions may run a few more).
pub fn planned_epochs(trials: u64, rungs: &[u64], eta: u64) -> u64 {
    let mut total = 0;
    let (mut n, mut from) = (trials, 0);
    for &rung in rungs {
        total += n * (rung - from);
        from = rung;
        n = (n / eta.max(1)).max(1);
    }
    total
}

#[cfg(test)]
mod tests;
