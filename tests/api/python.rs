//! Checkpoints downloaded over HTTP load in Python's safetensors with PyTorch's names and
//! shapes: an MLP's and a GRU's. Needs python3 with safetensors, so it is ignored unless asked
//! for (`.ci/run` installs it and runs it).

use serde_json::json;

use crate::helpers::{
    TestApp, fixture, json, python_loads, queued, ts_fixture, upload_ts, wait_until_finished,
};

#[tokio::test]
#[ignore = "needs python3 with safetensors (.ci/run installs it; run with --include-ignored)"]
async fn python_safetensors_reads_downloaded_mlp_and_gru_checkpoints() {
    let app = TestApp::spawn().await;
    let bc = json(
        app.upload_csv("label=label", fixture("breast_cancer.csv"))
            .await,
        201,
    )
    .await;
    let vowels = json(
        upload_ts(&app, "", "text/x-ts", ts_fixture("JapaneseVowels_TRAIN.ts")).await,
        201,
    )
    .await;
    let mlp = json!({"dataset_id": bc["id"], "model": {"hidden_layers": [64]},
                     "training": {"epochs": 2}, "validation": {"folds": 2}});
    let gru = json!({"dataset_id": vowels["id"], "model": {"kind": "gru", "hidden_size": 16},
                     "training": {"epochs": 1, "early_stopping": null},
                     "validation": {"folds": 2}});
    for (spec, tensor, shape) in [
        (mlp, "output.weight", "(2, 64)"),
        (gru, "gru.weight_hh_l0", "(48, 16)"),
    ] {
        let id = queued(&app, spec).await;
        let job = wait_until_finished(&app, &id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let run = app.final_run(&id).await;
        python_loads(&app.checkpoint(&run).await, tensor, shape);
    }
}
