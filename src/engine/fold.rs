//! Cross-validation of one fold, end to end: encode (fitted on the fold's training rows only;
//! sequences are scaled per channel and packed into rows),
//! resample, train by the strategy's method, score the held-out rows. This is what a worker
//! runs for each fold run (and the final model: a fold with no held-out rows).

use std::sync::atomic::AtomicBool;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::EngineError;
use super::data::encode::Encoding;
use super::data::rows::Rows;
use super::data::table::Table;
use super::eval::scores::{Pooled, Scores, score};
use super::imbalance::plan::{ClassWeighting, Method, Sampler};
use super::imbalance::samplers::class_counts;
use super::imbalance::{ensemble, one_class, priors, weights};
use super::train::{
    Leg, Pretraining, Progress, TrainRequest, TrainState, Trained, WarmStart, train,
};
use crate::domain::dataset::Column;
use crate::domain::spec::TrainingSpec;

/// How to run a fold beyond its rows.
#[derive(Debug, Clone)]
pub struct FoldOptions {
    pub weighting: ClassWeighting,
    pub sampler: Sampler,
    pub method: Method,
    pub seed: u64,
    /// Continue from this state (an epoch checkpoint's).
    pub resume: Option<TrainState>,
    /// Hand a checkpoint to `progress` every this many epochs (0 = never).
    pub checkpoint_every: u64,
    /// Map the held-out probabilities back to the training rows' class priors
    /// (`imbalance::priors`).
    pub correct_probabilities: bool,
    /// Fine-tuning: the weights to start from, and the source's encoding to reuse (the table's
    /// features in its order).
    pub warm: Option<WarmStart>,
    pub encoding: Option<Encoding>,
    /// Layer-wise pretraining before training (`train::pretrain`).
    pub pretrain: Option<PretrainInput>,
    /// Where this leg of the run ends (a search's rung).
    pub leg: Leg,
}

/// What `pretrain` reads: the fold's training rows (before resampling), and `extra` rows with
/// the table's feature columns in its order (an unlabeled dataset's), encoded as the fold's.
#[derive(Debug, Clone, Default)]
pub struct PretrainInput {
    pub epochs: u64,
    pub extra: Vec<Column>,
}

/// What one fold produced.
#[derive(Debug, Clone)]
pub struct FoldOutcome {
    /// Held-out row indices, and their class probabilities (rows × classes).
    pub rows: Vec<usize>,
    pub proba: Vec<f64>,
    /// `None` when no rows were held out (the final model).
    pub scores: Option<Scores>,
    pub train_class_counts: Vec<u64>,
    /// Class counts of the held-out rows (never resampled).
    pub validation_class_counts: Vec<u64>,
    /// Class counts after resampling (what the model trained on; an ensemble's first member).
    pub resampled_class_counts: Vec<u64>,
    /// Ensembles: each member's class counts.
    pub member_class_counts: Option<Vec<Vec<u64>>>,
    /// The loss weight of each class (1 for all unless `class_weight`).
    pub class_weights: Vec<f32>,
    pub encoding: Encoding,
    pub trained: Trained,
    /// `correct_probabilities`: the per-class factor applied (and to apply at prediction).
    pub prior_correction: Option<Vec<f64>>,
}

/// A run's seed, derived from the job seed and the run's place, so re-runs and resumes match.
pub fn derive_seed(seed: u64, repeat: u64, fold: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(
        repeat
            .wrapping_mul(1 << 20)
            .wrapping_add(fold)
            .wrapping_add(1),
    );
    rng.next_u64()
}

/// Trains on `train_rows` and scores `test_rows` (none for a final model).
pub fn run_fold(
    table: &Table<'_>,
    spec: &TrainingSpec,
    train_rows: &[usize],
    test_rows: &[usize],
    options: FoldOptions,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<FoldOutcome, EngineError> {
    let encoding = match &options.encoding {
        Some(e) => e.clone(),
        None => Encoding::fit_table(table, train_rows),
    };
    let (x_train, width) = encoding.transform_table(table, train_rows);
    let y_train: Vec<u32> = train_rows.iter().map(|&r| table.y[r]).collect();
    let (x_test, _) = encoding.transform_table(table, test_rows);
    let y_test: Vec<u32> = test_rows.iter().map(|&r| table.y[r]).collect();
    let train_class_counts = table.class_counts(train_rows);
    // A resumed run's checkpoint holds the weights pretraining led to: it does not pretrain.
    let pretrain_x = options
        .pretrain
        .as_ref()
        .filter(|_| options.resume.is_none())
        .map(|p| pretrain_rows(&encoding, &x_train, &p.extra));
    // Resampling sees the fold's training rows only, after they are encoded.
    let (x_train, y_train) =
        options
            .sampler
            .apply(x_train, y_train, width, table.classes, options.seed);
    let class_weights = class_weights(&options.weighting, table, &train_class_counts);
    let req = TrainRequest {
        spec,
        train: Rows {
            x: &x_train,
            y: &y_train,
            features: width,
        },
        holdout: (!test_rows.is_empty()).then_some(Rows {
            x: &x_test,
            y: &y_test,
            features: width,
        }),
        classes: table.classes,
        class_weights: class_weights.clone(),
        seed: options.seed,
        resume: options.resume,
        checkpoint_every: options.checkpoint_every,
        objective: Default::default(),
        channels: table.sequences.as_ref().map(|s| s.channels()),
        warm: options.warm.clone(),
        pretrain: options
            .pretrain
            .as_ref()
            .zip(pretrain_x.as_deref())
            .map(|(p, x)| Pretraining {
                epochs: p.epochs,
                x,
            }),
        leg: options.leg,
    };
    let (trained, resampled_class_counts, member_class_counts) =
        train_by(&options.method, &req, (cancel, progress), &y_train)?;
    let mut proba: Vec<f64> = trained
        .holdout_proba
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|&p| f64::from(p))
        .collect();
    // One-class probabilities come from its calibration, not from trained priors.
    let prior_correction = (options.correct_probabilities && options.method != Method::OneClass)
        .then(|| priors::correction(&train_class_counts, &resampled_class_counts, &class_weights))
        .flatten();
    if let Some(c) = &prior_correction {
        priors::correct(&mut proba, c);
    }
    let scores = (!test_rows.is_empty()).then(|| score(&y_test, &proba, table.classes));
    Ok(FoldOutcome {
        rows: test_rows.to_vec(),
        proba,
        scores,
        train_class_counts,
        validation_class_counts: table.class_counts(test_rows),
        resampled_class_counts,
        member_class_counts,
        class_weights,
        encoding,
        trained,
        prior_correction,
    })
}

/// Per class, the loss weight `weighting` gives it.
fn class_weights(
    weighting: &ClassWeighting,
    table: &Table<'_>,
    train_class_counts: &[u64],
) -> Vec<f32> {
    match weighting {
        ClassWeighting::Uniform => vec![1.0; table.classes],
        ClassWeighting::Balanced => weights::balanced(train_class_counts)
            .into_iter()
            .map(|w| w as f32)
            .collect(),
        ClassWeighting::Explicit(map) => table
            .class_names
            .iter()
            .map(|c| map.get(c).copied().unwrap_or(1.0) as f32)
            .collect(),
    }
}

/// A fold trained by `method`: the model, the class counts it trained on, and an ensemble's
/// per-member counts.
type TrainedBy = (Trained, Vec<u64>, Option<Vec<Vec<u64>>>);

fn train_by(
    method: &Method,
    req: &TrainRequest<'_>,
    (cancel, progress): (&AtomicBool, &mut Progress<'_>),
    y_train: &[u32],
) -> Result<TrainedBy, EngineError> {
    Ok(match *method {
        Method::Single => (
            train(req, cancel, progress)?,
            class_counts(y_train, req.classes),
            None,
        ),
        Method::Ensemble {
            kind,
            members,
            ratio,
        } => {
            let e = ensemble::fit(kind, members, ratio, req, cancel, progress)?;
            (e.trained, e.member_counts[0].clone(), Some(e.member_counts))
        }
        Method::OneClass => {
            let o = one_class::fit(req, cancel, progress)?;
            (o.trained, o.trained_counts, None)
        }
    })
}

/// The fold's encoded training rows, then the extra rows encoded the same way.
fn pretrain_rows(encoding: &Encoding, x_train: &[f32], extra: &[Column]) -> Vec<f32> {
    let rows = extra.first().map_or(0, |c| c.data.len());
    let mut x = Vec::with_capacity(x_train.len() + rows * encoding.width());
    x.extend_from_slice(x_train);
    let columns: Vec<&Column> = extra.iter().collect();
    let rows: Vec<usize> = (0..rows).collect();
    encoding.transform_into(&columns, &rows, &mut x);
    x
}

/// All out-of-fold predictions scored as one set.
pub fn pooled(table: &Table<'_>, folds: &[FoldOutcome]) -> Scores {
    let mut pool = Pooled::default();
    for f in folds {
        let y: Vec<u32> = f.rows.iter().map(|&r| table.y[r]).collect();
        pool.add(&y, f.proba.iter().copied(), table.classes);
    }
    pool.score()
        .unwrap_or_else(|| score(&[], &[], table.classes))
}
