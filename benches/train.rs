//! Training throughput: (a) 64→256→256→2 relu, Adam, batch 256, 100k × 64 random rows, 3 epochs,
//! one run on one thread and two concurrent runs on their own 1-thread pools; (b) 85→64→64→2,
//! batch 64, one thread. Prints samples/s.
//!
//! Run: `cargo bench --bench train`.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crossfold::domain::spec::{BatchSize, TrainingSpec};
use crossfold::engine::data::rows::Rows;
use crossfold::engine::train::{TrainRequest, train};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Case {
    rows: usize,
    features: usize,
    hidden: Vec<u64>,
    batch: u64,
    epochs: u64,
}

fn data(case: &Case, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..case.rows * case.features)
        .map(|_| rng.r#gen::<f32>() * 2.0 - 1.0)
        .collect();
    let y = (0..case.rows).map(|_| rng.gen_range(0..2)).collect();
    (x, y)
}

/// Trains once; returns samples per second.
fn run(case: &Case, x: &[f32], y: &[u32]) -> f64 {
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = case.hidden.clone();
    spec.training.batch_size = BatchSize::Rows(case.batch);
    spec.training.epochs = case.epochs;
    spec.training.early_stopping = None;
    let req = TrainRequest {
        spec: &spec,
        train: Rows {
            x,
            y,
            features: case.features,
        },
        holdout: None,
        classes: 2,
        class_weights: vec![1.0, 1.0],
        seed: 0,
        resume: None,
        checkpoint_every: 0,
        objective: Default::default(),
    };
    let start = Instant::now();
    train(&req, &AtomicBool::new(false), &mut |_, _| {}).expect("training runs");
    (case.rows as u64 * case.epochs) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let a = Case {
        rows: 100_000,
        features: 64,
        hidden: vec![256, 256],
        batch: 256,
        epochs: 3,
    };
    let (x, y) = data(&a, 1);
    let one = run(&a, &x, &y);
    println!(
        "(a) 64-256-256-2 relu, Adam, batch 256, 1 run on 1 thread: {:.0} samples/s (target >= 124k)",
        one
    );
    let (x2, y2) = data(&a, 2);
    let start = Instant::now();
    std::thread::scope(|s| {
        let h1 = s.spawn(|| run(&a, &x, &y));
        let h2 = s.spawn(|| run(&a, &x2, &y2));
        h1.join().unwrap();
        h2.join().unwrap();
    });
    let aggregate = (2 * a.rows as u64 * a.epochs) as f64 / start.elapsed().as_secs_f64();
    println!(
        "(a) 2 concurrent runs, each on its own 1-thread pool: {aggregate:.0} samples/s aggregate (target >= 205k)"
    );
    let b = Case {
        rows: 50_000,
        features: 85,
        hidden: vec![64, 64],
        batch: 64,
        epochs: 3,
    };
    let (x, y) = data(&b, 3);
    println!(
        "(b) 85-64-64-2 relu, Adam, batch 64, 1 thread: {:.0} samples/s (target >= 300k)",
        run(&b, &x, &y)
    );
}
