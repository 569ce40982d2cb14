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
