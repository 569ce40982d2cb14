//! Reproducibility (same seed, same bits) and cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::train::{Stop, TrainRequest, Trained, train};

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
