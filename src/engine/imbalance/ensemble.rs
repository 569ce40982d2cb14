//! Under-sampling ensembles: `easy_ensemble` (members trained on independent balanced random
//! under-samples, as imbalanced-learn's `EasyEnsembleClassifier`) and `balance_cascade` (Liu,
//! Wu & Zhou 2009: after each round the larger classes' rows the ensemble so far already
//! classifies correctly leave the pool the next under-sample is drawn from). Both average the
//! members' probabilities.
//!
//! Members train one after another inside one run. Each member's epochs continue the run's
//! epoch numbers, and each checkpoint carries the finished members, so a resumed run continues
//! the member it was in; the cascade's pool is replayed from the finished members.

use std::sync::atomic::AtomicBool;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::samplers::{class_counts, under_targets, undersample};
use crate::engine::EngineError;
use crate::engine::data::rows::Rows;
use crate::engine::model::Model;
use crate::engine::model::infer::predict_rows;
use crate::engine::train::{EpochRecord, Progress, Stop, TrainRequest, TrainState, Trained, train};

/// Which ensemble, and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Easy,
    Cascade,
}

/// What an ensemble produced: the last member as `trained` (its checkpoint carrying the
/// others, its `holdout_proba` the members' mean), and each member's class counts.
pub struct Ensemble {
    pub trained: Trained,
    pub member_counts: Vec<Vec<u64>>,
    /// Class counts of the pool each member's under-sample was drawn from (the cascade's
    /// shrinks round by round; EasyEnsemble's is always the whole training part).
    pub pool_counts: Vec<Vec<u64>>,
}

/// The seed of member `m`'s under-sample and training.
fn member_rng(seed: u64, m: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xE45E_4B1E_0000_0000);
    rng.set_stream(m as u64 + 1);
    rng
}

/// Trains `members` models on balanced under-samples of `req.train` (`ratio` = minority /
/// majority in each).
pub fn fit(
    kind: Kind,
    members: usize,
    ratio: f64,
    req: &TrainRequest<'_>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<Ensemble, EngineError> {
    let (n, k) = (req.train.len(), req.classes);
    let resume = req.resume.clone();
    let mut done: Vec<Model> = resume.as_ref().map_or(Vec::new(), |c| c.members.clone());
    if done.len() >= members {
        return Err(EngineError::InvalidInput(
            "the checkpoint has more members than the spec".into(),
        ));
    }
    let resume_at = done.len();
    let (mut offset, mut member_best) = (resume.as_ref()).map_or((0, vec![]), |c| {
        (c.epoch_offset, c.member_best_epochs.clone())
    });
    let counts = class_counts(req.train.y, k);
    let targets = under_targets(&counts, ratio);
    let keep_fraction = keep_fractions(&counts, &targets, members);
    let mut pool: Vec<usize> = (0..n).collect();
    // Sum of the members' probabilities of each training row (cascade).
    let mut pool_proba = vec![0.0f64; if kind == Kind::Cascade { n * k } else { 0 }];
    let mut member_counts = Vec::with_capacity(members);
    let mut pool_counts = Vec::with_capacity(members);
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut last: Option<Trained> = None;
    for m in 0..members {
        let mut rng = member_rng(req.seed, m);
        let pool_y: Vec<u32> = pool.iter().map(|&r| req.train.y[r]).collect();
        pool_counts.push(class_counts(&pool_y, k));
        let kept: Vec<usize> = undersample(&pool_y, k, ratio, &mut rng)
            .into_iter()
            .map(|j| pool[j])
            .collect();
        member_counts.push(class_counts(
            &kept.iter().map(|&r| req.train.y[r]).collect::<Vec<_>>(),
            k,
        ));
        let mut model = if m < resume_at {
            // Finished before a resume: replay only what later rounds depend on.
            done[m].clone()
        } else {
            let seed = rng.next_u64();
            let member_resume = resume.clone().filter(|_| m == resume_at).map(|mut c| {
                c.members.clear();
                c
            });
            let member_offset = offset;
            let at = (m, kept.as_slice(), seed);
            let before = (member_offset, done.as_slice(), member_best.as_slice());
            let trained = train_member(req, at, member_resume, before, (cancel, progress))?;
            offset += trained.history.len() as u64;
            member_best.push(trained.best_epoch);
            history.extend(trained.history.iter().map(|r| EpochRecord {
                epoch: r.epoch + member_offset,
                member: Some(m as u64),
                ..r.clone()
            }));
            if trained.stop == Stop::Cancelled {
                return Ok(Ensemble {
                    trained,
                    member_counts,
                    pool_counts,
                });
            }
            let model = trained.state.model.clone();
            last = Some(trained);
            done.push(model.clone());
            model
        };
        if kind == Kind::Cascade && m + 1 < members {
            pool = cascade_pool(
                &mut model,
                req.train,
                &pool,
                &mut pool_proba,
                &targets,
                &keep_fraction,
            );
        }
    }
    let mut trained = last.expect("at least one member trains after any resume");
    trained.state.members = done[..members - 1].to_vec();
    // The members' mean.
    trained.score_holdout(req.holdout);
    trained.state.epoch_offset = offset - trained.history.len() as u64;
    // Each member's best epoch counted within it: comparable with the spec's epochs.
    trained.best_epoch = mean_epoch(&member_best).unwrap_or(offset);
    trained.state.member_best_epochs = member_best;
    trained.history = history;
    Ok(Ensemble {
        trained,
        member_counts,
        pool_counts,
    })
}

/// The rounded mean of `epochs` (`None` when there are none).
fn mean_epoch(epochs: &[u64]) -> Option<u64> {
    let n = epochs.len() as f64;
    (n > 0.0).then(|| (epochs.iter().sum::<u64>() as f64 / n).round() as u64)
}

/// The cascade keeps a fraction f_c of class c's pool each round, so that after the last round
/// it is down to its balanced size: f_c = (target_c / n_c)^(1 / (members − 1)).
fn keep_fractions(counts: &[u64], targets: &[u64], members: usize) -> Vec<f64> {
    counts
        .iter()
        .zip(targets)
        .map(|(&c, &t)| (t as f64 / c.max(1) as f64).powf(1.0 / (members.max(2) - 1) as f64))
        .collect()
}

/// Member `m` trained on the rows `kept` from `seed`, its epochs numbered on from `offset` and
/// its checkpoints carrying the members `done` before it.
fn train_member(
    req: &TrainRequest<'_>,
    (m, kept, seed): (usize, &[usize], u64),
    resume: Option<TrainState>,
    (offset, done, done_best): (u64, &[Model], &[u64]),
    (cancel, progress): (&AtomicBool, &mut Progress<'_>),
) -> Result<Trained, EngineError> {
    let d = req.train.features;
    let x: Vec<f32> = kept
        .iter()
        .flat_map(|&r| req.train.x[r * d..(r + 1) * d].iter().copied())
        .collect();
    let y: Vec<u32> = kept.iter().map(|&r| req.train.y[r]).collect();
    let sub = TrainRequest {
        train: Rows {
            x: &x,
            y: &y,
            features: d,
        },
        seed,
        resume,
        // Members and autoencoders train whole: a search pauses only plain runs.
        leg: crate::engine::train::Leg::ToTheEnd,
        ..req.clone()
    };
    let mut per_member = |record: &EpochRecord, ck: Option<&TrainState>| {
        let mut record = record.clone();
        record.epoch += offset;
        record.member = Some(m as u64);
        let ck = ck.map(|c| TrainState {
            members: done.to_vec(),
            epoch_offset: offset,
            member_best_epochs: done_best.to_vec(),
            ..c.clone()
        });
        progress(&record, ck.as_ref());
    };
    train(&sub, cancel, &mut per_member)
}

/// The next round's pool: the newest member's probabilities are added to the running sums;
/// then each class above its balanced size keeps the fraction `keep_fraction[c]` of its pool
/// rows that the ensemble finds hardest (lowest mean probability of their own class, ties by
/// row order), never fewer than its target.
fn cascade_pool(
    model: &mut Model,
    train: Rows<'_>,
    pool: &[usize],
    proba_sum: &mut [f64],
    targets: &[u64],
    keep_fraction: &[f64],
) -> Vec<usize> {
    let k = model.outputs();
    let proba = predict_rows(model, train, pool);
    for (i, &r) in pool.iter().enumerate() {
        for c in 0..k {
            proba_sum[r * k + c] += f64::from(proba[i * k + c]);
        }
    }
    let mut next = Vec::with_capacity(pool.len());
    for c in 0..k {
        let mut rows: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&r| train.y[r] as usize == c)
            .collect();
        let keep = ((rows.len() as f64 * keep_fraction[c]).round() as usize)
            .max(targets[c] as usize)
            .min(rows.len());
        // The members' sums order rows as their mean would.
        rows.sort_by(|&a, &b| proba_sum[a * k + c].total_cmp(&proba_sum[b * k + c]));
        rows.truncate(keep);
        next.extend(rows);
    }
    next.sort_unstable();
    next
}
