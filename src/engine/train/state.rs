//! A run's resumable state: everything needed to continue training exactly where it stopped
//! (weights, optimizer buffers, RNG, history, early stopping's best). Written to a checkpoint
//! every epoch; not what predicting uses (that is `predict::Predictor`).

use rand_chacha::ChaCha8Rng;

use super::history::EpochRecord;
use crate::domain::learning_rate::RateRange;
use crate::domain::spec::TrainingSpec;
use crate::engine::model::Model;
use crate::engine::optim::optimizer::Optimizer;
use crate::engine::optim::state::ParamState;

/// Early stopping's best weights so far, their epoch (1-based) and monitored value.
#[derive(Debug, Clone)]
pub struct Best {
    pub model: Model,
    pub epoch: u64,
    pub value: f64,
}

/// Stochastic weight averaging's running average of the epoch-end weights and batch-norm
/// statistics, and how many epochs it holds.
#[derive(Debug, Clone)]
pub struct Averaged {
    pub model: Model,
    pub epochs: u64,
}

impl Averaged {
    /// The average with `model`'s weights added: `avg += (x − avg) / n`, as PyTorch's
    /// `AveragedModel` default averaging function.
    pub fn add(average: Option<Averaged>, model: &Model) -> Averaged {
        let Some(mut a) = average else {
            return Averaged {
                model: model.clone(),
                epochs: 1,
            };
        };
        a.epochs += 1;
        let n = a.epochs as f32;
        let add = |avg: &mut [f32], x: &[f32]| {
            for (a, &y) in avg.iter_mut().zip(x) {
                *a += (y - *a) / n;
            }
        };
        for (avg, p) in a.model.params_mut().iter_mut().zip(model.params()) {
            add(&mut avg.data, &p.data);
        }
        for ((_, avg), (_, b)) in a.model.buffers_mut().into_iter().zip(model.buffers()) {
            add(avg, b);
        }
        a
    }
}

#[derive(Debug, Clone)]
pub struct TrainState {
    pub spec: TrainingSpec,
    pub model: Model,
    pub optimizer: Optimizer,
    /// One per parameter of `model`.
    pub states: Vec<ParamState>,
    pub rng: ChaCha8Rng,
    /// Epochs finished.
    pub epochs_done: u64,
    pub history: Vec<EpochRecord>,
    pub best: Option<Best>,
    /// `training.swa_epochs`: the average so far (from the first averaged epoch on).
    pub averaged: Option<Averaged>,
    /// Epochs since early stopping last saw an improvement.
    pub waited: u64,
    /// Ensembles: the members finished before `model`, and the epochs they ran (the run's
    /// epoch numbers continue from there).
    pub members: Vec<Model>,
    pub epoch_offset: u64,
    /// Ensembles: each finished member's best epoch, counted within the member (what the run's
    /// best epoch averages, comparable with the spec's epochs).
    pub member_best_epochs: Vec<u64>,
    /// `learning_rate: "auto"`: the range test that chose the spec's rate (kept with the state
    /// so a resumed run reports it).
    pub rate_range: Option<RateRange>,
}

impl TrainState {
    /// A copy without the history, which grows with every epoch: what a writer holds of the
    /// newest epoch (it keeps the history itself, record by record).
    pub fn clone_without_history(&self) -> TrainState {
        TrainState {
            spec: self.spec.clone(),
            model: self.model.clone(),
            optimizer: self.optimizer.clone(),
            states: self.states.clone(),
            rng: self.rng.clone(),
            epochs_done: self.epochs_done,
            history: Vec::new(),
            best: self.best.clone(),
            averaged: self.averaged.clone(),
            waited: self.waited,
            members: self.members.clone(),
            epoch_offset: self.epoch_offset,
            member_best_epochs: self.member_best_epochs.clone(),
            rate_range: self.rate_range.clone(),
        }
    }
}
