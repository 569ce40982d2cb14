//! `final_model`: `{"epochs": "cv"}` trains the final model, without early stopping, for the
//! rounded mean of the folds' best epochs, and says so in the metrics; `validation.fold_column`
//! gives the folds.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json, problem};
use crate::helpers::{queued, submit, upload_breast_cancer, wait_until_finished};

#[tokio::test]
async fn a_cv_epochs_final_model_trains_the_rounded_mean_of_the_folds_best_epochs() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({
            "dataset_id": ds, "seed": 2, "final_model": {"epochs": "cv"},
            "model": {"hidden_layers": [16]},
            "training": {"epochs": 40, "early_stopping": {"patience": 3}},
            "validation": {"folds": 3},
        }),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["spec"]["final_model"], json!({"epochs": "cv"}));
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let best: Vec<u64> = metrics["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["best_epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(best.len(), 3);
    // By hand: the mean, rounded half up.
    let want = (best.iter().sum::<u64>() as f64 / 3.0 + 0.5).floor() as u64;
    assert_eq!(
        metrics["final_epochs"],
        json!({"epochs": want, "fold_best_epochs": best}),
        "{metrics}"
    );
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let last: &Value = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "final")
        .unwrap();
    assert_eq!(last["epochs_done"], want, "{last}");
    let history = app
        .get_json(&format!(
            "/v1/runs/{}/metrics",
            last["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(history.as_array().unwrap().len() as u64, want);
    // No early stopping of its own: no inner validation split.
    assert!(history[0]["val_loss"].is_null(), "{history}");
}

#[tokio::test]
async fn final_model_takes_true_false_or_cv_epochs_with_early_stopping() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    for (final_model, training) in [
        (json!({"epochs": "cv"}), json!({"early_stopping": null})),
        (json!("yes"), json!({})),
        (json!({"epochs": 10}), json!({})),
        (json!({"epochs": "loss"}), json!({})),
    ] {
        let spec = json!({"dataset_id": ds, "final_model": final_model, "training": training});
        let p = problem(submit(&app, spec).await, 422).await;
        assert_eq!(error_fields(&p), ["final_model"], "{p}");
    }
    let ok = json(
        app.post("/v1/jobs?dry_run=true")
            .json(&json!({"dataset_id": ds, "final_model": {"epochs": "cv"}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(ok["spec"]["final_model"], json!({"epochs": "cv"}), "{ok}");
    assert_eq!(ok["estimate"]["runs"], 6, "{ok}");
}

/// A run's per-epoch training losses.
async fn train_losses(app: &TestApp, run: &Value) -> Vec<f64> {
    let path = format!("/v1/runs/{}/metrics", run["id"].as_str().unwrap());
    let history = app.get_json(&path).await;
    (history.as_array().unwrap().iter())
        .map(|e| e["train_loss"].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_fold_loss_final_model_trains_until_its_loss_reaches_the_folds_median() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({
        "dataset_id": ds, "seed": 3, "final_model": {"epochs": "fold_loss"},
        "model": {"hidden_layers": [16]},
        "training": {"epochs": 30, "early_stopping": null},
        "validation": {"folds": 3},
    });
    let id = queued(&app, spec.clone()).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let runs = runs["items"].as_array().unwrap();
    let mut last_losses = Vec::new();
    for fold in runs.iter().filter(|r| r["kind"] == "fold") {
        last_losses.push(*train_losses(&app, fold).await.last().unwrap());
    }
    // By hand: the median of the three folds' last training losses.
    last_losses.sort_by(f64::total_cmp);
    let target = last_losses[1];
    let fin = runs.iter().find(|r| r["kind"] == "final").unwrap();
    assert_eq!(fin["loss_target"].as_f64(), Some(target), "{fin}");
    // It gets there within twice the spec's 30 epochs, and stops at the first epoch that does.
    let losses = train_losses(&app, fin).await;
    assert_eq!(fin["stop"], "reached_loss", "{fin}");
    assert!(losses.len() <= 60, "{losses:?}");
    let (reached, before) = losses.split_last().unwrap();
    assert!(
        *reached <= target && before.iter().all(|&l| l > target),
        "{losses:?} {target}"
    );
    // Its dry run counts the final model's epochs at most twice the spec's.
    let res = app.dry_run(&spec).await;
    let plan = json(res, 200).await;
    let cv = json(
        app.dry_run(&json!({"dataset_id": ds, "seed": 3, "final_model": true,
        "model": {"hidden_layers": [16]}, "training": {"epochs": 30, "early_stopping": null},
        "validation": {"folds": 3}}))
            .await,
        200,
    )
    .await;
    let epochs = |p: &Value| p["estimate"]["epochs"].as_u64().unwrap();
    assert_eq!(epochs(&plan), epochs(&cv) + 30, "{plan}");
    // An ensemble's members train whole: its final model trains its epochs, with no target.
    let ensemble = json!({
        "dataset_id": ds, "seed": 3, "final_model": {"epochs": "fold_loss"},
        "model": {"hidden_layers": [8]}, "training": {"epochs": 3, "early_stopping": null},
        "validation": {"folds": 2}, "imbalance": {"strategy": "easy_ensemble", "n_subsets": 2},
    });
    let id = queued(&app, ensemble).await;
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let runs = runs["items"].as_array().unwrap();
    let fin = runs.iter().find(|r| r["kind"] == "final").unwrap();
    assert_eq!(
        (&fin["loss_target"], &fin["stop"]),
        (&json!(null), &json!("completed")),
        "{fin}"
    );
}

/// 40 rows of two features, the user's fold `f` (0–3) and a label.
fn with_folds() -> String {
    let mut csv = String::from("x1,x2,f,label\n");
    for i in 0..40 {
        let label = if i % 3 == 0 { "b" } else { "a" };
        csv.push_str(&format!(
            "{},{},{},{label}\n",
            i as f64 * 0.1,
            (i * 7 % 11) as f64,
            i % 4
        ));
    }
    csv
}

#[tokio::test]
async fn a_fold_column_is_reproduced_exactly_and_is_not_a_feature() {
    let app = TestApp::spawn().await;
    let ds = json(app.upload_csv("label=label", with_folds()).await, 201).await;
    let ds = ds["id"].as_str().unwrap().to_owned();
    let id = queued(
        &app,
        json!({"dataset_id": ds, "seed": 1, "training": {"epochs": 2},
               "validation": {"folds": 4, "fold_column": "f"}}),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    // Every row is held out once, in the fold its `f` names.
    let predictions = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
    let items = predictions["items"].as_array().unwrap();
    assert_eq!(items.len(), 40, "{predictions}");
    for p in items {
        assert_eq!(
            p["fold"].as_u64().unwrap(),
            p["row"].as_u64().unwrap() % 4,
            "{p}"
        );
    }
    // The model reads x1 and x2 only.
    let encoding = app.final_encoding(&id).await;
    assert!(
        encoding.contains("x1") && !encoding.contains("\"f\""),
        "{encoding}"
    );
    // Bad fold columns: values outside 0..folds, an empty fold, no such column, repeats.
    for (validation, field) in [
        (
            json!({"folds": 3, "fold_column": "f"}),
            "validation.fold_column",
        ),
        (
            json!({"folds": 5, "fold_column": "f"}),
            "validation.fold_column",
        ),
        (
            json!({"folds": 4, "fold_column": "g"}),
            "validation.fold_column",
        ),
        (
            json!({"folds": 4, "fold_column": "f", "repeats": 2}),
            "validation.repeats",
        ),
    ] {
        let spec = json!({"dataset_id": ds, "validation": validation});
        let p = problem(submit(&app, spec.clone()).await, 422).await;
        assert_eq!(error_fields(&p), [field], "{spec}: {p}");
    }
}

#[tokio::test]
async fn a_chosen_feature_list_is_what_the_model_reads() {
    let app = TestApp::spawn().await;
    let ds = json(app.upload_csv("label=label", with_folds()).await, 201).await;
    let ds = ds["id"].as_str().unwrap().to_owned();
    let id = queued(
        &app,
        json!({"dataset_id": ds, "features": ["x2"], "training": {"epochs": 2},
               "validation": {"folds": 2}}),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let bytes = app.checkpoint(&app.final_run(&id).await).await;
    let stored = crossfold::engine::checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!(stored.state.model.inputs(), 1);
    let encoding = stored.encoding.unwrap();
    assert!(
        encoding.contains("x2") && !encoding.contains("x1"),
        "{encoding}"
    );
    for (features, field) in [
        (json!(["nope"]), "features[0]"),
        (json!(["x1", "label"]), "features[1]"),
        (json!(["x1", "x1"]), "features[1]"),
        (json!([]), "features"),
    ] {
        let spec = json!({"dataset_id": ds, "features": features});
        let p = problem(submit(&app, spec.clone()).await, 422).await;
        assert_eq!(error_fields(&p), [field], "{spec}: {p}");
    }
    let spec = json!({"dataset_id": ds, "features": ["f"],
                      "validation": {"folds": 4, "fold_column": "f"}});
    let p = problem(submit(&app, spec).await, 422).await;
    assert_eq!(error_fields(&p), ["features[0]"], "{p}");
}

/// `training.swa_epochs`: 1 to `training.epochs`, and not with early stopping's restored best
/// (both would choose the weights); a job with it trains and keeps it in its spec, and one
/// without it does not show the field.
#[tokio::test]
async fn swa_epochs_is_checked_and_kept_in_the_spec() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    for training in [
        json!({"epochs": 5, "swa_epochs": 0, "early_stopping": null}),
        json!({"epochs": 5, "swa_epochs": 6, "early_stopping": null}),
        json!({"epochs": 5, "swa_epochs": 2}),
        json!({"epochs": 5, "swa_epochs": -1, "early_stopping": null}),
    ] {
        let spec = json!({"dataset_id": ds, "training": training});
        let p = problem(submit(&app, spec).await, 422).await;
        assert_eq!(error_fields(&p), ["training.swa_epochs"], "{p}");
    }
    let training = json!({"epochs": 4, "swa_epochs": 2, "early_stopping": {"restore_best": false}});
    let spec = json!({"dataset_id": ds, "seed": 1, "training": training,
                      "validation": {"folds": 2}});
    let id = queued(&app, spec).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["spec"]["training"]["swa_epochs"], 2, "{job}");
    let plain = json!({"dataset_id": ds, "validation": {"folds": 2}});
    let ok = json(
        app.post("/v1/jobs?dry_run=true")
            .json(&plain)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(ok["spec"]["training"].get("swa_epochs").is_none(), "{ok}");
}
