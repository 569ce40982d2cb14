//! A run's results do not depend on how many cores computed it: the same spec and seed train
//! to the same bits at widths 1, 2 and 3 (`engine::cores`), for a wide MLP with batch norm
//! and dropout (Adam, and AdamW with AMSGrad: their update is shared in pieces), an FCN and a
//! GRU on packed sequences.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::checkpoint;
use crossfold::engine::cores::Cores;
use crossfold::engine::data::rows::Rows;
use crossfold::engine::train::{TrainRequest, train};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::SafeTensors;

use crate::data::{load, request};

/// A checkpoint's metadata and tensors, in name order.
type Canonical = (
    BTreeMap<String, String>,
    BTreeMap<String, (Vec<usize>, Vec<u8>)>,
);

fn canonical(bytes: &[u8]) -> Canonical {
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let metadata = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let tensors = SafeTensors::deserialize(bytes).unwrap();
    let tensors = tensors
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, (t.shape().to_vec(), t.data().to_vec())))
        .collect();
    (metadata, tensors)
}

/// The resume state (weights, optimizer state, RNG, history) and every epoch's losses of `req`
/// trained with a share of `width` cores of three.
fn trained_at(width: usize, req: &TrainRequest<'_>) -> (Canonical, Vec<(u64, u64)>) {
    let cores = Cores::new(3);
    let shares: Vec<_> = (0..4 - width).map(|_| cores.share()).collect();
    assert_eq!(shares[0].width(), width);
    let mut trained = shares[0]
        .install(|| train(req, &AtomicBool::new(false), &mut |_, _| {}))
        .unwrap();
    // Wall time is the one thing that may differ.
    trained
        .state
        .history
        .iter_mut()
        .for_each(|r| r.seconds = 0.0);
    let losses = trained
        .history
        .iter()
        .map(|r| (r.train_loss.to_bits(), r.val_loss.unwrap_or(0.0).to_bits()))
        .collect();
    let bytes = checkpoint::to_resume_bytes(&trained.state).unwrap();
    (canonical(&bytes), losses)
}

#[track_caller]
fn same_at_every_width(req: &TrainRequest<'_>) {
    let kind = req.spec.model.kind.name();
    let one = trained_at(1, req);
    assert!(!one.1.is_empty());
    for width in [2, 3] {
        let wide = trained_at(width, req);
        assert!(wide.1 == one.1, "{kind}: the losses at width {width}");
        let meta: Vec<_> = one
            .0
            .0
            .iter()
            .filter(|(k, v)| wide.0.0.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        let tensors: Vec<_> = one
            .0
            .1
            .iter()
            .filter(|(k, v)| wide.0.1.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        assert!(
            wide.0 == one.0,
            "{kind}: the weights and state at width {width}: {meta:?} {tensors:?}"
        );
    }
}

fn spec(value: serde_json::Value) -> TrainingSpec {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_wide_mlp_trains_to_the_same_bits_on_one_two_or_three_cores() {
    let data = load("digits.csv", 0);
    // Adam's update is shared in pieces too; AdamW with AMSGrad uses every buffer it has.
    for optimizer in [
        serde_json::json!({"kind": "adam"}),
        serde_json::json!({"kind": "adamw", "amsgrad": true, "weight_decay": 0.01}),
    ] {
        let spec = spec(serde_json::json!({
            "model": {"hidden_layers": [256, 256], "batch_norm": true, "dropout": 0.2},
            "optimizer": optimizer,
            "training": {"epochs": 3, "batch_size": 128, "early_stopping": null, "l2": 1e-4}
        }));
        same_at_every_width(&request(&data, &spec, 3));
    }
}

/// `n` packed univariate sequences of 40 to 96 steps, labelled by where their bump is.
fn sequences(n: usize, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<u32>, usize) {
    let width = 1 + 96;
    let mut x = vec![0.0f32; n * width];
    let mut y = Vec::with_capacity(n);
    for row in x.chunks_mut(width) {
        let len = rng.gen_range(40..=96);
        let label = rng.gen_range(0..2u32);
        row[0] = len as f32;
        let centre = if label == 0 { len / 4 } else { 3 * len / 4 };
        for t in 0..len {
            let bump = (-((t as f32 - centre as f32) / 4.0).powi(2)).exp();
            row[1 + t] = bump + rng.gen_range(-0.3..0.3);
        }
        y.push(label);
    }
    (x, y, width)
}

#[test]
fn an_fcn_and_a_gru_train_to_the_same_bits_on_one_two_or_three_cores() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (x, y, features) = sequences(96, &mut rng);
    for model in [
        serde_json::json!({"kind": "fcn", "filters": [64, 128, 64], "kernel_sizes": [7, 5, 3]}),
        serde_json::json!({"kind": "gru", "hidden_size": 128}),
    ] {
        let spec = spec(serde_json::json!({
            "model": model,
            "training": {"epochs": 2, "batch_size": 32, "early_stopping": null}
        }));
        let rows = Rows {
            x: &x,
            y: &y,
            features,
        };
        let req = TrainRequest {
            leg: Default::default(),
            spec: &spec,
            train: rows,
            holdout: Some(rows),
            classes: 2,
            class_weights: vec![1.0; 2],
            seed: 5,
            resume: None,
            checkpoint_every: 0,
            objective: Default::default(),
            channels: Some(1),
            warm: None,
            pretrain: None,
        };
        same_at_every_width(&req);
    }
}
