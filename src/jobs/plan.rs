//! Planning a job, before anything is stored: its checks against the dataset (label, folds
//! against the smallest class, encoded width, memory, checkpoint size), the resolved spec, the
//! work estimate, and the runs with their recorded folds and seeds (the test set drawn once,
//! before the folds). HTTP calls this; nothing here knows about requests.

use crate::config::Limits;
use crate::domain::dataset::{ColumnType, DatasetSummary};
use crate::domain::ids;
use crate::domain::job::{FinalModel, JobSpec, Strategy};
use crate::domain::results::RunKind;
use crate::domain::spec::SpecError;
use crate::engine::fold::derive_seed;
use crate::engine::imbalance::plan::trained_rows;
use crate::engine::memory::{self, MemoryEstimate, MemoryInputs, PretrainShape};
use crate::store::jobs::{NewJob, NewRun};

/// A job that passed every check: its resolved spec, its peak memory and its run count.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub spec: JobSpec,
    pub memory: MemoryEstimate,
    pub runs_total: usize,
}

/// Every problem of `spec` against its dataset and the limits: label, features, folds against
/// the smallest class, categories, the encoded width.
pub fn check(spec: &JobSpec, ds: &DatasetSummary, limits: &Limits) -> Vec<SpecError> {
    let mut errors = check_against_dataset(spec, ds, limits.max_categories);
    let width = encoded_width(spec, ds);
    if width > limits.max_encoded_width {
        errors.push(SpecError::new(
            "features",
            format!(
                "dataset {} encodes to {width} model inputs (numeric columns plus one per \
                 category), more than max_encoded_width ({})",
                ds.id, limits.max_encoded_width
            ),
        ));
    }
    errors
}

/// The datasets a job reads beside its own (found by submit), as planning sizes them.
#[derive(Debug, Clone, Default)]
pub struct OtherDatasets {
    pub pretrain: Option<DatasetSummary>,
    pub test: Option<DatasetSummary>,
}

/// Resolves what the dataset decides for a spec that passed `validate` and `check` (the label;
/// a test set turns the final model on), and checks its memory and checkpoint size.
pub fn accept(
    mut spec: JobSpec,
    ds: &DatasetSummary,
    others: &OtherDatasets,
    limits: &Limits,
) -> Result<Accepted, SpecError> {
    spec.label = Some(ds.label.clone());
    // A family's defaults written in, and a search's trials drawn, so the stored spec says
    // what trained.
    for i in 0..spec.model.list().len() {
        if let Some(m) = spec.model.variant_mut(i) {
            *m = std::mem::take(m).resolved();
        }
    }
    let seed = spec.seed;
    if let Some(search) = &mut spec.search {
        search.sampled = Some(search.trials(seed));
    }
    // The test set is scored with the final model.
    if spec.validation.has_test_set() && !spec.final_model.trains() {
        spec.final_model = FinalModel::Own;
    }
    let strategies = spec.imbalance.strategy.list();
    let variants = spec.variant_count() * strategies.len();
    let runs_total = variants * spec.validation.folds as usize * spec.validation.repeats as usize
        + usize::from(spec.final_model.trains());
    let (needs, variant) = memory(&spec, (ds, others), &strategies, runs_total, limits);
    // The field that sizes the largest variant's model.
    let model_field = spec.variant_model(variant).kind.width_field();
    check_memory(
        &needs,
        model_field,
        limits.max_job_memory_bytes,
        limits.max_checkpoint_bytes,
    )?;
    Ok(Accepted {
        spec,
        memory: needs,
        runs_total,
    })
}

/// The job to store: its fold assignment per repeat (derived from the seed once and recorded),
/// and one run per strategy, repeat and fold, plus the final model. `labels` are the
/// dataset's class codes, `classes` their names.
pub fn job(
    accepted: Accepted,
    (labels, classes): (&[u32], Vec<String>),
    max_attempts: u32,
    folds: FoldSource<'_>,
) -> Result<NewJob, SpecError> {
    let n_classes = classes.len();
    let spec = accepted.spec;
    let folds_n = spec.validation.folds as usize;
    let repeats = spec.validation.repeats as usize;
    let assignments = assignment::assign_rows(&spec, labels, n_classes, folds)?;
    let strategies = spec.imbalance.strategy.list();
    // Every variant (model × strategy) trains on the same recorded folds, from the same seeds.
    let mut runs = Vec::new();
    let first_rung = spec.halving().map(|h| h.rungs[0]);
    for variant in 0..spec.variant_count() {
        for &strategy in &strategies {
            for r in 0..repeats {
                for f in 0..folds_n {
                    runs.push(NewRun {
                        id: ids::new_id("run"),
                        kind: RunKind::Fold,
                        fold: Some(f as u32),
                        repeat: Some(r as u32),
                        seed: derive_seed(spec.seed, r as u64, f as u64),
                        max_attempts,
                        strategy: Some(strategy),
                        variant: variant as u32,
                        pause_at: first_rung,
                    });
                }
            }
        }
    }
    let comparison = spec.imbalance.strategy.is_comparison() || spec.has_model_variants();
    if spec.final_model.trains() {
        runs.push(NewRun {
            id: ids::new_id("run"),
            kind: RunKind::Final,
            fold: None,
            repeat: None,
            seed: derive_seed(spec.seed, u64::MAX, 0),
            max_attempts,
            // A comparison's final model trains the leaderboard's winner, and one trained for
            // the folds' epochs or with a threshold tuned on their predictions needs them:
            // either waits for the folds (a NULL strategy).
            strategy: (!comparison && !spec.final_reads_folds()).then(|| strategies[0]),
            variant: 0,
            pause_at: None,
        });
    }
    Ok(NewJob {
        id: ids::new_id("job"),
        dataset_id: spec.dataset_id.clone(),
        spec,
        folds: assignments,
        runs,
        created_at: ids::now_rfc3339(),
        meta: Default::default(),
        remedy_of: None,
        classes,
        outer_of: None,
        outer_jobs: Vec::new(),
    })
}

/// The work of an accepted job (see `Estimate`).
pub fn estimate(job: &Accepted, ds: &DatasetSummary) -> Estimate {
    estimate::of(&job.spec, (job.runs_total, &job.memory), ds)
}

/// The model's inputs after one-hot encoding of the columns the job trains on, at most (a
/// fold may see fewer categories).
fn encoded_width(spec: &JobSpec, ds: &DatasetSummary) -> u64 {
    if let Some(shape) = ds.sequence {
        return 1 + shape.length_max * shape.channels;
    }
    trained_features(spec, ds)
        .into_iter()
        .map(|c| match c.column_type {
            ColumnType::Numeric => 1,
            ColumnType::Categorical => c.cardinality.unwrap_or(1),
        })
        .sum()
}

/// The memory the job needs at its peak, from its spec and the datasets' shapes, and the
/// variant that needs the most.
fn memory(
    spec: &JobSpec,
    (ds, others): (&DatasetSummary, &OtherDatasets),
    strategies: &[Strategy],
    runs: usize,
    limits: &Limits,
) -> (MemoryEstimate, usize) {
    let im = &spec.imbalance;
    let folds = spec.validation.folds as f64;
    let all = scaled_counts(spec, ds, 1.0);
    let train_rows = strategies
        .iter()
        .map(|&s| trained_rows(s, im, &all))
        .max()
        .unwrap_or(ds.rows);
    let holdout_rows = ((ds.rows as f64) / folds)
        .max(ds.rows as f64 * spec.validation.test_fraction)
        .ceil() as u64;
    // The job's peak is its largest model variant's.
    let of_variant = |variant: usize| {
        memory::estimate(&MemoryInputs {
            spec: &spec.training_spec(variant),
            inputs: encoded_width(spec, ds),
            classes: ds.classes.len() as u64,
            dataset_rows: ds.rows,
            dataset_columns: ds.columns.len() as u64,
            train_rows,
            holdout_rows,
            members: im.max_members(),
            reconstruct: strategies.contains(&Strategy::OneClass),
            concurrent_runs: limits.max_concurrent_runs.min(runs as u64),
            sequence: ds.sequence.map(|s| (s.channels, s.length_max)),
            sequence_values: ds.sequence.map_or(0, |s| s.total_steps * s.channels),
            pretrain: spec.pretrain.as_ref().map(|_| {
                let extra = others.pretrain.as_ref();
                PretrainShape {
                    rows: train_rows + extra.map_or(0, |e| e.rows),
                    extra_rows: extra.map_or(0, |e| e.rows),
                    extra_columns: extra.map_or(0, |e| e.columns.len() as u64),
                }
            }),
            test: others
                .test
                .as_ref()
                .map(|t| (t.rows, t.columns.len() as u64)),
        })
    };
    (0..spec.variant_count())
        .map(|v| (of_variant(v), v))
        .max_by_key(|(m, _)| m.bytes)
        .unwrap_or_else(|| (of_variant(0), 0))
}

/// A 422 when a run's checkpoint would be more than the database stores.
fn check_checkpoint(
    estimate: &MemoryEstimate,
    model_field: &str,
    max_checkpoint: u64,
) -> Result<(), SpecError> {
    if estimate.checkpoint_bytes > max_checkpoint {
        return Err(SpecError::new(
            model_field,
            format!(
                "a checkpoint of this model would be about {} MiB, more than \
                 max_checkpoint_bytes ({} MiB)",
                estimate.checkpoint_bytes >> 20,
                max_checkpoint >> 20
            ),
        ));
    }
    Ok(())
}

/// A 422 when the job needs more memory than `max_job_memory_bytes`, naming the field behind
/// it: another dataset the job reads when it would fit without it (pretraining rows, a test
/// set), else the biggest term's (or when its checkpoint would be too large to store).
fn check_memory(
    estimate: &MemoryEstimate,
    model_field: &str,
    limit: u64,
    max_checkpoint: u64,
) -> Result<(), SpecError> {
    if estimate.bytes <= limit {
        return check_checkpoint(estimate, model_field, max_checkpoint);
    }
    let other = |t: &&memory::MemoryTerm| {
        t.bytes > 0 && (t.name.starts_with("pretraining") || t.name.starts_with("test"))
    };
    let others: u64 = estimate.terms.iter().filter(other).map(|t| t.bytes).sum();
    let without = estimate.bytes - others.saturating_mul(estimate.concurrent_runs);
    let culprit = match estimate.terms.iter().filter(other).max_by_key(|t| t.bytes) {
        Some(t) if without <= limit => t,
        _ => estimate.biggest(),
    };
    let field = match culprit.name {
        n if n.starts_with("model") => model_field,
        n if n.starts_with("ensemble") => "imbalance.n_subsets",
        n if n.starts_with("batch") => "training.batch_size",
        n if n.starts_with("pretraining") => "pretrain.dataset_id",
        n if n.starts_with("test") => "validation.test_dataset_id",
        _ => "dataset_id",
    };
    Err(SpecError::new(
        field,
        format!(
            "the job would need about {} MiB ({} concurrent runs × {} MiB), more than \
             max_job_memory_bytes ({} MiB); {}: {} MiB per run",
            estimate.bytes >> 20,
            estimate.concurrent_runs,
            estimate.per_run_bytes >> 20,
            limit >> 20,
            if std::ptr::eq(culprit, estimate.biggest()) {
                format!("the biggest part is {}", culprit.name)
            } else {
                format!("it would fit without the {}", culprit.name)
            },
            culprit.bytes >> 20
        ),
    ))
}

mod assignment;
mod dataset_checks;
mod estimate;
mod init_checks;
mod other_datasets;
mod relabel;
mod validation_checks;
pub use assignment::FoldSource;
use dataset_checks::check_against_dataset;
use estimate::scaled_counts;
pub use estimate::{Estimate, OuterWork, StrategyWork};
pub use init_checks::check_init;
pub use other_datasets::{check_other_dataset, trained_features};
pub use relabel::{Relabeled, relabel};

#[cfg(test)]
mod tests;
