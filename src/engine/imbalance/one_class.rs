//! `one_class`: an autoencoder trained on the majority class only. Rows it reconstructs badly
//! look unlike the majority; their reconstruction error, calibrated on the fold's training rows
//! (majority and minority, `calibration`), becomes the minority-class probability.

use std::sync::atomic::AtomicBool;

use super::calibration::{Calibration, ERROR_FLOOR, fit_logistic};
use super::samplers::class_counts;
use crate::engine::EngineError;
use crate::engine::data::rows::Rows;
use crate::engine::model::autoencoder::architecture;
use crate::engine::model::infer::reconstruction_errors;
use crate::engine::train::{Objective, Progress, TrainRequest, Trained, train};

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
    let counts = class_counts(req.train.y, 2);
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
    let mut spec = req.spec.clone();
    spec.model = architecture(&req.spec.model, d);
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
        channels: None,
        warm: None,
        pretrain: None,
        class_weights: vec![1.0; 2],
        resume: req.resume.clone(),
        // Members and autoencoders train whole: a search pauses only plain runs.
        leg: crate::engine::train::Leg::ToTheEnd,
        ..req.clone()
    };
    let mut trained = train(&ae_req, cancel, progress)?;
    let all: Vec<usize> = (0..req.train.len()).collect();
    let z: Vec<f64> = reconstruction_errors(&mut trained.state.model, req.train, &all)
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
    trained.calibration = Some(calibration);
    trained.score_holdout(req.holdout);
    let mut trained_counts = vec![0; 2];
    trained_counts[majority] = counts[majority];
    Ok(OneClass {
        trained,
        calibration,
        trained_counts,
    })
}
