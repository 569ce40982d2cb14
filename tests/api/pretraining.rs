//! `pretrain`: greedy layer-wise autoencoder pretraining rescues a deep sigmoid network that
//! vanishing gradients leave at chance, its epochs are in the history marked `pretrain`, an
//! unlabeled dataset adds its rows, and what does not fit is a 422.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, fixture, json, problem};
use crate::helpers::{
    queued, submit, upload_breast_cancer, wait_until_finished, wait_until_finished_within,
};

async fn upload(app: &TestApp, file: &str, query: &str) -> String {
    let ds = json(app.upload_csv(query, fixture(file)).await, 201).await;
    ds["id"].as_str().unwrap().to_owned()
}

/// The spec of `vanishing_sigmoid_deep_digits` in `../shared/diagnostics/cases.json`: 15
/// sigmoid layers of 64, SGD with momentum, 20 epochs, 3 folds.
fn vanishing_case(ds: &str) -> Value {
    json!({
        "dataset_id": ds,
        "model": {"hidden_layers": vec![64; 15], "activation": "sigmoid"},
        "optimizer": {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9},
        "training": {"epochs": 20, "early_stopping": null},
        "validation": {"folds": 3},
        "final_model": false,
        "seed": 0
    })
}

/// The pooled metrics of job `id` once it has succeeded (deep networks train slowly in the
/// unoptimized test build: up to four minutes).
async fn pooled_of(app: &TestApp, id: &str) -> Value {
    let job = wait_until_finished_within(app, id, 240).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let m = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    m["pooled"].clone()
}

async fn pooled(app: &TestApp, spec: Value) -> (String, Value) {
    let id = queued(app, spec).await;
    let m = pooled_of(app, &id).await;
    (id, m)
}

#[tokio::test]
async fn pretraining_lifts_the_vanishing_sigmoid_case_by_at_least_0_2_balanced_accuracy() {
    let app = TestApp::spawn().await;
    let ds = upload(&app, "digits.csv", "label=label").await;
    let mut spec = vanishing_case(&ds);
    spec["pretrain"] = json!({"kind": "autoencoder", "epochs": 5});
    // The dry run echoes it and counts its epochs: 15 layers × 5.
    let res = app.dry_run(&spec).await;
    let dry = json(res, 200).await;
    assert_eq!(
        dry["spec"]["pretrain"],
        json!({"kind": "autoencoder", "epochs": 5})
    );
    assert_eq!(dry["estimate"]["pretrain_epochs_per_run"], 75, "{dry}");
    // Both queued at once: the workers train them side by side.
    let (plain, job) = (
        queued(&app, vanishing_case(&ds)).await,
        queued(&app, spec).await,
    );
    let (plain, pretrained) = (pooled_of(&app, &plain).await, pooled_of(&app, &job).await);
    let (before, after) = (
        plain["balanced_accuracy"].as_f64().unwrap(),
        pretrained["balanced_accuracy"].as_f64().unwrap(),
    );
    println!(
        "vanishing_sigmoid_deep_digits balanced accuracy: {before:.3} without pretraining, {after:.3} with"
    );
    assert!(
        after >= before + 0.2,
        "pretraining: {after} against {before} without"
    );

    // Every run's history: 15 layers × 5 pretraining epochs, then the 20 epochs of training.
    let runs = app.get_json(&format!("/v1/jobs/{job}/runs")).await;
    let run = runs["items"][0]["id"].as_str().unwrap();
    let history = app.get_json(&format!("/v1/runs/{run}/metrics")).await;
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 15 * 5 + 20);
    for (i, r) in history[..75].iter().enumerate() {
        assert_eq!(r["phase"], "pretrain", "{r}");
        assert_eq!(r["layer"], (i / 5) as u64, "{r}");
        assert_eq!(r["epoch"], (i % 5 + 1) as u64, "{r}");
    }
    for (i, r) in history[75..].iter().enumerate() {
        assert_eq!(r["phase"], "train", "{r}");
        assert!(r.get("layer").is_none(), "{r}");
        assert_eq!(r["epoch"], (i + 1) as u64, "{r}");
    }
    // The run's epoch count and best epoch are the classifier's.
    assert_eq!(runs["items"][0]["best_epoch"], 20, "{runs}");
    let csv = app
        .get(&format!("/v1/runs/{run}/metrics"))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines().next().unwrap().ends_with(",phase,layer"),
        "{csv}"
    );
    assert_eq!(csv.lines().filter(|l| l.contains(",pretrain,")).count(), 75);
}

#[tokio::test]
async fn an_unlabeled_dataset_adds_its_rows_to_pretraining_and_what_does_not_fit_is_a_422() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    // The same features under another label: its rows are pretrained on, its labels ignored.
    let extra = upload(&app, "breast_cancer.csv", "label=mean%20radius").await;
    let caravan = upload(&app, "caravan.csv", "label=label").await;
    let spec = |pretrain: Value| {
        json!({
            "dataset_id": ds, "seed": 3,
            "model": {"hidden_layers": [16, 8], "activation": "tanh"},
            "training": {"epochs": 2, "early_stopping": null},
            "validation": {"folds": 2},
            "final_model": false,
            "pretrain": pretrain
        })
    };
    let mut chosen = spec(json!({"kind": "autoencoder", "epochs": 2, "dataset_id": extra}));
    chosen["features"] = json!(["mean texture", "mean area"]);
    let (job, _) = pooled(&app, chosen).await;
    let runs = app.get_json(&format!("/v1/jobs/{job}/runs")).await;
    let run = runs["items"][0]["id"].as_str().unwrap();
    let folds = app.get_json(&format!("/v1/jobs/{job}/metrics")).await;
    let trained: u64 = crate::helpers::counts(&folds["folds"][0]["train_class_counts"])
        .iter()
        .sum();
    let history = app.get_json(&format!("/v1/runs/{run}/metrics")).await;
    let first = &history[0];
    assert_eq!(first["phase"], "pretrain");
    // The fold's training rows and every row of the other dataset.
    assert_eq!(first["samples"], trained + 569, "{first}");
    assert_eq!(history[4]["phase"], "train");
    assert_eq!(history[4]["samples"], trained, "{}", history[4]);

    for (pretrain, patch, field) in [
        (
            json!({"kind": "autoencoder", "epochs": 0}),
            json!({}),
            "pretrain.epochs",
        ),
        (
            json!({"kind": "stacked", "epochs": 2}),
            json!({}),
            "pretrain.kind",
        ),
        (
            json!({"kind": "autoencoder", "epochs": 2, "dataset_id": "ds_nope"}),
            json!({}),
            "pretrain.dataset_id",
        ),
        (
            json!({"kind": "autoencoder", "epochs": 2, "dataset_id": caravan}),
            json!({}),
            "pretrain.dataset_id",
        ),
        // Its "mean radius" is the label there, not a feature.
        (
            json!({"kind": "autoencoder", "epochs": 2, "dataset_id": extra}),
            json!({}),
            "pretrain.dataset_id",
        ),
        (
            json!({"kind": "autoencoder", "epochs": 2}),
            json!({"imbalance": {"strategy": "easy_ensemble"}}),
            "pretrain",
        ),
        (
            json!({"kind": "autoencoder", "epochs": 2}),
            json!({"model": {"hidden_layers": [8], "batch_norm": true}}),
            "model",
        ),
        (
            json!({"kind": "autoencoder", "epochs": 2}),
            json!({"model": [{"hidden_layers": [8]}, {"hidden_layers": []}]}),
            "model[1]",
        ),
    ] {
        let mut body = spec(pretrain);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let p = problem(submit(&app, body.clone()).await, 422).await;
        let fields = error_fields(&p);
        assert!(
            !fields.is_empty() && fields.iter().all(|f| f == field),
            "{body}: {p}"
        );
    }
    // A dataset a queued or running job pretrains on is not deleted under it.
    let mut slow = spec(json!({"kind": "autoencoder", "epochs": 100, "dataset_id": extra}));
    slow["features"] = json!(["mean texture"]);
    slow["training"]["epochs"] = json!(1000);
    let slow = queued(&app, slow).await;
    let res = app
        .delete(&format!("/v1/datasets/{extra}"))
        .send()
        .await
        .unwrap();
    problem(res, 409).await;
    let res = app
        .post(&format!("/v1/jobs/{slow}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    wait_until_finished(&app, &slow).await;
    let res = app
        .delete(&format!("/v1/datasets/{extra}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}
