//! `one_class`: an autoencoder trained on the majority class only. Rows it reconstructs badly
//! look unlike the majority; their reconstruction error, calibrated on the fold's training rows
//! (majority and minority), becomes the minority-class probability.
//!
//! Calibration is Platt scaling on `ln(error)`, fitted as scikit-learn's
//! `LogisticRegression(class_weight="balanced")` (C = 1, intercept unpenalized) so that 0.5 is
//! the balanced decision point rather than the base rate.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::EngineError;
use super::batch::Rows;
use super::model::Dev;
use super::train::{Objective, Progress, TrainRequest, Trained, reconstruction_errors, train};
use crate::domain::spec::TrainingSpec;

/// Keeps `ln` finite for a perfect reconstruction.
const ERROR_FLOOR: f64 = 1e-12;

/// How a reconstruction error becomes class probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub classes: usize,
    /// The class the autoencoder learned, and the one its errors point to.
    pub majority: usize,
    pub minority: usize,
    /// `P(minority) = σ(slope · ln(error) + intercept)`.
    pub slope: f64,
    pub intercept: f64,
}

impl Calibration {
    /// Class probabilities for one reconstruction error.
    pub fn proba(&self, error: f64) -> Vec<f64> {
        let p = sigmoid(self.slope * error.max(ERROR_FLOOR).ln() + self.intercept);
        let mut out = vec![0.0; self.classes];
        out[self.minority] = p;
        out[self.majority] = 1.0 - p;
        out
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// L2-penalized (C = 1, slope only), class-balanced logistic regression of `positive` on `z`,
/// by Newton's method: `(slope, intercept)`.
pub fn fit_logistic(z: &[f64], positive: &[bool]) -> (f64, f64) {
    let n = z.len() as f64;
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let (w_pos, w_neg) = (n / (2.0 * n_pos.max(1.0)), n / (2.0 * (n - n_pos).max(1.0)));
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..100 {
        // Gradient and Hessian of 0.5·a² + Σ w_i · logloss_i.
        let (mut ga, mut gb) = (a, 0.0);
        let (mut haa, mut hab, mut hbb) = (1.0, 0.0, 0.0);
        for (&zi, &pos) in z.iter().zip(positive) {
            let p = sigmoid(a * zi + b);
            let (w, t) = if pos { (w_pos, 1.0) } else { (w_neg, 0.0) };
            let r = w * (p - t);
            ga += r * zi;
            gb += r;
            let h = w * p * (1.0 - p);
            haa += h * zi * zi;
            hab += h * zi;
            hbb += h;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < f64::MIN_POSITIVE {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-12 && db.abs() < 1e-12 {
            break;
        }
    }
    (a, b)
}

/// The autoencoder's architecture: the spec's hidden layers, a code layer of a quarter of the
/// inputs (at least 2), then the hidden layers mirrored.
pub fn autoencoder_spec(spec: &TrainingSpec, inputs: usize) -> TrainingSpec {
    let mut ae = spec.clone();
    let hidden = &spec.model.hidden_layers;
    let code = (inputs as u64 / 4).max(2);
    ae.model.hidden_layers = hidden
        .iter()
        .copied()
        .chain(std::iter::once(code))
        .chain(hidden.iter().rev().copied())
        .collect();
    ae
}

/// What `fit` produced: the trained autoencoder, with the calibrated holdout probabilities in
/// `holdout_proba` and the calibration in its checkpoint.
pub struct OneClass {
    pub trained: Trained,
    pub calibration: Calibration,
    /// Rows per class the autoencoder trained on (the majority class only).
    pub trained_counts: Vec<u64>,
}

/// Trains the autoencoder on the majority rows of `req.train` and calibrates its errors on all
/// of them. Two classes only.
pub fn fit(
    req: &TrainRequest<'_>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<OneClass, EngineError> {
    if req.classes != 2 {
        return Err(EngineError::InvalidInput(format!(
            "one_class needs exactly two classes, not {}",
            req.classes
        )));
    }
    let counts = super::resample::class_counts(req.train.y, 2);
    let majority = usize::from(counts[1] > counts[0]);
    let minority = 1 - majority;
    let d = req.train.features;
    let majority_rows: Vec<usize> = (0..req.train.len())
        .filter(|&i| req.train.y[i] as usize == majority)
        .collect();
    let x_major: Vec<f32> = majority_rows
        .iter()
        .flat_map(|&r| req.train.x[r * d..(r + 1) * d].iter().copied())
        .collect();
    let y_major = vec![0u32; majority_rows.len()];
    let spec = autoencoder_spec(req.spec, d);
    let holdout_y = req.holdout.map(|h| vec![0u32; h.len()]);
    let ae_req = TrainRequest {
        spec: &spec,
        train: Rows {
            x: &x_major,
            y: &y_major,
            features: d,
        },
        holdout: req.holdout.zip(holdout_y.as_deref()).map(|(h, y)| Rows {
            x: h.x,
            y,
            features: d,
        }),
        objective: Objective::Reconstruct,
        class_weights: vec![1.0; 2],
        resume: req.resume.clone(),
        ..req.clone()
    };
    let mut trained = train(&ae_req, cancel, progress)?;
    let dev = Dev::default();
    let all: Vec<usize> = (0..req.train.len()).collect();
    let z: Vec<f64> = reconstruction_errors(&mut trained.model, &dev, req.train, &all)
        .into_iter()
        .map(|e| e.max(ERROR_FLOOR).ln())
        .collect();
    let positive: Vec<bool> = req
        .train
        .y
        .iter()
        .map(|&c| c as usize == minority)
        .collect();
    let (slope, intercept) = fit_logistic(&z, &positive);
    let calibration = Calibration {
        classes: 2,
        majority,
        minority,
        slope,
        intercept,
    };
    trained.checkpoint.one_class = Some(calibration);
    trained.score_holdout(&dev, req.holdout);
    let mut trained_counts = vec![0; 2];
    trained_counts[majority] = counts[majority];
    Ok(OneClass {
        trained,
        calibration,
        trained_counts,
    })
}
