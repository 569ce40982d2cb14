//! Predicting with a stored model: a `Predictor` holds what turns rows into class
//! probabilities — the model, an ensemble's other members, a one-class calibration — and
//! nothing about training (warm starts take its weights without pretending to resume).

use super::data::rows::Rows;
use super::imbalance::calibration::Calibration;
use super::model::Model;
use super::model::infer::reconstruction_errors;
use super::model::param::{Dev, transpose};

#[derive(Debug, Clone)]
pub struct Predictor {
    model: Model,
    /// Ensembles: the other members, whose probabilities are averaged with `model`'s.
    members: Vec<Model>,
    /// `one_class`: `model` is an autoencoder whose errors this turns into probabilities.
    calibration: Option<Calibration>,
}

impl Predictor {
    pub fn new(model: Model, members: Vec<Model>, calibration: Option<Calibration>) -> Self {
        Self {
            model,
            members,
            calibration,
        }
    }

    /// The (last) model's weights.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The number of classes the predictor scores.
    pub fn classes(&self) -> usize {
        self.calibration.map_or(self.model.outputs(), |c| c.classes)
    }

    /// Class probabilities (rows × classes) of `x` (rows × features, row-major): the model's,
    /// the mean of an ensemble's members, or an autoencoder's calibrated reconstruction error.
    pub fn proba(&mut self, dev: &Dev, x: &[f32], rows: usize) -> Vec<f64> {
        let inputs = self.model.inputs();
        if let Some(cal) = self.calibration {
            let labels = vec![0u32; rows];
            let all: Vec<usize> = (0..rows).collect();
            let rows = Rows {
                x,
                y: &labels,
                features: inputs,
            };
            return reconstruction_errors(&mut self.model, dev, rows, &all)
                .into_iter()
                .flat_map(|e| cal.proba(e))
                .collect();
        }
        let x_t = transpose(x, rows, inputs);
        let classes = self.model.outputs();
        let mut sum = vec![0.0f64; rows * classes];
        let count = self.members.len() + 1;
        for model in self
            .members
            .iter_mut()
            .chain(std::iter::once(&mut self.model))
        {
            for (s, lp) in sum.iter_mut().zip(model.log_proba(dev, &x_t, rows)) {
                *s += f64::from(lp.exp());
            }
        }
        sum.iter_mut().for_each(|s| *s /= count as f64);
        sum
    }
}
