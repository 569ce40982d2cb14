//! What a dry run shows of a job's work, at most: its runs, epochs (a halving search's as
//! synchronous halving trains them), rows per epoch after resampling, memory.

use serde::Serialize;

use crate::domain::dataset::DatasetSummary;
use crate::domain::final_model::FOLD_LOSS_EPOCHS_FACTOR;
use crate::domain::job::{FinalModel, JobSpec, Strategy};
use crate::domain::learning_rate::LearningRate;
use crate::domain::search::asha;
use crate::engine::imbalance::plan::trained_rows;
use crate::engine::memory::MemoryEstimate;
use crate::engine::train::rate_range::RangeTest;

/// The work a job will do, at most (no early stopping): runs, epochs (ensembles train
/// `n_subsets` models per run), and the rows each model trains on per epoch after resampling,
/// from the dataset's class counts scaled to a fold's training part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub runs: usize,
    pub epochs_per_run: u64,
    pub epochs: u64,
    pub samples_per_epoch: u64,
    pub samples_per_epoch_final: u64,
    pub strategies: Vec<StrategyWork>,
    pub memory_bytes: u64,
    pub memory: MemoryEstimate,
    /// `pretrain`: autoencoder epochs per run (every hidden layer's), besides `epochs_per_run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrain_epochs_per_run: Option<u64>,
    /// A halving search: the epochs its trials pause at to be compared (the last the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rungs: Option<Vec<u64>>,
    /// `learning_rate: "auto"`: the batches each run's range test trains at most (on a fresh
    /// model it then discards), besides `epochs_per_run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_test_steps_per_run: Option<u64>,
    /// Nested cross-validation: the outer folds' jobs, and their runs and epochs together
    /// (besides this job's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outer_jobs: Option<OuterWork>,
}

/// The outer folds' jobs of a nested job, at most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OuterWork {
    pub jobs: u64,
    pub runs: usize,
    pub epochs: u64,
}

/// One strategy's part of an `Estimate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyWork {
    pub strategy: Strategy,
    pub runs: u64,
    pub models_per_run: u64,
    pub samples_per_epoch: u64,
}

/// The work of a job of `runs_total` runs and that memory estimate (see `Estimate`).
pub fn of(
    spec: &JobSpec,
    (runs_total, memory): (usize, &MemoryEstimate),
    ds: &DatasetSummary,
) -> Estimate {
    let strategies = spec.imbalance.strategy.list();
    let im = &spec.imbalance;
    let folds = spec.validation.folds;
    let fold_counts = scaled_counts(spec, ds, (folds - 1) as f64 / folds as f64);
    let all_counts = scaled_counts(spec, ds, 1.0);
    let variants = spec.variant_count() as u64;
    let per_strategy = strategies
        .iter()
        .map(|&s| StrategyWork {
            strategy: s,
            runs: variants * folds * spec.validation.repeats,
            models_per_run: im.members(s),
            samples_per_epoch: trained_rows(s, im, &fold_counts),
        })
        .collect();
    // Every variant (a model of a list, a search's trial, with its own epochs) × strategy; a
    // halving search's trials, as many as its rungs promote.
    let halving = spec.halving();
    let variant_epochs: u64 = match &halving {
        Some(h) => asha::planned_epochs(spec.variant_count() as u64, &h.rungs, h.eta),
        None => (0..spec.variant_count())
            .map(|v| spec.variant_epochs(v))
            .sum(),
    };
    let fold_epochs: u64 = strategies
        .iter()
        .map(|&s| im.members(s) * folds * spec.validation.repeats * variant_epochs)
        .sum();
    // At most: `{"epochs": "cv"}` trains the folds' mean best epoch, not known yet, and the
    // leading variant's epochs are not known either; `{"epochs": "fold_loss"}` may train twice
    // the spec's.
    let factor = match spec.final_model {
        FinalModel::FoldLoss => FOLD_LOSS_EPOCHS_FACTOR,
        _ => 1,
    };
    let final_epochs =
        u64::from(spec.final_model.trains()) * im.max_members() * spec.most_epochs() * factor;
    let first = strategies[0];
    Estimate {
        runs: runs_total,
        epochs_per_run: spec.most_epochs() * im.members(first),
        epochs: fold_epochs + final_epochs,
        samples_per_epoch: trained_rows(first, im, &fold_counts),
        samples_per_epoch_final: trained_rows(first, im, &all_counts),
        strategies: per_strategy,
        memory_bytes: memory.bytes,
        memory: memory.clone(),
        pretrain_epochs_per_run: spec.pretrain.as_ref().map(|p| {
            let layers = (0..spec.variant_count())
                .map(|v| spec.variant_model(v).hidden_layers.len())
                .max();
            p.epochs * layers.unwrap_or(0) as u64
        }),
        rungs: halving.map(|h| h.rungs),
        range_test_steps_per_run: (spec.optimizer.learning_rate() == LearningRate::Auto)
            .then_some(RangeTest::default().steps as u64),
        outer_jobs: None,
    }
}

/// The dataset's class counts outside the test set, times `share` (a fold's training part).
pub(super) fn scaled_counts(spec: &JobSpec, ds: &DatasetSummary, share: f64) -> Vec<u64> {
    let v = &spec.validation;
    let outside_test = match (v.outer_folds, v.outer_fold) {
        (Some(k), Some(_)) => 1.0 - 1.0 / k as f64,
        _ => 1.0 - v.test_fraction,
    };
    ds.classes
        .iter()
        .map(|c| (c.count as f64 * outside_test * share).round() as u64)
        .collect()
}
