//! `/v1/jobs` and `/v1/runs`: a job trains every fold through the queue and reports per-fold,
//! summary and pooled metrics; validation, dry runs, cancellation and idempotency.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    TestApp, counts, error_fields, five_rows, fixture, json, problem, submit, upload_breast_cancer,
    wait_until_finished,
};

#[tokio::test]
async fn a_job_trains_every_fold_and_reports_fold_summary_and_pooled_metrics() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let res = submit(
        &app,
        json!({"dataset_id": ds, "training": {"epochs": 3}, "validation": {"folds": 3}}),
    )
    .await;
    assert_eq!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .split('/')
            .count(),
        4
    );
    let job = json(res, 202).await;
    // A worker may claim a run between the insert and the read the 202 shows.
    assert!(
        job["status"] == "queued" || job["status"] == "running",
        "{job}"
    );
    assert_eq!(
        job["spec"]["model"]["hidden_layers"],
        json!([64, 64]),
        "defaults are resolved"
    );
    let id = job["id"].as_str().unwrap().to_owned();
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["runs_done"], 4);
    assert_eq!(job["progress"]["fraction"], 1.0);
    assert!(
        job["summary"]["accuracy"]["mean"].as_f64().unwrap() > 0.9,
        "{job}"
    );

    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let folds = metrics["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let accs: Vec<f64> = folds
        .iter()
        .map(|f| f["metrics"]["accuracy"].as_f64().unwrap())
        .collect();
    let mean = accs.iter().sum::<f64>() / 3.0;
    assert!((metrics["summary"]["accuracy"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!(metrics["pooled"]["roc_auc"].as_f64().unwrap() > 0.9);
    // The audit trail: each fold trained on the other folds' rows only.
    for f in folds {
        let train: u64 = counts(&f["train_class_counts"]).iter().sum();
        assert!(
            (370..=390).contains(&train),
            "a 3-fold training part of 569 rows: {train}"
        );
    }

    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let runs = runs["items"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["status"] == "succeeded"));
    let fold_run = runs[0]["id"].as_str().unwrap();
    let history = app.get_json(&format!("/v1/runs/{fold_run}/metrics")).await;
    let history = history.as_array().unwrap();
    assert!(!history.is_empty() && history.len() <= 3);
    assert!(history[0]["layer_grad_norms"].as_array().unwrap().len() == 3);
    // The training statistics diagnostics read: per layer, weight norms and how far an epoch
    // moved them; per hidden layer (relu), the share of dead units.
    let numbers = |k: &str| -> Vec<f64> {
        let list = history[0][k].as_array().unwrap_or_else(|| panic!("{k}"));
        list.iter().map(|v| v.as_f64().unwrap()).collect()
    };
    assert_eq!(numbers("layer_weight_norms").len(), 3);
    assert!(numbers("layer_weight_norms").iter().all(|&v| v > 0.0));
    let ratios = numbers("layer_update_ratios");
    assert!(
        ratios.len() == 3 && ratios.iter().all(|&r| r > 0.0 && r < 1.0),
        "{ratios:?}"
    );
    let dead = numbers("dead_unit_fractions");
    assert!(
        dead.len() == 2 && dead.iter().all(|&f| (0.0..=1.0).contains(&f)),
        "{dead:?}"
    );
    assert!(
        numbers("saturated_fractions").is_empty(),
        "relu does not saturate"
    );
    let csv = app
        .get(&format!("/v1/runs/{fold_run}/metrics"))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("epoch,train_loss"));
    assert_eq!(csv.lines().count(), history.len() + 1);

    let svg = app
        .get(&format!("/v1/jobs/{id}/curves.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("fold 2") && svg.contains("final") && svg.contains("best epoch"));
    // Its points: per run, training (solid, named), held-out (dashed: the 3 folds) and inner
    // validation (dotted) loss, and a dot at each run's best epoch.
    let points = app
        .get_json(&format!("/v1/jobs/{id}/curves.svg?format=json"))
        .await;
    let series = points["series"].as_array().unwrap();
    let count = |stroke: &str| series.iter().filter(|s| s["stroke"] == stroke).count();
    assert_eq!(
        (count("solid"), count("dashed"), count("dotted")),
        (4, 3, 4),
        "{points}"
    );
    assert_eq!(points["dots"].as_array().unwrap().len(), 4, "{points}");
    std::fs::write(std::env::temp_dir().join("crossfold-curves.svg"), &svg).unwrap();
    let ck = app
        .get(&format!("/v1/runs/{fold_run}/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(ck.status(), 200);
    let downloaded = ck.bytes().await.unwrap();
    let ck = crossfold::engine::checkpoint::from_bytes(&downloaded).unwrap();
    assert!(
        ck.encoding.unwrap().contains("mean"),
        "the feature encoding travels with the weights"
    );
}

#[tokio::test]
async fn invalid_specs_list_every_field_at_once_and_create_nothing() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let body = json!({
        "dataset_id": ds,
        "model": {"hidden_layers": [1000000]},
        "training": {"epochs": 1000000000u64},
        "validation": {"folds": 300}
    });
    let p = problem(submit(&app, body).await, 422).await;
    let fields = error_fields(&p);
    for f in [
        "model.hidden_layers[0]",
        "training.epochs",
        "validation.folds",
    ] {
        assert!(
            fields.contains(&f.to_owned()),
            "{f} missing from {fields:?}"
        );
    }
    let p = problem(
        submit(&app, json!({"dataset_id": ds, "training": {"epoch": 3}})).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), vec!["training.epoch"]);
    let p = problem(submit(&app, json!({"dataset_id": "ds_nope"})).await, 422).await;
    assert_eq!(error_fields(&p), vec!["dataset_id"]);
    // More folds than the smallest class is explained.
    let small = json(
        app.upload_csv("label=y", "x,y\n1,a\n2,a\n3,a\n4,a\n5,a\n6,b\n7,b\n8,b\n")
            .await,
        201,
    )
    .await;
    let p = problem(
        submit(
            &app,
            json!({"dataset_id": small["id"], "validation": {"folds": 5}}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), vec!["validation.folds"]);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("class 1 has only 3 rows"),
        "{p}"
    );
    // A dataset with nothing but its label cannot be trained on.
    let bare = json(
        app.upload_csv("label=y", "y\na\nb\na\nb\na\nb\n").await,
        201,
    )
    .await;
    let p = problem(
        submit(
            &app,
            json!({"dataset_id": bare["id"], "validation": {"folds": 2}}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), vec!["features"]);
    let res = app
        .post("/v1/jobs")
        .header("content-type", "application/json")
        .body("{\"dataset_id\": ")
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
    let list = app.get_json("/v1/jobs").await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_dry_run_resolves_the_spec_and_estimates_the_work_without_queueing() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let res = app
        .post("/v1/jobs?dry_run=true")
        .json(&json!({"dataset_id": ds, "training": {"epochs": 7}}))
        .send()
        .await
        .unwrap();
    let body = json(res, 200).await;
    assert_eq!(body["spec"]["optimizer"]["kind"], "adam");
    assert_eq!(body["estimate"]["runs"], 6);
    assert_eq!(body["estimate"]["epochs"], 42);
    // A comparison: per strategy, the rows one model trains on after resampling a fold's
    // training part (breast_cancer: 357 and 212 rows, 4/5 of each: 286 and 170).
    let body = json(
        app.post("/v1/jobs?dry_run=true")
            .json(&json!({"dataset_id": ds, "training": {"epochs": 7},
                "imbalance": {"strategy": ["none", "smote", "easy_ensemble"], "n_subsets": 4}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let e = &body["estimate"];
    assert_eq!(e["runs"], 16);
    // (1 + 1 + 4 models) × 5 folds × 7 epochs, and the final model (at most 4 models) × 7.
    assert_eq!(e["epochs"], 6 * 5 * 7 + 4 * 7);
    let rows: Vec<(String, u64, u64)> = e["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["strategy"].as_str().unwrap().to_owned(),
                s["models_per_run"].as_u64().unwrap(),
                s["samples_per_epoch"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("none".into(), 1, 286 + 170),
            ("smote".into(), 1, 286 * 2),
            ("easy_ensemble".into(), 4, 170 * 2)
        ]
    );
    let list = app.get_json("/v1/jobs").await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn cancel_stops_queued_work_at_once_and_running_work_within_an_epoch() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let long = json!({"dataset_id": ds, "model": {"hidden_layers": [256, 256]}, "training": {"epochs": 10000, "early_stopping": null}});
    let running = json(submit(&app, long.clone()).await, 202).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let queued = json(submit(&app, long).await, 202).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // One worker: the first job's first run trains, everything else waits.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get_json(&format!("/v1/jobs/{running}")).await["status"] != "running" {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let res = app
        .post(&format!("/v1/jobs/{queued}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res, 202).await["status"], "cancelled");

    let res = app
        .post(&format!("/v1/jobs/{running}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res, 202).await["status"], "cancelling");
    let job = wait_until_finished(&app, &running).await;
    assert_eq!(job["status"], "cancelled");
    let runs = app.get_json(&format!("/v1/jobs/{running}/runs")).await;
    let first = runs["items"][0]["id"].as_str().unwrap().to_owned();
    let epochs = app
        .get_json(&format!("/v1/runs/{first}/metrics"))
        .await
        .as_array()
        .unwrap()
        .len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = app
        .get_json(&format!("/v1/runs/{first}/metrics"))
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(epochs, later, "no epoch is written after the cancel");
    problem(
        app.post(&format!("/v1/jobs/{running}/cancel"))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
}

#[tokio::test]
async fn twenty_concurrent_posts_with_one_idempotency_key_create_one_job() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let body = json!({"dataset_id": ds, "training": {"epochs": 1}, "validation": {"folds": 2}, "final_model": false});
    let sends = (0..20).map(|_| {
        app.post("/v1/jobs")
            .header("idempotency-key", "job-1")
            .json(&body)
            .send()
    });
    let mut ids = std::collections::BTreeSet::new();
    for res in futures_util::future::join_all(sends).await {
        ids.insert(
            json(res.unwrap(), 202).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(ids.len(), 1);
    let other = json!({"dataset_id": ds, "training": {"epochs": 2}});
    let res = app
        .post("/v1/jobs")
        .header("idempotency-key", "job-1")
        .json(&other)
        .send()
        .await
        .unwrap();
    problem(res, 409).await;
    let list = app.get_json("/v1/jobs").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dataset_in_use_by_a_queued_job_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = json(
        submit(
            &app,
            json!({"dataset_id": ds, "training": {"epochs": 10000, "early_stopping": null}}),
        )
        .await,
        202,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    problem(
        app.delete(&format!("/v1/datasets/{ds}"))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    let res = app
        .post(&format!("/v1/jobs/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        202,
        "cancel must never be a 5xx, even racing a claim"
    );
    wait_until_finished(&app, &id).await;
    assert_eq!(
        app.delete(&format!("/v1/datasets/{ds}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

/// Five rows of the fixture as JSON objects (features only).
#[tokio::test]
async fn predict_uses_the_final_model_or_the_fold_ensemble_and_matches_the_engine() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = json(
        submit(
            &app,
            json!({"dataset_id": ds, "training": {"epochs": 3}, "validation": {"folds": 2}}),
        )
        .await,
        202,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = five_rows();
    // A job that has not succeeded (this one trains for long, then is cancelled) predicts
    // nothing: always a 409.
    let slow = json(
        submit(
            &app,
            json!({"dataset_id": ds, "training": {"epochs": 10000, "early_stopping": null}}),
        )
        .await,
        202,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let early = app
        .post(&format!("/v1/jobs/{slow}/predict"))
        .json(&json!({"rows": rows}))
        .send()
        .await
        .unwrap();
    problem(early, 409).await;
    app.post(&format!("/v1/jobs/{slow}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");

    let body = json(
        app.post(&format!("/v1/jobs/{id}/predict"))
            .json(&json!({"rows": rows}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let preds = body["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 5);
    let final_run = app.final_run(&id).await;
    assert_eq!(body["models"], json!([final_run]));
    // The engine, from the downloaded checkpoint, on the same rows.
    let bytes = app
        .get(&format!("/v1/runs/{final_run}/checkpoint"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut ck = crossfold::engine::checkpoint::from_bytes(&bytes).unwrap();
    let encoding: crossfold::engine::data::encode::Encoding =
        serde_json::from_str(ck.encoding.as_deref().unwrap()).unwrap();
    let x: Vec<f32> = rows
        .iter()
        .flat_map(|r| {
            encoding
                .encode_row(
                    |name| {
                        // Stored as f32 at upload, so predict reads its inputs as f32 too.
                        let v = r[name].as_f64().unwrap() as f32;
                        crossfold::engine::data::encode::RawValue::Number(f64::from(v))
                    },
                    crossfold::engine::data::encode::Unseen::Refuse,
                )
                .unwrap()
        })
        .collect();
    let width = encoding.width();
    let x_t = crossfold::engine::model::param::transpose(&x, 5, width);
    let log_p = ck.state.model.log_proba(&x_t, 5);
    for (i, p) in preds.iter().enumerate() {
        let probs = p["probabilities"].as_object().unwrap();
        let total: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-6, "row {i} sums to {total}");
        for (c, name) in ["0", "1"].iter().enumerate() {
            assert_eq!(
                probs[*name].as_f64().unwrap(),
                f64::from(log_p[i * 2 + c].exp()),
                "row {i} class {name}"
            );
        }
    }

    let body = json(
        app.post(&format!("/v1/jobs/{id}/predict?ensemble=folds"))
            .json(&json!({"rows": rows}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["models"].as_array().unwrap().len(), 2);
    let p = body["predictions"][0]["probabilities"].as_object().unwrap();
    assert!((p.values().map(|v| v.as_f64().unwrap()).sum::<f64>() - 1.0).abs() < 1e-6);

    let mut bad = rows[0].clone();
    bad.insert("nope".into(), json!(1));
    let p = problem(
        app.post(&format!("/v1/jobs/{id}/predict"))
            .json(&json!({"rows": [rows[1], bad]}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(error_fields(&p), vec!["rows[1].nope"]);
    let mut text = rows[0].clone();
    text.insert("mean radius".into(), json!("big"));
    let p = problem(
        app.post(&format!("/v1/jobs/{id}/predict"))
            .json(&json!({"rows": [text]}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("mean radius"), "{p}");

    // The same rows as CSV give the same predictions.
    let bytes = fixture("breast_cancer.csv");
    let text = String::from_utf8(bytes).unwrap();
    let csv_rows: Vec<&str> = text.lines().take(6).collect();
    let header: Vec<&str> = csv_rows[0].split(',').collect();
    let label_at = header.iter().position(|h| *h == "label").unwrap();
    let strip = |line: &str| {
        line.split(',')
            .enumerate()
            .filter(|(i, _)| *i != label_at)
            .map(|(_, v)| v)
            .collect::<Vec<_>>()
            .join(",")
    };
    let csv_body = csv_rows
        .iter()
        .map(|l| strip(l))
        .collect::<Vec<_>>()
        .join("\n");
    let from_csv = json(
        app.post(&format!("/v1/jobs/{id}/predict"))
            .header("content-type", "text/csv")
            .body(csv_body.clone())
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    // Raw bytes with ?format=csv are the same CSV.
    let raw = json(
        app.post(&format!("/v1/jobs/{id}/predict?format=csv"))
            .header("content-type", "application/octet-stream")
            .body(csv_body)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(raw["predictions"], from_csv["predictions"]);
    let from_json = json(
        app.post(&format!("/v1/jobs/{id}/predict"))
            .json(&json!({"rows": rows}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(from_csv["predictions"], from_json["predictions"]);
    let res = app
        .post(&format!("/v1/jobs/{id}/predict"))
        .header("content-type", "application/xml")
        .body("<rows/>")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;

    // Out-of-fold predictions: every row once, with its fold and true label.
    let oof = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
    let items = oof["items"].as_array().unwrap();
    assert_eq!(items.len(), 569);
    assert_eq!(items[0]["row"], 0);
    let csv = app.get_csv(&format!("/v1/jobs/{id}/predictions")).await;
    assert!(
        csv.starts_with("row,fold,repeat,label,p_0,p_1\n"),
        "{}",
        &csv[..60]
    );
    assert_eq!(csv.lines().count(), 570);
}

#[tokio::test]
async fn events_stream_status_progress_and_epochs_until_the_job_ends() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = json(submit(&app, json!({"dataset_id": ds, "training": {"epochs": 2, "early_stopping": null}, "validation": {"folds": 2}, "final_model": false})).await, 202).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .get(&format!("/v1/jobs/{id}/events"))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // The stream ends by itself when the job does.
    let body = tokio::time::timeout(Duration::from_secs(60), res.text())
        .await
        .expect("the stream ends")
        .unwrap();
    let epochs = body.matches("event: epoch").count();
    assert_eq!(epochs, 4, "2 folds x 2 epochs: {body}");
    assert!(body.contains("event: progress"));
    let last_status = body.rsplit("event: status").next().unwrap();
    assert!(last_status.contains("\"succeeded\""), "{body}");
    problem(
        app.get("/v1/jobs/job_nope/events").send().await.unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn a_test_set_is_held_out_of_every_fold_and_scored_once_by_the_final_model() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "training": {"epochs": 2}, "validation": {"folds": 3, "test_fraction": 0.2}, "final_model": false});
    let job = json(submit(&app, spec).await, 202).await;
    assert_eq!(
        job["spec"]["final_model"], true,
        "the test set needs the final model"
    );
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    assert!(
        metrics["test"]["accuracy"]
            .as_f64()
            .unwrap_or_else(|| panic!("{metrics}"))
            > 0.8,
        "{}",
        metrics["test"]
    );
    // Stratified 20%: round(0.2 × 357) + round(0.2 × 212) = 71 + 42 test rows; the folds share the rest.
    let rest = 569 - 113;
    for f in metrics["folds"].as_array().unwrap() {
        let train: u64 = counts(&f["train_class_counts"]).iter().sum();
        assert!(
            (300..=306).contains(&train),
            "two thirds of {rest}: {train}"
        );
    }
    let oof = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
    assert_eq!(
        oof["items"].as_array().unwrap().len(),
        rest,
        "test rows are in no fold"
    );
    let p = problem(
        submit(
            &app,
            json!({"dataset_id": ds, "validation": {"test_fraction": 0.9}}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), vec!["validation.test_fraction"]);
}

#[tokio::test]
async fn a_json_body_over_the_limit_is_a_413_problem() {
    let app = TestApp::spawn_with(|s| s.limits.max_json_body_bytes = 1024).await;
    let big = json!({"dataset_id": "x".repeat(4096)});
    let p = problem(submit(&app, big).await, 413).await;
    assert!(p["detail"].as_str().unwrap().contains("1024"), "{p}");
}

#[tokio::test]
async fn samplers_resample_each_folds_training_rows_only_as_their_definitions_say() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let cases = [
        ("smote", json!({"strategy": "smote"})),
        (
            "oversample",
            json!({"strategy": "oversample", "jitter": 0.5}),
        ),
        (
            "undersample",
            json!({"strategy": "undersample", "sampling_ratio": 0.5}),
        ),
        ("nearmiss", json!({"strategy": "nearmiss", "version": 3})),
    ];
    let mut ids = Vec::new();
    for (name, imbalance) in &cases {
        let spec = json!({"dataset_id": ds, "imbalance": imbalance, "training": {"epochs": 2}, "validation": {"folds": 3}, "final_model": false});
        ids.push((
            *name,
            json(submit(&app, spec).await, 202).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    for (name, id) in ids {
        assert_eq!(
            wait_until_finished(&app, &id).await["status"],
            "succeeded",
            "{name}"
        );
        let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
        for f in metrics["folds"].as_array().unwrap() {
            let train = counts(&f["train_class_counts"]);
            let resampled = counts(&f["resampled_class_counts"]);
            let (major, minor) = (train[0].max(train[1]), train[0].min(train[1]));
            let want = match name {
                "smote" | "oversample" => vec![major, major],
                // Majority cut to minority / 0.5.
                "undersample" => vec![(2 * minor).min(train[0]), minor],
                // NearMiss-3 keeps at most the minority count of the majority class.
                _ => {
                    assert_eq!(resampled[1], minor, "{name}");
                    assert!(resampled[0] <= minor, "{name}: {resampled:?}");
                    resampled.clone()
                }
            };
            assert_eq!(resampled, want, "{name}: train {train:?}");
            // The fold's held-out rows kept their original classes: the confusion matrix's
            // row sums plus the training counts are the dataset's 357 and 212.
            let cm: Vec<Vec<u64>> =
                serde_json::from_value(f["metrics"]["confusion_matrix"].clone()).unwrap();
            let held: Vec<u64> = cm.iter().map(|r| r.iter().sum()).collect();
            assert_eq!(vec![held[0] + train[0], held[1] + train[1]], vec![357, 212]);
            let validation = counts(&f["validation_class_counts"]);
            assert_eq!(validation, held, "{name}");
        }
        // Held-out rows are never resampled: every row is scored exactly once.
        let oof = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
        assert_eq!(oof["items"].as_array().unwrap().len(), 569, "{name}");
    }
    let p = problem(submit(&app, json!({"dataset_id": ds, "imbalance": {"strategy": "nearmiss", "version": 4, "sampling_ratio": 2}})).await, 422).await;
    let mut fields = error_fields(&p);
    fields.sort();
    assert_eq!(
        fields,
        vec!["imbalance.sampling_ratio", "imbalance.version"]
    );
}

#[tokio::test]
async fn predict_says_which_columns_it_imputed_and_strict_refuses_left_out_features() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "training": {"epochs": 2}, "validation": {"folds": 2}});
    let id = crate::helpers::queued(&app, spec).await;
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let predict = |body: serde_json::Value, query: &str| {
        app.post(&format!("/v1/jobs/{id}/predict{query}"))
            .json(&body)
            .send()
    };
    // Two of thirty columns, and a row of none: 200, saying what was made up.
    let rows = json!({"rows": [{"mean radius": 14.0, "mean texture": 19.0}, {}]});
    let out = json(predict(rows.clone(), "").await.unwrap(), 200).await;
    let imputed = out["imputed"].as_object().unwrap();
    assert_eq!(imputed.len(), 30, "{imputed:?}");
    assert_eq!(
        (
            imputed["mean radius"].as_u64(),
            imputed["worst area"].as_u64()
        ),
        (Some(1), Some(2))
    );
    // Every row with every feature: nothing imputed.
    let full = json!({"rows": five_rows()});
    let out = json(predict(full.clone(), "?strict=true").await.unwrap(), 200).await;
    assert_eq!(out["imputed"], json!({}));
    // strict: each feature left out is named at its first row; written as null it is imputed.
    let p = problem(predict(rows, "?strict=true").await.unwrap(), 422).await;
    let fields = error_fields(&p);
    assert_eq!(fields.len(), 30, "{fields:?}");
    assert!(
        fields.contains(&"rows[1].mean radius".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"rows[0].worst area".to_string()),
        "{fields:?}"
    );
    let mut nulls = five_rows();
    nulls[0].insert("worst area".into(), serde_json::Value::Null);
    let out = json(
        predict(json!({"rows": nulls}), "?strict=true")
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(out["imputed"], json!({"worst area": 1}));
}

#[tokio::test]
async fn out_of_fold_predictions_of_a_model_list_say_which_variant_made_them() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "model": [{"hidden_layers": [4]}, {"hidden_layers": [8]}],
                      "training": {"epochs": 2}, "validation": {"folds": 2}, "final_model": false});
    let id = crate::helpers::queued(&app, spec).await;
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let page = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2 * 569);
    for variant in 0..2u64 {
        let mut rows: Vec<u64> = (items.iter())
            .filter(|i| i["variant"] == variant)
            .map(|i| i["row"].as_u64().unwrap())
            .collect();
        rows.sort_unstable();
        assert_eq!(
            rows,
            (0..569).collect::<Vec<u64>>(),
            "variant {variant}: every row once"
        );
    }
    let csv = app.get_csv(&format!("/v1/jobs/{id}/predictions")).await;
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("variant,row,fold,repeat,label,"),
        "{csv:.200}"
    );
    let variants: std::collections::BTreeSet<&str> =
        lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(variants.into_iter().collect::<Vec<_>>(), ["0", "1"]);
}

#[tokio::test]
async fn progress_never_goes_backwards_and_stays_where_the_job_ended() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "imbalance": {"strategy": "easy_ensemble", "n_subsets": 2},
                      "training": {"epochs": 8, "early_stopping": null}, "validation": {"folds": 3}});
    let id = crate::helpers::queued(&app, spec).await;
    let (mut last, mut seen) = ((0u64, 0u64, 0.0f64), 0);
    let job = loop {
        let job = app.get_json(&format!("/v1/jobs/{id}")).await;
        let p = &job["progress"];
        let now = (
            p["runs_done"].as_u64().unwrap(),
            p["epoch"].as_u64().unwrap(),
            p["fraction"].as_f64().unwrap(),
        );
        assert!(
            now.0 >= last.0 && now.1 >= last.1 && now.2 >= last.2,
            "{last:?} then {now:?}"
        );
        assert_eq!(
            p["epochs"],
            4 * 2 * 8,
            "4 runs of 2 members of 8 epochs: {p}"
        );
        (last, seen) = (now, seen + 1);
        if job["status"] == "succeeded" {
            break job;
        }
        assert_eq!(
            job["status"].as_str().map(|s| s == "failed"),
            Some(false),
            "{job}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Without early stopping every run trains every epoch: the count ends at its budget.
    let p = &job["progress"];
    assert_eq!(
        (
            p["epoch"].as_u64(),
            p["fraction"].as_f64(),
            p["runs_done"].as_u64()
        ),
        (Some(64), Some(1.0), Some(4)),
        "{p}"
    );
    assert!(seen > 1);
}
