//! Hostile input and unlucky faults: each test reproduces one way the service used to fail
//! (a panic, a 500, unbounded output, a stuck job) and checks what it does now.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json, problem};
use crate::helpers::{queued, submit, upload_breast_cancer, wait_until_finished};

#[tokio::test]
async fn a_diverging_run_fails_its_job_once_with_the_epoch_and_advice_and_reads_still_answer() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({"dataset_id": ds, "seed": 1,
                   "model": {"hidden_layers": [128, 128, 128]},
                   "optimizer": {"kind": "sgd", "learning_rate": 5.0, "momentum": 0.9},
                   "training": {"epochs": 5, "early_stopping": null},
                   "validation": {"folds": 3}}),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("diverged in epoch 1"), "{error}");
    assert!(
        error.contains("learning_rate") && error.contains("clip_grad_norm"),
        "{error}"
    );
    // A permanent failure: no retries.
    assert_eq!(job["attempts"], 1, "{job}");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    assert_eq!(metrics["status"], "failed");
    problem(
        app.post(&format!("/v1/jobs/{id}/predict"))
            .json(&json!({"rows": [{"mean radius": 14.0}]}))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    let p = app
        .get(&format!("/v1/jobs/{id}/predictions"))
        .send()
        .await
        .unwrap();
    assert_eq!(p.status(), 200);
}

#[tokio::test]
async fn values_no_training_can_use_are_a_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let p = problem(
        submit(
            &app,
            json!({"dataset_id": ds,
                   "optimizer": {"kind": "sgd", "learning_rate": 1e308, "weight_decay": 1e308},
                   "schedule": {"decay": "cosine", "min_learning_rate": 1e308},
                   "training": {"l1": 1e308, "l2": 1e7},
                   "imbalance": {"strategy": "class_weight", "class_weights": {"1": 1e308}}}),
        )
        .await,
        422,
    )
    .await;
    let fields = error_fields(&p);
    for f in [
        "optimizer.learning_rate",
        "optimizer.weight_decay",
        "schedule.min_learning_rate",
        "training.l1",
        "training.l2",
        "imbalance.class_weights.1",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
}

#[tokio::test]
async fn made_up_methods_and_paths_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    for i in 0..300 {
        let method = reqwest::Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
        app.client
            .request(method, format!("{}/v1/no-such-{i}", app.address))
            .send()
            .await
            .unwrap();
    }
    let text = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("method=\"other\""),
        "unknown methods are counted as other"
    );
    assert!(!text.contains("X299"), "a made-up method became a label");
    assert!(
        !text.contains("no-such-299"),
        "a made-up path became a label"
    );
}

#[tokio::test]
async fn an_error_lists_at_most_a_hundred_fields_and_stays_smaller_than_the_request() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let widths = vec![0u64; 200_000];
    let res = submit(
        &app,
        json!({"dataset_id": ds, "model": {"hidden_layers": widths}}),
    )
    .await;
    let text = res.text().await.unwrap();
    assert!(
        text.len() < 20_000,
        "{} bytes: {}",
        text.len(),
        &text[..200]
    );
    let fields = json!({"model": {"hidden_layers": vec![0u64; 60]},
                        "training": {"epochs": 0, "batch_size": 0, "l1": -1, "l2": -1}});
    let mut spec = fields;
    spec["dataset_id"] = json!(ds);
    let p = problem(submit(&app, spec).await, 422).await;
    assert!(error_fields(&p).len() <= 100);

    // 10,000 predict rows with a bad value each: 100 listed, the rest counted.
    let job = finished_job(&app, &ds).await;
    let rows: Vec<Value> = (0..10_000).map(|_| json!({"mean radius": "big"})).collect();
    let res = app
        .post(&format!("/v1/jobs/{job}/predict"))
        .json(&json!({"rows": rows}))
        .send()
        .await
        .unwrap();
    let body = problem(res, 422).await;
    assert_eq!(error_fields(&body).len(), 100);
    assert!(
        body["errors_omitted"].as_u64().unwrap() > 0,
        "{}",
        body["errors_omitted"]
    );
    assert!(body.to_string().len() < 40_000);
}

/// A short, finished job on breast_cancer (2 folds, 2 epochs); returns its id.
async fn finished_job(app: &TestApp, ds: &str) -> String {
    let id = queued(
        app,
        json!({"dataset_id": ds, "training": {"epochs": 2}, "validation": {"folds": 2}}),
    )
    .await;
    assert_eq!(wait_until_finished(app, &id).await["status"], "succeeded");
    id
}

#[tokio::test]
async fn predict_refuses_empty_input_and_values_it_cannot_score_and_names_the_column() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let job = finished_job(&app, &ds).await;
    let predict = |body: &'static str, content_type: &'static str| {
        app.post(&format!("/v1/jobs/{job}/predict"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, ct) in [
        (r#"{"rows": []}"#, "application/json"),
        ("mean radius,mean texture\n", "text/csv"),
        ("", "text/csv"),
    ] {
        let p = problem(predict(body, ct).await.unwrap(), 422).await;
        assert_eq!(error_fields(&p), ["rows"], "{body:?}: {p}");
    }
    // Far outside the training range (every feature ±3e38, finite in f32): refused, never a
    // 200 with null probabilities.
    let names = [
        "mean radius",
        "mean texture",
        "mean perimeter",
        "mean area",
        "worst radius",
        "worst texture",
        "worst perimeter",
        "worst area",
        "radius error",
        "area error",
    ];
    let row: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), json!(if i % 2 == 0 { -3e38 } else { 3e38 })))
        .collect();
    let res = app
        .post(&format!("/v1/jobs/{job}/predict"))
        .json(&json!({"rows": [row]}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    assert!(error_fields(&p)[0].starts_with("rows[0]"), "{p}");
    // `null` reads as missing in CSV, as it does at upload.
    let ok = json(
        predict("mean radius,mean texture\nnull,NA\n", "text/csv")
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(ok["predictions"].as_array().unwrap().len(), 1);

    // An unknown category names its column.
    let mut csv = String::from("x,color,label\n");
    for i in 0..40 {
        csv.push_str(&format!("{i},{},{}\n", ["red", "blue"][i % 2], i % 2));
    }
    let ds = json(app.upload_csv("label=label", csv).await, 201).await;
    let job = finished_job(&app, ds["id"].as_str().unwrap()).await;
    let p = problem(
        app.post(&format!("/v1/jobs/{job}/predict"))
            .json(&json!({"rows": [{"x": 1, "color": "green"}]}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["rows[0].color"], "{p}");
}

#[tokio::test]
async fn a_cancel_interrupted_by_a_crash_is_finished_at_start_up() {
    let mut app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({"dataset_id": ds, "training": {"epochs": 5000, "early_stopping": null},
                   "validation": {"folds": 2}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get_json(&format!("/v1/jobs/{id}")).await["status"] != "running" {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
    // What a kill between the cancel request and the stop leaves: the job `cancelling`, its
    // run still marked running by a process that is gone.
    let db = app.database().await;
    sqlx::query("UPDATE jobs SET status = 'cancelling', cancel_requested_at = '2026-01-01T00:00:00Z' WHERE id = ?")
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE runs SET state = 'running', lease_owner = 'gone' WHERE job_id = ? AND state = 'queued'")
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    app.start_again().await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    let res = app
        .delete(&format!("/v1/datasets/{ds}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn many_streams_on_one_job_each_get_every_epoch_once_and_the_stream_cap_is_a_429() {
    let app = TestApp::spawn_with(|s| s.limits.max_event_streams = 12).await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({"dataset_id": ds, "final_model": false, "validation": {"folds": 2},
                   "training": {"epochs": 30, "early_stopping": null}}),
    )
    .await;
    let mut streams = Vec::new();
    for _ in 0..12 {
        let res = app
            .get(&format!("/v1/jobs/{id}/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        streams.push(res);
    }
    // One more than the cap.
    let p = problem(
        app.get(&format!("/v1/jobs/{id}/events"))
            .send()
            .await
            .unwrap(),
        429,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("max_event_streams"),
        "{p}"
    );
    for res in streams {
        let body = tokio::time::timeout(Duration::from_secs(60), res.text())
            .await
            .expect("the stream ends with the job")
            .unwrap();
        assert_eq!(
            body.matches("event: epoch").count(),
            60,
            "2 folds × 30 epochs"
        );
        let mut seen = std::collections::HashSet::new();
        for line in body.lines().filter(|l| l.starts_with("data: {\"run_id\"")) {
            let v: Value = serde_json::from_str(&line[6..]).unwrap();
            assert!(
                seen.insert((v["run_id"].to_string(), v["record"]["epoch"].as_u64())),
                "an epoch came twice"
            );
        }
        assert!(
            body.rsplit("event: status")
                .next()
                .unwrap()
                .contains("succeeded")
        );
    }
    // The permits came back with the streams.
    let res = app
        .get(&format!("/v1/jobs/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_spec_within_every_field_limit_that_needs_too_much_memory_is_a_422_naming_it() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let huge = json!({"dataset_id": ds, "model": {"hidden_layers": vec![4096; 64]}});
    let p = problem(submit(&app, huge.clone()).await, 422).await;
    assert_eq!(error_fields(&p), ["model.hidden_layers"], "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("max_job_memory_bytes") && detail.contains("MiB"),
        "{detail}"
    );
    let dry = app
        .post("/v1/jobs?dry_run=true")
        .json(&huge)
        .send()
        .await
        .unwrap();
    problem(dry, 422).await;
    // A dry run of a sensible spec reports its estimate and its parts.
    let dry = json(
        app.post("/v1/jobs?dry_run=true")
            .json(&json!({"dataset_id": ds}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let bytes = dry["estimate"]["memory_bytes"].as_u64().unwrap();
    assert!(bytes > 16 << 20 && bytes < 1 << 30, "{bytes}");
    assert!(dry["estimate"]["memory"]["terms"].as_array().unwrap().len() >= 4);
    let jobs = app.get_json("/v1/jobs").await;
    assert!(
        jobs["items"].as_array().unwrap().is_empty(),
        "nothing was queued"
    );

    // 200 columns × 400 categories: within max_categories per column, 80,000 inputs in all.
    let mut csv = (0..200)
        .map(|c| format!("c{c}"))
        .collect::<Vec<_>>()
        .join(",")
        + ",label\n";
    for r in 0..400 {
        let row: Vec<String> = (0..200).map(|c| format!("v{}", (r + c) % 400)).collect();
        csv.push_str(&format!("{},{}\n", row.join(","), r % 2));
    }
    let wide = json(app.upload_csv("label=label", csv).await, 201).await;
    let p = problem(submit(&app, json!({"dataset_id": wide["id"]})).await, 422).await;
    assert_eq!(error_fields(&p), ["features"], "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("max_encoded_width"),
        "{p}"
    );
}

#[tokio::test]
async fn out_of_fold_predictions_come_in_pages_and_as_a_stream_each_row_once() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let job = finished_job(&app, &ds).await;
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs/{job}/predictions?limit=100&cursor={c}"),
            None => format!("/v1/jobs/{job}/predictions?limit=100"),
        };
        let page = app.get_json(&path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 100);
        rows.extend(items.iter().map(|i| i["row"].as_u64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        rows,
        (0..569).collect::<Vec<u64>>(),
        "every row once, in order"
    );
    let csv = app.get_csv(&format!("/v1/jobs/{job}/predictions")).await;
    assert_eq!(csv.lines().count(), 570);
    problem(
        app.get(&format!("/v1/jobs/{job}/predictions?limit=0"))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
}

#[tokio::test]
async fn predictions_stored_with_null_probabilities_never_panic_the_metrics() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let job = finished_job(&app, &ds).await;
    // What a diverged run stored before divergence failed runs: every probability null.
    let db = app.database().await;
    sqlx::query(
        "UPDATE runs SET heldout = NULL,
                predictions_json = '{\"rows\":[0,1],\"labels\":[1,0],\"proba\":[[null,null],[null,null]]}'
         WHERE job_id = ? AND kind = 'fold'",
    )
    .bind(&job)
    .execute(&db)
    .await
    .unwrap();
    // A job settled before its results were stored: its metrics are computed on read.
    sqlx::query("UPDATE jobs SET results_json = NULL WHERE id = ?")
        .bind(&job)
        .execute(&db)
        .await
        .unwrap();
    let metrics = app.get_json(&format!("/v1/jobs/{job}/metrics")).await;
    assert!(metrics["pooled"].is_null(), "{}", metrics["pooled"]);
    assert_eq!(metrics["folds"].as_array().unwrap().len(), 2);
    let p = app.get_json(&format!("/v1/jobs/{job}/predictions")).await;
    assert!(p["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn predict_takes_at_most_max_predict_rows_rows() {
    let app = TestApp::spawn_with(|s| s.limits.max_predict_rows = 50).await;
    let ds = upload_breast_cancer(&app).await;
    let job = finished_job(&app, &ds).await;
    let rows = vec![json!({}); 51];
    let p = problem(
        app.post(&format!("/v1/jobs/{job}/predict"))
            .json(&json!({"rows": rows}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["rows"]);
    assert!(
        p["detail"].as_str().unwrap().contains("max_predict_rows"),
        "{p}"
    );
    let ok = json(
        app.post(&format!("/v1/jobs/{job}/predict"))
            .json(&json!({"rows": vec![json!({}); 50]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(ok["predictions"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn a_class_named_with_a_comma_keeps_the_csv_outputs_well_formed() {
    let app = TestApp::spawn().await;
    let mut csv = String::from("x,label\n");
    for i in 0..40 {
        csv.push_str(&format!("{i},{}\n", ["\"a,b\"", "c"][i % 2]));
    }
    let ds = json(app.upload_csv("label=label", csv).await, 201).await;
    let job = finished_job(&app, ds["id"].as_str().unwrap()).await;
    let text = app.get_csv(&format!("/v1/jobs/{job}/predictions")).await;
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr.headers().unwrap().clone();
    assert_eq!(
        header.len(),
        6,
        "row, fold, repeat, label and two probabilities: {header:?}"
    );
    assert_eq!(&header[4], "p_a,b");
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|r| r.len() == 6));
    assert!(rows.iter().any(|r| &r[3] == "a,b"));
    // The epoch history as CSV, too: every row as wide as its header.
    let runs = app.get_json(&format!("/v1/jobs/{job}/runs")).await;
    let run = runs["items"][0]["id"].as_str().unwrap();
    let history = app.get_csv(&format!("/v1/runs/{run}/metrics")).await;
    let mut rdr = csv::Reader::from_reader(history.as_bytes());
    let width = rdr.headers().unwrap().len();
    assert!(rdr.records().all(|r| r.unwrap().len() == width));
}

#[tokio::test]
async fn a_jobs_runs_come_in_pages_like_every_list() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({"dataset_id": ds, "training": {"epochs": 1}, "validation": {"folds": 5}}),
    )
    .await;
    let (mut ids, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs/{id}/runs?limit=2&cursor={c}"),
            None => format!("/v1/jobs/{id}/runs?limit=2"),
        };
        let page = app.get_json(&path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        ids.extend(items.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let all = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let every: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(every.len(), 6, "5 folds and the final model");
    assert_eq!(ids, every, "the pages hold every run once, in order");
    problem(
        app.get(&format!("/v1/jobs/{id}/runs?limit=0"))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
}
