//! What a finished run returns, and the progress callback it reports to.

use super::history::{EpochRecord, Stop};
use super::state::TrainState;
use crate::engine::data::rows::Rows;
use crate::engine::imbalance::calibration::Calibration;
use crate::engine::predict::Predictor;

/// A trained model and what happened.
#[derive(Debug, Clone)]
pub struct Trained {
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights `model` holds (1-based).
    pub best_epoch: u64,
    pub stop: Stop,
    /// Class probabilities of the holdout rows (rows × classes) from the returned weights.
    pub holdout_proba: Option<Vec<f32>>,
    /// The returned weights (`state.model`, the epoch `best_epoch`'s) with the final optimizer
    /// and RNG state (and an ensemble's finished members), for export.
    pub state: TrainState,
    /// `one_class`: how the autoencoder's errors become probabilities.
    pub calibration: Option<Calibration>,
}

impl Trained {
    /// What predicts with the returned weights: the model, an ensemble's members, a one-class
    /// calibration.
    pub fn predictor(&self) -> Predictor {
        Predictor::new(
            self.state.model.clone(),
            self.state.members.clone(),
            self.calibration,
        )
    }

    /// Scores `holdout` as predict scores rows: for an ensemble or a one-class model, after
    /// their members or calibration are set.
    pub fn score_holdout(&mut self, holdout: Option<Rows<'_>>) {
        let mut predictor = self.predictor();
        self.holdout_proba = holdout.map(|h| {
            predictor
                .proba(h.x, h.len())
                .into_iter()
                .map(|p| p as f32)
                .collect()
        });
    }
}

/// Called after each epoch with its record and, every `checkpoint_every` epochs, the state to
/// persist (the run resumes from it exactly).
pub type Progress<'p> = dyn FnMut(&EpochRecord, Option<&TrainState>) + Send + 'p;
