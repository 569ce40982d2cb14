//! The phenomena crossfold exists to handle, reproduced: vanishing gradients, divergence tamed
//! by clipping, early stopping, and depth rescued by batch norm and residual blocks.

use std::sync::atomic::AtomicBool;

use crossfold::domain::spec::{Activation, BatchSize, EarlyStopping, OptimizerSpec, TrainingSpec};
use crossfold::engine::EngineError;
use crossfold::engine::train::{Stop, Trained, train};

use crate::data::{Data, load, request};

fn sgd(lr: f64) -> OptimizerSpec {
    OptimizerSpec::Sgd {
        learning_rate: lr.into(),
        momentum: 0.0,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    }
}

fn run(data: &Data, spec: &TrainingSpec) -> Trained {
    train(
        &request(data, spec, 7),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap()
}

fn deep(activation: Activation, depth: usize, epochs: u64) -> TrainingSpec {
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = vec![32; depth];
    spec.model.activation = activation;
    spec.optimizer = sgd(0.01);
    spec.training.epochs = epochs;
    spec.training.early_stopping = None;
    spec
}

#[test]
fn a_deep_sigmoid_mlp_has_vanishing_gradients_and_relu_with_he_init_does_not() {
    let data = load("breast_cancer.csv", 0);
    let ratio = |t: &Trained| {
        let norms = &t.history[0].layer_grad_norms;
        norms[0] / norms[norms.len() - 1]
    };
    let sigmoid = run(&data, &deep(Activation::Sigmoid, 10, 1));
    let relu = run(&data, &deep(Activation::Relu, 10, 1));
    eprintln!(
        "first/last layer gradient norm: sigmoid {:e}, relu {:e}",
        ratio(&sigmoid),
        ratio(&relu)
    );
    assert!(ratio(&sigmoid) < 1e-3, "sigmoid ratio {}", ratio(&sigmoid));
    assert!(ratio(&relu) > 1e-2, "relu ratio {}", ratio(&relu));
}

#[test]
fn a_diverging_learning_rate_fails_with_the_epoch_and_stays_finite_with_clipping() {
    let data = load("breast_cancer.csv", 0);
    let mut spec = deep(Activation::Relu, 3, 10);
    spec.model.hidden_layers = vec![128, 128, 128];
    spec.optimizer = sgd(5.0);
    let wild = train(
        &request(&data, &spec, 7),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap_err();
    eprintln!("unclipped: {wild}");
    let EngineError::Diverged { epoch, quantity } = &wild else {
        panic!("expected divergence, got {wild:?}");
    };
    assert_eq!(*epoch, 1, "{wild}");
    assert!(
        quantity.contains("loss") || quantity.contains("gradient") || quantity.contains("weight")
    );
    assert!(wild.to_string().contains("clip_grad_norm"), "{wild}");
    spec.training.clip_grad_norm = Some(1.0);
    let tamed = run(&data, &spec);
    assert!(
        tamed.history.iter().all(|e| e.train_loss.is_finite()),
        "clipped run diverged"
    );
    assert!(
        tamed
            .state
            .model
            .params()
            .iter()
            .all(|p| p.data.iter().all(|v| v.is_finite()))
    );
}

#[test]
fn early_stopping_stops_when_validation_loss_rises_and_restores_the_best_epoch() {
    let data = load("breast_cancer.csv", 0);
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = vec![256, 256];
    spec.optimizer = OptimizerSpec::Adam {
        learning_rate: 0.01.into(),
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weight_decay: 0.0,
        amsgrad: false,
    };
    spec.training.epochs = 200;
    spec.training.early_stopping = Some(EarlyStopping {
        patience: 3,
        ..EarlyStopping::default()
    });
    let t = run(&data, &spec);
    eprintln!(
        "stopped after {} epochs, best {}",
        t.history.len(),
        t.best_epoch
    );
    assert_eq!(t.stop, Stop::EarlyStopped);
    assert!(t.history.len() < 200);
    let best = t.history[t.best_epoch as usize - 1].val_loss.unwrap();
    assert!(t.history.iter().all(|e| e.val_loss.unwrap() >= best));
    assert!(t.history.last().unwrap().val_loss.unwrap() > best);
    // The returned weights are the best epoch's: their holdout loss is that epoch's.
    let restored = t.history[t.best_epoch as usize - 1].holdout_loss.unwrap();
    let p = t.holdout_proba.as_ref().unwrap();
    let k = data.classes;
    let loss: f64 = data
        .test
        .y
        .iter()
        .enumerate()
        .map(|(i, &y)| -f64::from(p[i * k + y as usize]).ln())
        .sum::<f64>()
        / data.test.y.len() as f64;
    assert!(
        (loss - restored).abs() < 1e-4 * restored.max(1.0),
        "{loss} vs {restored}"
    );
}

#[test]
fn batch_norm_and_residual_blocks_let_a_20_layer_sigmoid_mlp_learn() {
    let data = load("breast_cancer.csv", 0);
    let decrease = |t: &Trained| {
        let first = t.history.first().unwrap().train_loss;
        (first - t.history.last().unwrap().train_loss) / first
    };
    let mut spec = deep(Activation::Sigmoid, 20, 10);
    spec.training.batch_size = BatchSize::Rows(32);
    let plain = run(&data, &spec);
    spec.model.batch_norm = true;
    let bn = run(&data, &spec);
    spec.model.batch_norm = false;
    spec.model.residual = true;
    let residual = run(&data, &spec);
    eprintln!(
        "relative train-loss decrease: plain {:.4}, batch norm {:.4}, residual {:.4}",
        decrease(&plain),
        decrease(&bn),
        decrease(&residual)
    );
    assert!(decrease(&plain) < 0.05, "plain {}", decrease(&plain));
    assert!(decrease(&bn) > 0.3, "batch norm {}", decrease(&bn));
    assert!(
        decrease(&residual) > 0.3,
        "residual {}",
        decrease(&residual)
    );
}
