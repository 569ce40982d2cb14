//! The spec rules, field by field.

use super::*;
use crate::domain::spec::*;
use serde_json::json;

#[test]
fn an_empty_spec_takes_every_default() {
    let spec = TrainingSpec::from_json(json!({})).unwrap();
    assert_eq!(spec, TrainingSpec::default());
    assert_eq!(spec.model.hidden_layers, vec![64, 64]);
    assert_eq!(spec.optimizer.learning_rate(), 0.001.into());
    assert!(spec.training.early_stopping.is_some());
    assert!(spec.validate(&Limits::default()).is_empty());
}

#[test]
fn the_api_example_parses() {
    let spec = TrainingSpec::from_json(json!({
        "model": {"kind": "mlp", "hidden_layers": [64, 64], "activation": "relu", "batch_norm": false,
                  "residual": false, "dropout": 0.0, "input_dropout": 0.0, "init": "auto"},
        "optimizer": {"kind": "adam", "learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
        "schedule": {"warmup_epochs": 0, "decay": "none"},
        "training": {"epochs": 50, "batch_size": 64, "l1": 0.0, "l2": 0.0, "clip_grad_norm": null,
                     "clip_grad_value": null,
                     "early_stopping": {"monitor": "val_loss", "patience": 5, "min_delta": 0.0, "restore_best": true},
                     "augment": {"gaussian_noise": 0.0}}
    }))
    .unwrap();
    assert!(spec.validate(&Limits::default()).is_empty());
}

#[test]
fn full_batch_and_null_early_stopping_are_understood() {
    let spec = TrainingSpec::from_json(
        json!({"training": {"batch_size": "full", "early_stopping": null}}),
    )
    .unwrap();
    assert_eq!(spec.training.batch_size, BatchSize::Full(FullBatch::Full));
    assert_eq!(spec.training.early_stopping, None);
}

#[test]
fn an_unknown_field_is_rejected_with_its_path() {
    let errors = TrainingSpec::from_json(json!({"training": {"epoch": 3}})).unwrap_err();
    assert_eq!(errors[0].field, "training.epoch");
    assert!(errors[0].message.contains("epoch"), "{errors:?}");
    let errors =
        TrainingSpec::from_json(json!({"optimizer": {"kind": "sgd", "beta1": 0.9}})).unwrap_err();
    assert!(errors[0].message.contains("beta1"), "{errors:?}");
}

#[test]
fn every_invalid_field_is_reported_at_once() {
    let spec = TrainingSpec::from_json(json!({
        "model": {"hidden_layers": [64, 0, 1000000], "dropout": 1.5},
        "optimizer": {"kind": "sgd", "learning_rate": -1, "nesterov": true},
        "training": {"epochs": 1000000000u64, "batch_size": 0}
    }))
    .unwrap();
    let fields: Vec<String> = spec
        .validate(&Limits::default())
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        vec![
            "model.hidden_layers[1]",
            "model.hidden_layers[2]",
            "model.dropout",
            "optimizer.learning_rate",
            "optimizer.nesterov",
            "training.epochs",
            "training.batch_size"
        ]
    );
}

#[test]
fn each_family_refuses_the_fields_it_does_not_read() {
    let refused = |model: serde_json::Value| -> Vec<String> {
        let spec = TrainingSpec::from_json(json!({ "model": model })).unwrap();
        (spec.validate(&Limits::default()).into_iter())
            .map(|e| e.field)
            .collect()
    };
    // Once ignored, now named: a GRU given an MLP's layers, an MLP given a GRU's width.
    assert_eq!(
        refused(json!({"kind": "gru", "hidden_layers": [32], "activation": "tanh"})),
        ["model.hidden_layers", "model.activation"]
    );
    assert_eq!(
        refused(json!({"hidden_size": 32, "bidirectional": true})),
        ["model.hidden_size", "model.bidirectional"]
    );
    assert_eq!(
        refused(json!({"kind": "gru", "unit_forget_bias": true})),
        ["model.unit_forget_bias"]
    );
    assert_eq!(
        refused(json!({"kind": "mlp", "filters": [8]})),
        ["model.filters"]
    );
    // Each family's own fields, and any field at its default (a resolved spec shows them all).
    assert!(
        refused(
            json!({"kind": "lstm", "hidden_size": 32, "layers": 2, "dropout": 0.2,
                           "unit_forget_bias": true, "hidden_layers": [64, 64]})
        )
        .is_empty()
    );
    assert!(refused(json!({"hidden_layers": [8], "batch_norm": true, "init": "he"})).is_empty());
    assert!(refused(json!({"kind": "fcn", "filters": [8, 8], "kernel_sizes": [3, 3]})).is_empty());
    let spec = TrainingSpec::from_json(json!({"model": {"kind": "gru", "init": "he"}})).unwrap();
    let message = &spec.validate(&Limits::default())[0].message;
    assert!(
        message.contains("hidden_size, layers, bidirectional, attention, dropout"),
        "{message}"
    );
}
