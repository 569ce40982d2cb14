//! The job memory estimate counts what a job reads besides its own dataset: pretraining rows
//! and a test dataset, each by its rows, and a job over `max_job_memory_bytes` because of them
//! is a 422 naming that dataset.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, fixture, json, problem};
use crate::helpers::{submit, upload_breast_cancer};

/// breast_cancer's rows repeated to `rows` rows (same columns, same label).
fn repeated(rows: usize) -> String {
    let text = String::from_utf8(fixture("breast_cancer.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    let body: Vec<&str> = lines.collect();
    for i in 0..rows {
        out.push_str(body[i % body.len()]);
        out.push('\n');
    }
    out
}

async fn dry_run(app: &TestApp, spec: &Value) -> Value {
    let res = app
        .post("/v1/jobs?dry_run=true")
        .json(spec)
        .send()
        .await
        .unwrap();
    json(res, 200).await["estimate"].clone()
}

fn term(estimate: &Value, prefix: &str) -> u64 {
    estimate["memory"]["terms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} term: {estimate}"))["bytes"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn pretraining_rows_and_a_test_dataset_count_in_the_estimate_and_its_limit() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let res = app
        .upload_csv("label=label&name=more", repeated(20_000))
        .await;
    let extra = json(res, 201).await["id"].as_str().unwrap().to_owned();
    let plain = json!({"dataset_id": ds, "model": {"hidden_layers": [512]},
                       "validation": {"folds": 2}, "final_model": false});
    let mut pretrained = plain.clone();
    pretrained["pretrain"] = json!({"kind": "autoencoder", "epochs": 1, "dataset_id": extra});
    let mut tested = plain.clone();
    tested["final_model"] = json!(true);
    tested["validation"]["test_dataset_id"] = json!(extra);

    let base = dry_run(&app, &plain).await;
    let with_pretraining = dry_run(&app, &pretrained).await;
    let with_test = dry_run(&app, &tested).await;
    // By hand: 20,000 extra rows (and ~285 of the fold's), each with its 30 inputs and the
    // 512-wide output of the one hidden layer, 4 bytes a float.
    assert!(
        term(&with_pretraining, "pretraining") >= 20_000 * (30 + 512) * 4,
        "{with_pretraining}"
    );
    assert_eq!(term(&base, "pretraining"), 0);
    // Its 31 columns loaded and appended, its 30 inputs encoded.
    assert!(
        term(&with_test, "test dataset") >= 20_000 * (31 * 2 + 30) * 4,
        "{with_test}"
    );
    let bytes = |e: &Value| e["memory_bytes"].as_u64().unwrap();
    assert!(bytes(&with_pretraining) > bytes(&base) && bytes(&with_test) > bytes(&base));

    // Between the plain job's needs and the others': they are refused, naming their dataset.
    let limit = bytes(&base) + (bytes(&with_pretraining).min(bytes(&with_test)) - bytes(&base)) / 2;
    let app = TestApp::spawn_with(|s| s.limits.max_job_memory_bytes = limit).await;
    let ds = upload_breast_cancer(&app).await;
    let res = app
        .upload_csv("label=label&name=more", repeated(20_000))
        .await;
    let extra = json(res, 201).await["id"].as_str().unwrap().to_owned();
    let with = |mut spec: Value| {
        spec["dataset_id"] = json!(ds);
        if spec["pretrain"].is_object() {
            spec["pretrain"]["dataset_id"] = json!(extra);
        }
        if spec["validation"]["test_dataset_id"].is_string() {
            spec["validation"]["test_dataset_id"] = json!(extra);
        }
        spec
    };
    assert_eq!(submit(&app, with(plain)).await.status(), 202);
    let p = problem(submit(&app, with(pretrained)).await, 422).await;
    assert_eq!(error_fields(&p), ["pretrain.dataset_id"], "{p}");
    let p = problem(submit(&app, with(tested)).await, 422).await;
    assert_eq!(error_fields(&p), ["validation.test_dataset_id"], "{p}");
}

/// A GRU too large for memory names the field that sizes it, `model.hidden_size`.
#[tokio::test]
async fn a_gru_over_the_memory_limit_names_its_hidden_size() {
    let app = TestApp::spawn().await;
    let body = crate::helpers::ts_fixture("GunPoint_TRAIN.ts");
    let res = crate::helpers::upload_ts(&app, "", "text/x-ts", body).await;
    let ds = json(res, 201).await["id"].as_str().unwrap().to_owned();
    let spec = json!({"dataset_id": ds, "model": {"kind": "gru", "hidden_size": 4096}});
    let p = problem(submit(&app, spec).await, 422).await;
    assert_eq!(error_fields(&p), ["model.hidden_size"], "{p}");
}
