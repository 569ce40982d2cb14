//! Reproducibility (same seed, same bits) and cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::train::{Leg, Stop, TrainRequest, TrainState, Trained, train};

use crate::data::{Data, load, request};

fn spec() -> TrainingSpec {
    let mut spec = TrainingSpec::default();
    spec.model.dropout = 0.2;
    spec.model.batch_norm = true;
    spec.training.augment.gaussian_noise = 0.05;
    spec.training.epochs = 8;
    spec
}

fn run(data: &Data, spec: &TrainingSpec, seed: u64, cancel: &AtomicBool) -> Trained {
    let req = TrainRequest {
        class_weights: vec![1.0, 2.0],
        ..request(data, spec, seed)
    };
    train(&req, cancel, &mut |_, _| {}).unwrap()
}

fn bits(t: &Trained) -> (Vec<u32>, Vec<u64>) {
    let weights = t
        .state
        .model
        .params()
        .iter()
        .flat_map(|p| p.data.iter().map(|v| v.to_bits()))
        .collect();
    let history = t
        .history
        .iter()
        .flat_map(|e| {
            [
                e.train_loss,
                e.val_loss.unwrap(),
                e.holdout_loss.unwrap(),
                e.grad_norm,
            ]
        })
        .map(f64::to_bits)
        .collect();
    (weights, history)
}

#[test]
fn the_same_seed_gives_bit_identical_weights_and_history_and_another_seed_differs() {
    let data = load("breast_cancer.csv", 1);
    let never = AtomicBool::new(false);
    let a = run(&data, &spec(), 42, &never);
    let b = run(&data, &spec(), 42, &never);
    let c = run(&data, &spec(), 43, &never);
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.state.model, b.state.model);
    assert_ne!(bits(&a).0, bits(&c).0);
    assert_ne!(bits(&a).1, bits(&c).1);
}

#[test]
fn a_cancel_set_mid_epoch_returns_within_a_second_as_cancelled() {
    let data = load("digits.csv", 0);
    let mut spec = spec();
    spec.model.hidden_layers = vec![512, 512];
    spec.training.epochs = 10_000;
    spec.training.early_stopping = None;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, Ordering::Relaxed);
        Instant::now()
    });
    let req = TrainRequest {
        holdout: None,
        ..request(&data, &spec, 0)
    };
    let t = train(&req, &cancel, &mut |_, _| {}).unwrap();
    let returned = Instant::now();
    let set_at = setter.join().unwrap();
    assert_eq!(t.stop, Stop::Cancelled);
    assert!(
        returned.duration_since(set_at) < Duration::from_secs(1),
        "took {:?}",
        returned.duration_since(set_at)
    );
}

#[test]
fn zero_input_features_are_invalid_input_not_a_crash() {
    let spec = TrainingSpec::default();
    let (x, y) = (Vec::<f32>::new(), vec![0u32, 1, 0, 1]);
    let req = crossfold::engine::train::TrainRequest {
        leg: Default::default(),
        spec: &spec,
        train: crossfold::engine::data::rows::Rows {
            x: &x,
            y: &y,
            features: 0,
        },
        holdout: None,
        classes: 2,
        class_weights: vec![1.0, 1.0],
        seed: 0,
        resume: None,
        checkpoint_every: 0,
        objective: Default::default(),
        channels: None,
        warm: None,
        pretrain: None,
    };
    let err = train(&req, &AtomicBool::new(false), &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(err, crossfold::engine::EngineError::InvalidInput(_)),
        "{err}"
    );
}

#[test]
fn a_leg_to_a_loss_stops_at_the_first_epoch_that_reaches_it_and_stays_stopped_when_resumed() {
    let data = load("breast_cancer.csv", 1);
    let never = AtomicBool::new(false);
    let mut spec = spec();
    spec.training.early_stopping = None;
    let full = run(&data, &spec, 7, &never);
    assert_eq!(full.stop, Stop::Completed);
    // A target the full run first reaches at some epoch before its last.
    let losses: Vec<f64> = full.history.iter().map(|e| e.train_loss).collect();
    let target = losses[4];
    let first = losses.iter().position(|&l| l <= target).unwrap();
    assert!(first < losses.len() - 1, "{losses:?}");
    let mut states: Vec<TrainState> = Vec::new();
    let req = TrainRequest {
        class_weights: vec![1.0, 2.0],
        leg: Leg::ToLoss(target),
        checkpoint_every: 1,
        ..request(&data, &spec, 7)
    };
    let mut keep = |_: &_, s: Option<&TrainState>| states.extend(s.cloned());
    let to_loss = train(&req, &never, &mut keep).unwrap();
    assert_eq!(to_loss.stop, Stop::ReachedLoss);
    assert_eq!(to_loss.history.len(), first + 1);
    // The same epochs as the full run's, to the bit, up to the one that reached it.
    let got: Vec<f64> = to_loss.history.iter().map(|e| e.train_loss).collect();
    assert_eq!(got, losses[..=first]);
    // Resumed from the state it stopped at, it trains no further.
    let resumed = TrainRequest {
        resume: states.pop(),
        ..req
    };
    let again = train(&resumed, &never, &mut |_, _| {}).unwrap();
    assert_eq!(
        (again.stop, again.history.len()),
        (Stop::ReachedLoss, first + 1)
    );
}
