//! Cross-validation of one fold, end to end: encode (fitted on the fold's training rows only),
//! train, score the held-out rows. Plus the summaries across folds and the pooled out-of-fold
//! score. This is what a worker runs for each fold run.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::batch::Rows;
use super::checkpoint::Checkpoint;
use super::encode::Encoding;
use super::metrics::{Scores, score};
use super::train::{Progress, TrainRequest, Trained, train};
use super::{EngineError, weights};
use crate::domain::dataset::{Column, ColumnData};
use crate::domain::job::{ClassWeights, ImbalanceSpec, Strategy};
use crate::domain::spec::TrainingSpec;

/// A dataset ready for cross-validation: its feature columns and class index per row.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    pub features: Vec<&'a Column>,
    pub y: Vec<u32>,
    pub classes: usize,
    /// The class values, by class index.
    pub class_names: Vec<String>,
}

impl<'a> Table<'a> {
    /// The table of `columns` with `label` as the class column (stored as class codes) and
    /// every other column as a feature.
    pub fn new(columns: &'a [Column], label: usize) -> Result<Self, EngineError> {
        let ColumnData::Categorical { codes, categories } = &columns[label].data else {
            return Err(EngineError::InvalidInput(
                "the label column is not stored as classes".into(),
            ));
        };
        let features = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != label)
            .map(|(_, c)| c)
            .collect();
        Ok(Self {
            features,
            y: codes.clone(),
            classes: categories.len(),
            class_names: categories.clone(),
        })
    }

    fn class_counts(&self, rows: &[usize]) -> Vec<u64> {
        let mut counts = vec![0u64; self.classes];
        for &r in rows {
            counts[self.y[r] as usize] += 1;
        }
        counts
    }
}

/// How classes are weighted in the loss.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassWeighting {
    Uniform,
    /// scikit-learn's "balanced", from the fold's training rows.
    Balanced,
    /// Class value → weight; classes left out weigh 1.
    Explicit(BTreeMap<String, f64>),
}

/// Resampling of a fold's (encoded) training rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    None,
    Oversample {
        ratio: f64,
        shrinkage: f64,
    },
    Undersample {
        ratio: f64,
    },
    Smote {
        ratio: f64,
        k: usize,
    },
    NearMiss {
        version: u8,
        n_neighbors: usize,
        n_neighbors_ver3: usize,
        ratio: f64,
    },
}

impl Sampler {
    /// Resamples `x` (rows × `d`) and `y`; validation and test rows never come here.
    fn apply(
        &self,
        x: Vec<f32>,
        y: Vec<u32>,
        d: usize,
        classes: usize,
        seed: u64,
    ) -> (Vec<f32>, Vec<u32>) {
        use super::resample::{self, Matrix};
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_5A3F_1E5A_0001);
        let m = Matrix { x: &x, d };
        let keep = |kept: Vec<usize>| {
            let xs = kept
                .iter()
                .flat_map(|&r| x[r * d..(r + 1) * d].iter().copied())
                .collect();
            (xs, kept.iter().map(|&r| y[r]).collect())
        };
        match *self {
            Sampler::None => (x, y),
            Sampler::Oversample { ratio, shrinkage } => {
                resample::oversample(m, &y, classes, ratio, shrinkage, &mut rng)
            }
            Sampler::Smote { ratio, k } => resample::smote(m, &y, classes, ratio, k, &mut rng),
            Sampler::Undersample { ratio } => {
                keep(resample::undersample(&y, classes, ratio, &mut rng))
            }
            Sampler::NearMiss {
                version,
                n_neighbors,
                n_neighbors_ver3,
                ratio,
            } => keep(resample::nearmiss(
                m,
                &y,
                classes,
                version,
                n_neighbors,
                n_neighbors_ver3,
                ratio,
            )),
        }
    }
}

/// What a fold trains: one model, an under-sampling ensemble, or a one-class autoencoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    Single,
    Ensemble {
        kind: super::ensemble::Kind,
        members: usize,
        ratio: f64,
    },
    OneClass,
}

/// How the engine runs a fold for one strategy and the job's imbalance settings.
pub fn plan(strategy: Strategy, im: &ImbalanceSpec) -> (ClassWeighting, Sampler, Method) {
    let ratio = im.sampling_ratio;
    let members = im.n_subsets as usize;
    let weighting = match (strategy, &im.class_weights) {
        (Strategy::ClassWeight, ClassWeights::Map(m)) => ClassWeighting::Explicit(m.clone()),
        (Strategy::ClassWeight, ClassWeights::Keyword(_)) => ClassWeighting::Balanced,
        _ => ClassWeighting::Uniform,
    };
    let sampler = match strategy {
        Strategy::Oversample => Sampler::Oversample {
            ratio,
            shrinkage: im.jitter,
        },
        Strategy::Undersample => Sampler::Undersample { ratio },
        Strategy::Smote => Sampler::Smote {
            ratio,
            k: im.k_neighbors as usize,
        },
        Strategy::Nearmiss => Sampler::NearMiss {
            version: im.version,
            n_neighbors: im.n_neighbors as usize,
            n_neighbors_ver3: im.n_neighbors_ver3 as usize,
            ratio,
        },
        _ => Sampler::None,
    };
    let method = match strategy {
        Strategy::EasyEnsemble => Method::Ensemble {
            kind: super::ensemble::Kind::Easy,
            members,
            ratio,
        },
        Strategy::BalanceCascade => Method::Ensemble {
            kind: super::ensemble::Kind::Cascade,
            members,
            ratio,
        },
        Strategy::OneClass => Method::OneClass,
        _ => Method::Single,
    };
    (weighting, sampler, method)
}

/// The rows one model of `strategy` trains on in an epoch, for training class counts
/// `counts` (before the inner early-stopping split): the sampler's targets, the majority class
/// alone for `one_class`.
pub fn trained_rows(strategy: Strategy, im: &ImbalanceSpec, counts: &[u64]) -> u64 {
    use super::resample::{over_targets, under_targets};
    let ratio = im.sampling_ratio;
    match strategy {
        Strategy::None | Strategy::ClassWeight => counts.iter().sum(),
        Strategy::Oversample | Strategy::Smote => over_targets(counts, ratio).iter().sum(),
        Strategy::Undersample
        | Strategy::Nearmiss
        | Strategy::EasyEnsemble
        | Strategy::BalanceCascade => under_targets(counts, ratio).iter().sum(),
        Strategy::OneClass => counts.iter().copied().max().unwrap_or(0),
    }
}

/// How to run a fold beyond its rows.
#[derive(Debug, Clone)]
pub struct FoldOptions {
    pub weighting: ClassWeighting,
    pub sampler: Sampler,
    pub method: Method,
    pub seed: u64,
    /// Continue from this epoch checkpoint.
    pub resume: Option<Checkpoint>,
    /// Hand a checkpoint to `progress` every this many epochs (0 = never).
    pub checkpoint_every: u64,
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
    let encoding = Encoding::fit(&table.features, train_rows);
    let width = encoding.width();
    let x_train = encoding.transform(&table.features, train_rows);
    let y_train: Vec<u32> = train_rows.iter().map(|&r| table.y[r]).collect();
    let x_test = encoding.transform(&table.features, test_rows);
    let y_test: Vec<u32> = test_rows.iter().map(|&r| table.y[r]).collect();
    let train_class_counts = table.class_counts(train_rows);
    // Resampling sees the fold's training rows only, after they are encoded.
    let (x_train, y_train) =
        options
            .sampler
            .apply(x_train, y_train, width, table.classes, options.seed);
    let class_weights = match options.weighting {
        ClassWeighting::Uniform => vec![1.0; table.classes],
        ClassWeighting::Balanced => weights::balanced(&train_class_counts)
            .into_iter()
            .map(|w| w as f32)
            .collect(),
        ClassWeighting::Explicit(map) => table
            .class_names
            .iter()
            .map(|c| map.get(c).copied().unwrap_or(1.0) as f32)
            .collect(),
    };
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
    };
    let (mut trained, resampled_class_counts, member_class_counts) = match options.method {
        Method::Single => (
            train(&req, cancel, progress)?,
            super::resample::class_counts(&y_train, table.classes),
            None,
        ),
        Method::Ensemble {
            kind,
            members,
            ratio,
        } => {
            let e = super::ensemble::fit(kind, members, ratio, &req, cancel, progress)?;
            (e.trained, e.member_counts[0].clone(), Some(e.member_counts))
        }
        Method::OneClass => {
            let o = super::one_class::fit(&req, cancel, progress)?;
            (o.trained, o.trained_counts, None)
        }
    };
    trained.checkpoint.encoding =
        Some(serde_json::to_string(&encoding).expect("an encoding serializes"));
    let proba: Vec<f64> = trained
        .holdout_proba
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|&p| f64::from(p))
        .collect();
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
    })
}

/// Mean, population standard deviation (NumPy's default), minimum and maximum across folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

/// The scalar metrics of `Scores`, by name.
pub fn scalars(s: &Scores) -> BTreeMap<&'static str, f64> {
    let mut m = BTreeMap::from([
        ("accuracy", s.accuracy),
        ("balanced_accuracy", s.balanced_accuracy),
        ("precision_macro", s.precision_macro),
        ("recall_macro", s.recall_macro),
        ("f1_macro", s.f1_macro),
        ("g_mean", s.g_mean),
        ("log_loss", s.log_loss),
    ]);
    if let Some(v) = s.roc_auc {
        m.insert("roc_auc", v);
    }
    if let Some(v) = s.pr_auc {
        m.insert("pr_auc", v);
    }
    m
}

/// Per-metric statistics across folds (a metric missing from any fold is left out).
pub fn summarize(folds: &[Scores]) -> BTreeMap<String, Stat> {
    let maps: Vec<BTreeMap<String, f64>> = folds
        .iter()
        .map(|s| {
            scalars(s)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()
        })
        .collect();
    summarize_maps(&maps)
}

/// All out-of-fold predictions scored as one set.
pub fn pooled(table: &Table<'_>, folds: &[FoldOutcome]) -> Scores {
    let (mut y, mut proba) = (Vec::new(), Vec::new());
    for f in folds {
        y.extend(f.rows.iter().map(|&r| table.y[r]));
        proba.extend_from_slice(&f.proba);
    }
    score(&y, &proba, table.classes)
}

/// Stats per metric from fold metric maps (as stored with each run).
pub fn summarize_maps(folds: &[BTreeMap<String, f64>]) -> BTreeMap<String, Stat> {
    let Some(first) = folds.first() else {
        return BTreeMap::new();
    };
    first
        .keys()
        .filter(|k| folds.iter().all(|m| m.contains_key(*k)))
        .map(|k| {
            let v: Vec<f64> = folds.iter().map(|m| m[k]).collect();
            (k.clone(), stat(&v))
        })
        .collect()
}

fn stat(v: &[f64]) -> Stat {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Stat {
        mean,
        std,
        min,
        max,
    }
}
