//! Predicting with a stored model: a `Predictor` holds what turns rows into class
//! probabilities — the model, an ensemble's other members, a one-class calibration — and
//! nothing about training (warm starts take its weights without pretending to resume).

use super::data::rows::Rows;
use super::imbalance::calibration::Calibration;
use super::model::Model;
use super::model::infer::reconstruction_errors;
use super::model::param::transpose;

#[derive(Debug, Clone)]
pub struct Predictor {
    model: Model,
    /// Ensembles: the other members, whose probabilities are averaged with `model`'s.
    members: Vec<Model>,
    /// `one_class`: `model` is an autoencoder whose errors this turns into probabilities.
    calibration: Option<Calibration>,
    /// `imbalance.correct_probabilities`: per class, the factor back to the training priors.
    prior_correction: Option<Vec<f64>>,
    /// `imbalance.threshold: "tuned"`: class 1 is predicted where its probability reaches it.
    threshold: Option<f64>,
}

impl Predictor {
    pub fn new(model: Model, members: Vec<Model>, calibration: Option<Calibration>) -> Self {
        Self {
            model,
            members,
            calibration,
            prior_correction: None,
            threshold: None,
        }
    }

    /// This predictor deciding class 1 where its probability reaches `threshold`.
    pub fn with_threshold(mut self, threshold: Option<f64>) -> Self {
        self.threshold = threshold;
        self
    }

    /// The decision threshold on class 1's probability (`None`: the most probable class).
    pub fn threshold(&self) -> Option<f64> {
        self.threshold
    }

    /// This predictor with its probabilities mapped back to the training priors.
    pub fn with_prior_correction(mut self, correction: Option<Vec<f64>>) -> Self {
        self.prior_correction = correction;
        self
    }

    /// The (last) model's weights.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Every network whose probabilities are averaged: the other members, then `model`.
    pub fn networks(&self) -> impl Iterator<Item = &Model> {
        self.members.iter().chain(std::iter::once(&self.model))
    }

    /// A `one_class` autoencoder's calibration of its errors.
    pub fn calibration(&self) -> Option<Calibration> {
        self.calibration
    }

    /// Per class, the factor back to the training priors.
    pub fn prior_correction(&self) -> Option<&[f64]> {
        self.prior_correction.as_deref()
    }

    /// The number of classes the predictor scores.
    pub fn classes(&self) -> usize {
        self.calibration.map_or(self.model.outputs(), |c| c.classes)
    }

    /// Whether the model pools with attention (has weights to explain).
    pub fn has_attention(&self) -> bool {
        self.model.has_attention()
    }

    /// Rows of `width` to score at once (a GRU keeps every step's state).
    pub fn chunk_rows(&self, width: usize) -> usize {
        self.model.eval_rows(width)
    }

    /// Each packed sequence's attention weights per step (rows × its steps), the mean over an
    /// ensemble's models; empty lists for a model without attention.
    pub fn attention(&self, x: &[f32], rows: usize) -> Vec<Vec<f32>> {
        let width = x.len().checked_div(rows).unwrap_or(0);
        let x_t = transpose(x, rows, width);
        let mut sum: Vec<Vec<f32>> = vec![Vec::new(); rows];
        let models = self.members.iter().chain(std::iter::once(&self.model));
        let mut count = 0.0f32;
        for model in models {
            let Some(weights) = model.attention(&x_t, rows) else {
                continue;
            };
            count += 1.0;
            for (s, w) in sum.iter_mut().zip(weights) {
                if s.is_empty() {
                    *s = w;
                } else {
                    s.iter_mut().zip(w).for_each(|(a, b)| *a += b);
                }
            }
        }
        for s in &mut sum {
            s.iter_mut().for_each(|v| *v /= count.max(1.0));
        }
        sum
    }

    /// Class probabilities (rows × classes) of `x` (rows × features, row-major): the model's,
    /// the mean of an ensemble's members, or an autoencoder's calibrated reconstruction error.
    pub fn proba(&mut self, x: &[f32], rows: usize) -> Vec<f64> {
        let inputs = self.model.inputs();
        if let Some(cal) = self.calibration {
            let labels = vec![0u32; rows];
            let all: Vec<usize> = (0..rows).collect();
            let rows = Rows {
                x,
                y: &labels,
                features: inputs,
            };
            return reconstruction_errors(&mut self.model, rows, &all)
                .into_iter()
                .flat_map(|e| cal.proba(e))
                .collect();
        }
        // A packed sequence row is wider than the model's channels.
        let width = x.len().checked_div(rows).unwrap_or(inputs);
        let x_t = transpose(x, rows, width);
        let classes = self.model.outputs();
        let mut sum = vec![0.0f64; rows * classes];
        let count = self.members.len() + 1;
        for model in self
            .members
            .iter_mut()
            .chain(std::iter::once(&mut self.model))
        {
            for (s, lp) in sum.iter_mut().zip(model.log_proba(&x_t, rows)) {
                *s += f64::from(lp.exp());
            }
        }
        sum.iter_mut().for_each(|s| *s /= count as f64);
        if let Some(c) = &self.prior_correction {
            crate::engine::imbalance::priors::correct(&mut sum, c);
        }
        sum
    }
}
