//! Stochastic weight averaging (`training.swa_epochs`): the run trains exactly as without it,
//! and its model is the mean of its last epochs' weights and batch-norm statistics, computed
//! here from the epoch checkpoints of a run without it; a resume in the middle of the average
//! ends bit-identical.

use std::sync::atomic::AtomicBool;

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::checkpoint;
use crossfold::engine::model::Model;
use crossfold::engine::train::{TrainRequest, train};

use crate::checkpoints::{keeping_checkpoints, timeless};
use crate::data::{Data, load, request};

fn spec(swa_epochs: Option<u64>) -> TrainingSpec {
    let mut spec = TrainingSpec::default();
    spec.model.batch_norm = true;
    spec.training.epochs = 6;
    spec.training.early_stopping = None;
    spec.training.swa_epochs = swa_epochs;
    spec
}

fn with_checkpoints<'a>(data: &'a Data, spec: &'a TrainingSpec) -> TrainRequest<'a> {
    TrainRequest {
        checkpoint_every: 1,
        ..request(data, spec, 5)
    }
}

/// Every parameter and batch-norm statistic, in order.
fn values(model: &Model) -> Vec<f32> {
    let mut out: Vec<f32> = (model.params().iter())
        .flat_map(|p| p.data.iter().copied())
        .collect();
    for (_, b) in model.buffers() {
        out.extend_from_slice(b);
    }
    out
}

#[test]
fn the_average_is_the_mean_of_the_last_epochs_weights_and_training_is_unchanged() {
    let data = load("breast_cancer.csv", 0);
    let (plain_spec, swa_spec) = (spec(None), spec(Some(3)));
    let (plain, saved) = keeping_checkpoints(&with_checkpoints(&data, &plain_spec));
    let (averaged, _) = keeping_checkpoints(&with_checkpoints(&data, &swa_spec));
    assert_eq!(timeless(&averaged), timeless(&plain));
    // The epoch checkpoints of epochs 4, 5 and 6 hold the weights the average takes.
    let last: Vec<Vec<f32>> = (saved[3..6].iter())
        .map(|b| values(&checkpoint::from_bytes(b).unwrap().state.model))
        .collect();
    let got = values(&averaged.state.model);
    assert_eq!(got.len(), last[0].len());
    let mut moved = 0;
    for (i, &g) in got.iter().enumerate() {
        let mean = last.iter().map(|v| v[i] as f64).sum::<f64>() / 3.0;
        assert!(
            (g as f64 - mean).abs() <= 1e-6 * (1.0 + mean.abs()),
            "{i}: {g} {mean}"
        );
        moved += usize::from(last[2][i] != g);
    }
    // Not the last epoch's weights.
    assert!(moved > got.len() / 2, "{moved} of {}", got.len());
    assert_eq!(values(&plain.state.model), last[2]);
}

#[test]
fn a_run_resumed_in_the_middle_of_its_average_ends_bit_identical() {
    let data = load("breast_cancer.csv", 0);
    let spec = spec(Some(3));
    let (straight, saved) = keeping_checkpoints(&with_checkpoints(&data, &spec));
    // After epoch 5 the average holds epochs 4 and 5.
    let fifth = checkpoint::from_bytes(&saved[4]).unwrap().state;
    assert_eq!(fifth.averaged.as_ref().map(|a| a.epochs), Some(2));
    let resumed = TrainRequest {
        resume: Some(fifth),
        ..with_checkpoints(&data, &spec)
    };
    let resumed = train(&resumed, &AtomicBool::new(false), &mut |_, _| {}).unwrap();
    assert_eq!(timeless(&resumed), timeless(&straight));
    let bits = |m: &Model| values(m).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&resumed.state.model), bits(&straight.state.model));
}
