//! Training behaviour: accuracy on real data, and the phenomena crossfold exists to diagnose.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::train::{Trained, train};

use crate::data::{Data, load, request};

fn run(data: &Data, spec: &TrainingSpec, seed: u64) -> Trained {
    train(
        &request(data, spec, seed),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap()
}

fn accuracy(data: &Data, trained: &Trained) -> f64 {
    let p = trained.holdout_proba.as_ref().unwrap();
    let k = data.classes;
    let correct = data
        .test
        .y
        .iter()
        .enumerate()
        .filter(|&(i, &y)| {
            let row = &p[i * k..(i + 1) * k];
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0
                == y as usize
        })
        .count();
    correct as f64 / data.test.y.len() as f64
}

#[test]
fn the_default_adam_spec_reaches_95_percent_on_breast_cancer_and_digits() {
    for name in ["breast_cancer.csv", "digits.csv"] {
        let data = load(name, 0);
        let start = Instant::now();
        let trained = run(&data, &TrainingSpec::default(), 0);
        let acc = accuracy(&data, &trained);
        eprintln!(
            "{name}: accuracy {acc:.4} after {} epochs in {:.2?}",
            trained.history.len(),
            start.elapsed()
        );
        assert!(acc >= 0.95, "{name}: validation accuracy {acc}");
    }
}
