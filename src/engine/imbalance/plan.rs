//! How a fold is trained for one imbalance strategy: the class weighting, the sampler applied
//! to its training rows, and the method (one model, an ensemble, a one-class autoencoder).

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::ensemble::Kind;
use super::samplers::{over_targets, under_targets};
use crate::domain::job::{ClassWeights, ImbalanceSpec, Strategy};

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
    pub fn apply(
        &self,
        x: Vec<f32>,
        y: Vec<u32>,
        d: usize,
        classes: usize,
        seed: u64,
    ) -> (Vec<f32>, Vec<u32>) {
        use super::samplers::{self, Matrix};
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
                samplers::oversample(m, &y, classes, ratio, shrinkage, &mut rng)
            }
            Sampler::Smote { ratio, k } => samplers::smote(m, &y, classes, ratio, k, &mut rng),
            Sampler::Undersample { ratio } => {
                keep(samplers::undersample(&y, classes, ratio, &mut rng))
            }
            Sampler::NearMiss {
                version,
                n_neighbors,
                n_neighbors_ver3,
                ratio,
            } => keep(samplers::nearmiss(
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
        kind: Kind,
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
            kind: Kind::Easy,
            members,
            ratio,
        },
        Strategy::BalanceCascade => Method::Ensemble {
            kind: Kind::Cascade,
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
