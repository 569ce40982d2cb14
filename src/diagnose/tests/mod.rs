//! The rules on hand-made histories: each fires on the pattern it names, stays quiet on a
//! healthy run, and says `info` for what the spec handles. Job-level rules: `jobs`.

mod jobs;
mod remedies;

use super::chance_loss;
use super::run_rules::{RunContext, RunEnd, diagnose};
use crate::domain::finding::{Kind, RunDiagnosis, Severity};
use crate::domain::spec::TrainingSpec;
use crate::engine::train::EpochRecord;

/// An epoch with a training loss, a held-out loss and per-layer gradient norms.
pub(super) fn epoch(n: u64, train: f64, holdout: f64, grads: &[f64]) -> EpochRecord {
    EpochRecord {
        epoch: n,
        train_loss: train,
        val_loss: None,
        val_accuracy: None,
        holdout_loss: Some(holdout),
        holdout_accuracy: Some(0.9),
        learning_rate: 0.01,
        grad_norm: grads.iter().map(|g| g * g).sum::<f64>().sqrt(),
        layer_grad_norms: grads.to_vec(),
        layer_weight_norms: vec![1.0; grads.len()],
        layer_update_ratios: vec![0.01; grads.len()],
        dead_unit_fractions: vec![0.0; grads.len() - 1],
        saturated_fractions: Vec::new(),
        seconds: 0.1,
        samples: 100,
        member: None,
        phase: Default::default(),
        layer: None,
    }
}

/// A healthy run: both losses fall, gradients of one scale.
pub(super) fn healthy(epochs: u64) -> Vec<EpochRecord> {
    (1..=epochs)
        .map(|e| {
            let t = 0.7 / e as f64;
            epoch(e, t, t + 0.05, &[0.3, 0.2, 0.25])
        })
        .collect()
}

fn kinds(d: &RunDiagnosis, at_least: Severity) -> Vec<Kind> {
    d.findings
        .iter()
        .filter(|f| f.severity >= at_least)
        .map(|f| f.kind)
        .collect()
}

pub(super) fn ctx(spec: &TrainingSpec) -> RunContext<'_> {
    RunContext {
        spec,
        chance_loss: Some(std::f64::consts::LN_2),
    }
}

pub(super) fn no_early_stopping() -> TrainingSpec {
    let mut spec = TrainingSpec::default();
    spec.training.early_stopping = None;
    spec
}

#[test]
fn the_chance_loss_is_the_entropy_of_the_weighted_class_frequencies() {
    // −(¾ ln ¾ + ¼ ln ¼), by hand.
    let plain = chance_loss(&[3, 1], &[]).unwrap();
    assert!((plain - 0.562_335_144_618_9).abs() < 1e-12, "{plain}");
    // scikit-learn's balanced weights (n / (k · n_c)) make the classes weigh alike: ln 2.
    let balanced = chance_loss(&[3, 1], &[4.0 / 6.0, 2.0]).unwrap();
    assert!((balanced - std::f64::consts::LN_2).abs() < 1e-12);
    assert_eq!(chance_loss(&[0, 0], &[]), None);
}

#[test]
fn a_healthy_run_has_no_finding() {
    let spec = no_early_stopping();
    let d = diagnose(&ctx(&spec), &healthy(20), RunEnd::Finished);
    assert!(d.findings.is_empty(), "{:?}", d.findings);
    assert_eq!(d.epochs, 20);
    assert_eq!(d.train_loss, Some(0.7 / 20.0));
}

#[test]
fn gradients_a_thousandth_of_the_output_layers_are_vanishing() {
    let spec = no_early_stopping();
    let h: Vec<EpochRecord> = (1..=10)
        .map(|e| epoch(e, 0.69, 0.69, &[5e-10, 1e-6, 0.3]))
        .collect();
    let d = diagnose(&ctx(&spec), &h, RunEnd::Finished);
    let v = d
        .findings
        .iter()
        .find(|f| f.kind == Kind::VanishingGradients)
        .unwrap();
    assert_eq!(
        (v.severity, v.layer, v.first_epoch),
        (Severity::Warning, Some(0), Some(1))
    );
    assert!((v.evidence.values["ratio"] - 5e-10 / 0.3).abs() < 1e-15);
    // A flat loss at chance is underfitting too (allowed next to it).
    assert!(kinds(&d, Severity::Warning).contains(&Kind::Underfitting));
    // Small gradients everywhere (a converged run) are not vanishing: the ratio is what counts.
    let converged: Vec<EpochRecord> = (1..=10)
        .map(|e| epoch(e, 0.01, 0.02, &[4e-5, 5e-5, 6e-5]))
        .collect();
    let d = diagnose(&ctx(&spec), &converged, RunEnd::Finished);
    assert!(!kinds(&d, Severity::Info).contains(&Kind::VanishingGradients));
}

#[test]
fn a_non_finite_loss_is_an_exploding_error_in_its_epoch() {
    let spec = no_early_stopping();
    let d = diagnose(&ctx(&spec), &[], RunEnd::Diverged { epoch: 1 });
    assert_eq!(d.findings.len(), 1);
    let f = &d.findings[0];
    assert_eq!(
        (f.kind, f.severity, f.first_epoch),
        (Kind::ExplodingGradients, Severity::Error, Some(1))
    );
    // A finite loss 10⁹ times the chance loss is an error too; 10³ times a warning.
    let mut h = healthy(5);
    h[2].train_loss = 1e9;
    let d = diagnose(&ctx(&spec), &h, RunEnd::Finished);
    assert_eq!(d.findings[0].kind, Kind::ExplodingGradients);
    assert_eq!(d.findings[0].severity, Severity::Error);
    assert_eq!(d.findings[0].first_epoch, Some(3));
    h[2].train_loss = 700.0;
    let d = diagnose(&ctx(&spec), &h, RunEnd::Finished);
    assert_eq!(d.findings[0].severity, Severity::Warning);
    // Growing a hundredfold from its lowest, above the chance loss: orders of magnitude.
    let mut h = healthy(6);
    h[4].train_loss = 0.7 / 4.0 * 150.0;
    let d = diagnose(&ctx(&spec), &h, RunEnd::Finished);
    assert_eq!(d.findings[0].kind, Kind::ExplodingGradients);
    assert_eq!(d.findings[0].first_epoch, Some(5));
    // A tiny loss growing a hundredfold stays far below chance: not an explosion.
    let mut h = healthy(6);
    h[4].train_loss = 1e-3;
    h[3].train_loss = 1e-5;
    let d = diagnose(&ctx(&spec), &h, RunEnd::Finished);
    assert!(
        !kinds(&d, Severity::Info).contains(&Kind::ExplodingGradients),
        "{:?}",
        d.findings
    );
}

#[test]
fn a_holdout_loss_rising_from_its_minimum_is_overfitting_unless_early_stopping_restored_it() {
    let h: Vec<EpochRecord> = (1..=30)
        .map(|e| {
            let holdout = 0.2 + 0.01 * (e as f64 - 8.0).abs();
            epoch(e, 0.5 / e as f64, holdout, &[0.3, 0.2, 0.25])
        })
        .collect();
    let plain = no_early_stopping();
    let d = diagnose(&ctx(&plain), &h, RunEnd::Finished);
    assert_eq!(kinds(&d, Severity::Warning), [Kind::Overfitting]);
    assert_eq!(d.findings[0].first_epoch, Some(8));
    let handled = TrainingSpec::default();
    let d = diagnose(&ctx(&handled), &h, RunEnd::Finished);
    assert_eq!(kinds(&d, Severity::Warning), []);
    assert_eq!(kinds(&d, Severity::Info), [Kind::Overfitting]);
    // A rise of 2% is noise.
    let flat: Vec<EpochRecord> = (1..=30)
        .map(|e| {
            epoch(
                e,
                0.5 / e as f64,
                if e < 20 { 0.1 } else { 0.102 },
                &[0.3, 0.2, 0.25],
            )
        })
        .collect();
    assert!(
        diagnose(&ctx(&plain), &flat, RunEnd::Finished)
            .findings
            .is_empty()
    );
}

#[test]
fn a_loss_that_keeps_jumping_is_unstable_and_explains_the_rise_that_follows() {
    let spec = no_early_stopping();
    let loss = [0.8, 0.3, 0.6, 0.2, 0.5, 0.15, 0.45, 0.3, 0.5, 0.4];
    let h: Vec<EpochRecord> = loss
        .iter()
        .enumerate()
        .map(|(i, &l)| epoch(i as u64 + 1, l, 0.1 + i as f64 * 0.1, &[0.3, 0.2, 0.25]))
        .collect();
    let d = diagnose(&ctx(&spec), &h, RunEnd::Finished);
    assert_eq!(kinds(&d, Severity::Warning), [Kind::UnstableTraining]);
    assert_eq!(d.findings[0].first_epoch, Some(3));
    // The held-out rise is a symptom: info, not a second warning.
    assert!(kinds(&d, Severity::Info).contains(&Kind::Overfitting));
}

#[test]
fn most_units_dead_in_a_layer_is_a_dead_units_warning_naming_the_layer() {
    let spec = no_early_stopping();
    let mut h = healthy(10);
    for r in &mut h[6..] {
        r.dead_unit_fractions = vec![0.1, 0.8];
    }
    let d = diagnose(&ctx(&spec), &h, RunEnd::Finished);
    let f = &d.findings[0];
    assert_eq!(
        (f.kind, f.layer, f.first_epoch),
        (Kind::DeadUnits, Some(1), Some(7))
    );
}

#[test]
fn a_first_layer_whose_units_all_died_is_not_vanishing_and_explosions_explain_their_symptoms() {
    let spec = no_early_stopping();
    // Every first-layer unit dead: its gradient is exactly 0.
    let mut dead: Vec<EpochRecord> = (1..=10)
        .map(|e| epoch(e, 0.3 / e as f64, 0.3, &[0.0, 0.2, 0.3]))
        .collect();
    for r in &mut dead {
        r.dead_unit_fractions = vec![1.0, 0.0];
    }
    let d = diagnose(&ctx(&spec), &dead, RunEnd::Finished);
    assert_eq!(
        kinds(&d, Severity::Warning),
        [Kind::DeadUnits],
        "{:?}",
        d.findings
    );
    // After a divergence, what the blown-up weights did is a symptom: info only.
    let d = diagnose(&ctx(&spec), &dead, RunEnd::Diverged { epoch: 10 });
    assert_eq!(kinds(&d, Severity::Warning), [Kind::ExplodingGradients]);
    assert!(kinds(&d, Severity::Info).contains(&Kind::DeadUnits));
}
