//! FCN and ResNet-1D jobs end to end: both on GunPoint's identical folds, their defaults
//! written into the stored spec, per-layer statistics per convolution, checkpoints with
//! PyTorch's names and batch norm's running statistics, predict, and the 422s of fields a
//! convolutional family does not have.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json, problem, queued, submit, wait_until_finished};
use crate::helpers::{ts_fixture, upload_ts};

fn spec(dataset: &Value, model: Value) -> Value {
    json!({
        "dataset_id": dataset["id"], "seed": 2, "model": model,
        "optimizer": {"kind": "adam", "learning_rate": 0.01},
        "training": {"epochs": 30, "batch_size": 16, "early_stopping": null},
        "validation": {"folds": 2},
    })
}

#[tokio::test]
async fn an_fcn_and_a_resnet_train_on_identical_folds_and_predict() {
    let app = TestApp::spawn().await;
    let gunpoint = json(
        upload_ts(&app, "", "text/x-ts", ts_fixture("GunPoint_TRAIN.ts")).await,
        201,
    )
    .await;
    // The dry run writes each family's defaults in.
    let dry = json(
        app.dry_run(&spec(&gunpoint, json!({"kind": "resnet1d"})))
            .await,
        200,
    )
    .await;
    assert_eq!(
        dry["spec"]["model"]["filters"],
        json!([64, 128, 128]),
        "{dry}"
    );
    assert_eq!(
        dry["spec"]["model"]["kernel_sizes"],
        json!([8, 5, 3]),
        "{dry}"
    );
    let models = json!([
        {"kind": "fcn", "filters": [16, 32, 16]},
        {"kind": "resnet1d", "filters": [8, 16, 16]},
    ]);
    let id = queued(&app, spec(&gunpoint, models)).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["spec"]["model"][0]["kernel_sizes"],
        json!([8, 5, 3]),
        "{job}"
    );
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let board = metrics["leaderboard"].as_array().unwrap();
    assert_eq!(board.len(), 2, "{metrics}");
    for row in board {
        let accuracy = row["summary"]["accuracy"]["mean"].as_f64().unwrap();
        assert!(accuracy > 0.5, "better than chance on two classes: {row}");
    }
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let items = runs["items"].as_array().unwrap();
    // Per-layer statistics: FCN's three convolutions and its head; ResNet's nine and its head.
    for (variant, layers, names) in [
        (
            0,
            4,
            vec![
                ("blocks.0.units.0.conv.weight", vec![16, 1, 8]),
                ("blocks.2.units.0.bn.running_var", vec![16]),
            ],
        ),
        (
            1,
            10,
            vec![
                ("blocks.0.shortcut.conv.weight", vec![8, 1, 1]),
                ("blocks.2.units.2.conv.weight", vec![16, 16, 3]),
                ("output.weight", vec![2, 16]),
            ],
        ),
    ] {
        let run = items.iter().find(|r| r["variant"] == variant).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let history = app.get_json(&format!("/v1/runs/{run}/metrics")).await;
        let norms = history[0]["layer_grad_norms"].as_array().unwrap();
        assert_eq!(norms.len(), layers, "{history}");
        assert!(norms.iter().all(|v| v.as_f64().unwrap() > 0.0), "{norms:?}");
        let bytes = app.checkpoint(&run).await;
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (name, shape) in names {
            assert_eq!(tensors.tensor(name).unwrap().shape(), shape, "{name}");
        }
    }
    let res = app
        .post(&format!("/v1/jobs/{id}/predict"))
        .header("content-type", "text/x-ts")
        .body(ts_fixture("GunPoint_TEST.ts"))
        .send()
        .await
        .unwrap();
    let predicted = json(res, 200).await;
    assert_eq!(predicted["predictions"].as_array().unwrap().len(), 150);
    assert!(
        predicted["accuracy"].as_f64().unwrap() > 0.5,
        "{}",
        predicted["accuracy"]
    );
}

#[tokio::test]
async fn fields_a_convolutional_family_does_not_have_are_422s_naming_them() {
    let app = TestApp::spawn().await;
    let gunpoint = json(
        upload_ts(&app, "", "text/x-ts", ts_fixture("GunPoint_TRAIN.ts")).await,
        201,
    )
    .await;
    for (model, fields) in [
        (
            json!({"kind": "fcn", "attention": "additive", "dropout": 0.2}),
            vec!["model.attention", "model.dropout"],
        ),
        (
            json!({"kind": "fcn", "filters": [8, 8], "kernel_sizes": [3]}),
            vec!["model.kernel_sizes"],
        ),
        (
            json!({"kind": "resnet1d", "filters": [0], "kernel_sizes": [65]}),
            vec!["model.filters[0]", "model.kernel_sizes[0]"],
        ),
        (
            json!({"kind": "gru", "filters": [8]}),
            vec!["model.filters"],
        ),
    ] {
        let p = problem(submit(&app, spec(&gunpoint, model.clone())).await, 422).await;
        let mut got = error_fields(&p);
        got.sort();
        assert_eq!(got, fields, "{model}: {p}");
    }
}
