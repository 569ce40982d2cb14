//! What a training run is given, and the checks it makes before the first batch.

use super::state::TrainState;
use crate::domain::spec::TrainingSpec;
use crate::engine::EngineError;
use crate::engine::data::rows::Rows;

/// What to train on.
#[derive(Debug, Clone)]
pub struct TrainRequest<'a> {
    pub spec: &'a TrainingSpec,
    pub train: Rows<'a>,
    /// The rows a run is scored on: their loss is recorded for learning curves, never used to
    /// decide anything.
    pub holdout: Option<Rows<'a>>,
    pub classes: usize,
    /// Per-class loss weights (1 for every class when unweighted).
    pub class_weights: Vec<f32>,
    pub seed: u64,
    /// Continue from this state (of the same spec, data and seed) instead of starting.
    pub resume: Option<TrainState>,
    /// Hand the state to `progress` every this many epochs (0 = never).
    pub checkpoint_every: u64,
    pub objective: Objective,
    /// Sequences: the rows are packed sequences (`data::sequences`) of this many channels, and
    /// the model is the spec's GRU.
    pub channels: Option<usize>,
    /// Fine-tuning: start from these weights instead of a fresh initialization.
    pub warm: Option<WarmStart>,
    /// Greedy layer-wise pretraining before the first epoch (not when resuming: the state
    /// holds the weights it led to).
    pub pretrain: Option<Pretraining<'a>>,
    /// Where this leg of the run ends: at the spec's last epoch, or at a search's rung.
    pub leg: Leg,
}

/// Where a leg of a run ends (a search's rungs split a run into legs; a run resumes each from
/// the state the last one checkpointed, so the epochs are those of one uninterrupted run).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Leg {
    /// The spec's epochs, or early stopping.
    #[default]
    ToTheEnd,
    /// Pause after this epoch (1-based), its state handed to `progress` (`Stop::Paused`).
    PauseAt(u64),
    /// Train no further: end with the epochs already trained (`Stop::Halted`).
    Halt,
    /// The spec's epochs, or until an epoch's training loss is at most this
    /// (`Stop::ReachedLoss`): a final model trained to its folds' loss.
    ToLoss(f64),
}

/// What to pretrain on: `epochs` per layer over `x` (rows × the request's features, encoded as
/// the training rows are).
#[derive(Debug, Clone, Copy)]
pub struct Pretraining<'a> {
    pub epochs: u64,
    pub x: &'a [f32],
}

/// Where a fine-tuned run starts: a trained model's weights (not its optimizer state).
#[derive(Debug, Clone, PartialEq)]
pub struct WarmStart {
    pub model: crate::engine::model::Model,
    /// Layers (as `Model::layer_of` numbers them) whose weights never change.
    pub freeze_layers: usize,
    /// Start the output layer fresh (it always is when the class count differs).
    pub reset_output: bool,
}

/// What the model learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Objective {
    /// The class of each row: softmax outputs, (weighted) cross-entropy.
    #[default]
    Classify,
    /// The row itself: one output per feature, mean squared error (an autoencoder; labels and
    /// class weights are ignored).
    Reconstruct,
}

/// Fails on inputs no epoch can train on: shapes, classes, non-finite values.
pub fn check(req: &TrainRequest<'_>) -> Result<(), EngineError> {
    let bad = |m: String| Err(EngineError::InvalidInput(m));
    for (name, rows) in std::iter::once(("training", &req.train))
        .chain(req.holdout.as_ref().map(|h| ("holdout", h)))
    {
        if rows.x.len() != rows.len() * rows.features || rows.features != req.train.features {
            return bad(format!(
                "{name} rows: x has {} values for {} rows",
                rows.x.len(),
                rows.len()
            ));
        }
        if let Some(&c) = rows.y.iter().find(|&&c| c as usize >= req.classes) {
            return bad(format!(
                "{name} rows: class {c} with only {} classes",
                req.classes
            ));
        }
        if rows.x.iter().any(|v| !v.is_finite()) {
            return bad(format!(
                "{name} rows: non-finite input (impute and scale before training)"
            ));
        }
    }
    if req.train.is_empty() {
        return bad("no training rows".into());
    }
    if req.train.features == 0 {
        return bad("no input features (the dataset has only its label column)".into());
    }
    if req.objective == Objective::Classify
        && (req.class_weights.len() != req.classes || req.classes < 2)
    {
        return bad(format!(
            "{} class weights for {} classes",
            req.class_weights.len(),
            req.classes
        ));
    }
    Ok(())
}
