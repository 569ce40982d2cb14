//! `GET …/model.onnx`: every strategy kind's exported model (plain with batch norm and skips,
//! an ensemble, one-class, prior-corrected, threshold-tuned, a fold ensemble) answers raw rows
//! with missing cells and unseen categories as predict does (`?unseen=zeros`), to 1e-5: in
//! tract here, and in onnxruntime (with `onnx.checker`'s full check) in the Python test CI
//! runs.

use serde_json::{Value, json};
use tract_onnx::prelude::*;

use crate::helpers::{
    TestApp, error_fields, json, problem, queued, succeeded_with, wait_until_finished,
};

/// Seeded uniform draws in [0, 1) (a 64-bit LCG's top 53 bits).
pub fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seeded table of two numeric columns (one with missing cells), a categorical one (with
/// missing cells) and a two-class label, about a quarter "yes".
fn mixed_csv(rows: usize, seed: u64, label: bool) -> String {
    let mut next = uniform(seed);
    let mut out = String::from(if label {
        "x1,x2,colour,label\n"
    } else {
        "x1,x2,colour\n"
    });
    for _ in 0..rows {
        let x1 = next() * 4.0 - 2.0;
        let x2 = (next() * 10.0 + 50.0, next() < 0.1);
        // Rows to predict also have a colour training never saw.
        let colour = match label {
            true => ["red", "green", "blue", ""][(next() * 3.3) as usize % 4],
            false => ["red", "green", "blue", "", "purple"][(next() * 4.4) as usize % 5],
        };
        let shift = match colour {
            "red" => 1.0,
            "green" => -0.5,
            _ => 0.0,
        };
        let score = x1 + shift + if x2.1 { 0.0 } else { (x2.0 - 55.0) / 5.0 } + next() - 0.5;
        let x2 = if x2.1 {
            String::new()
        } else {
            format!("{:.4}", x2.0)
        };
        out.push_str(&format!("{x1:.4},{x2},{colour}"));
        if label {
            out.push_str(if score > 1.0 { ",yes" } else { ",no" });
        }
        out.push('\n');
    }
    out
}

/// One exported model and what predict answered for the same rows.
pub struct Case {
    pub name: &'static str,
    pub onnx: Vec<u8>,
    pub probabilities: Vec<Vec<f64>>,
    pub labels: Vec<String>,
    /// Which models predict answered with (`final` or `folds`).
    pub answered_by: String,
}

/// The rows every case is scored on, as CSV (predict's body) and as columns.
pub struct Rows {
    pub csv: String,
    pub x1: Vec<f64>,
    pub x2: Vec<f64>,
    pub colour: Vec<String>,
}

pub fn rows() -> Rows {
    let csv = mixed_csv(1000, 99, false);
    let (mut x1, mut x2, mut colour) = (Vec::new(), Vec::new(), Vec::new());
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        x1.push(cells[0].parse().unwrap());
        x2.push(cells[1].parse().unwrap_or(f64::NAN));
        colour.push(cells[2].to_owned());
    }
    Rows {
        csv,
        x1,
        x2,
        colour,
    }
}

async fn download(app: &TestApp, path: &str) -> Vec<u8> {
    let res = app.get(path).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}: {}", res.text().await.unwrap());
    res.bytes().await.unwrap().to_vec()
}

async fn predicted(
    app: &TestApp,
    job: &str,
    query: &str,
    csv: &str,
) -> ((Vec<Vec<f64>>, Vec<String>), String) {
    let sep = if query.is_empty() { "?" } else { "&" };
    let res = app
        .post(&format!("/v1/jobs/{job}/predict{query}{sep}unseen=zeros"))
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let body = json(res, 200).await;
    // Predict says which rows it encoded an unseen category for (as zeros).
    assert!(
        body["unseen"]["colour"].as_u64().unwrap() > 50,
        "{}",
        body["unseen"]
    );
    let preds = body["predictions"].as_array().unwrap();
    let p = (preds.iter())
        .map(|p| {
            ["no", "yes"]
                .map(|c| p["probabilities"][c].as_f64().unwrap())
                .to_vec()
        })
        .collect();
    let labels = (preds.iter())
        .map(|p| p["label"].as_str().unwrap().to_owned())
        .collect();
    let answered_by = body["answered_by"].as_str().unwrap().to_owned();
    ((p, labels), answered_by)
}

/// Trains one job per strategy kind on the mixed table and exports each.
pub async fn cases(app: &TestApp, rows: &Rows) -> Vec<Case> {
    let ds = json(
        app.upload_csv("label=label", mixed_csv(600, 7, true)).await,
        201,
    )
    .await;
    let base = json!({"dataset_id": ds["id"], "seed": 3,
                      "training": {"epochs": 6, "early_stopping": null},
                      "validation": {"folds": 3}});
    let plain = json!({"model": {"hidden_layers": [16, 12], "batch_norm": true,
                                 "residual": true, "activation": "gelu"}});
    let kinds: [(&'static str, Value, &str); 6] = [
        ("plain", plain.clone(), "?ensemble=final"),
        ("fold ensemble", plain, "?ensemble=folds"),
        (
            "ensemble",
            json!({"imbalance": {"strategy": "easy_ensemble", "n_subsets": 3}}),
            "",
        ),
        (
            "one-class",
            json!({"imbalance": {"strategy": "one_class"}}),
            "",
        ),
        (
            "prior-corrected",
            json!({"model": {"activation": "tanh"}, "imbalance":
            {"strategy": "undersample", "correct_probabilities": true}}),
            "",
        ),
        (
            "threshold-tuned",
            json!({"imbalance": {"threshold": "tuned"}}),
            "",
        ),
    ];
    let mut out = Vec::new();
    for (name, patch, query) in kinds {
        let id = succeeded_with(app, &base, &patch, name).await;
        let onnx = download(app, &format!("/v1/jobs/{id}/model.onnx{query}")).await;
        let ((probabilities, labels), answered_by) = predicted(app, &id, query, &rows.csv).await;
        out.push(Case {
            name,
            onnx,
            probabilities,
            labels,
            answered_by,
        });
    }
    out
}

/// What tract answers for `rows` with the exported model.
fn tract_answers(onnx: &[u8], rows: &Rows) -> (Vec<Vec<f64>>, Vec<String>) {
    let n = rows.x1.len();
    let column = |v: &[f64]| {
        let v = v.iter().map(|&x| x as f32).collect();
        tract_ndarray::Array2::from_shape_vec((n, 1), v).unwrap()
    };
    let colour = tract_ndarray::Array2::from_shape_vec((n, 1), rows.colour.clone()).unwrap();
    let model = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .unwrap()
        .with_input_fact(0, f32::fact([n, 1]).into())
        .unwrap()
        .with_input_fact(1, f32::fact([n, 1]).into())
        .unwrap()
        .with_input_fact(2, String::fact([n, 1]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let inputs = tvec![
        column(&rows.x1).into_tensor().into(),
        column(&rows.x2).into_tensor().into(),
        colour.into_tensor().into(),
    ];
    tract_outputs(&model.run(inputs).unwrap())
}

/// A tract run's outputs: the probabilities and the labels.
pub fn tract_outputs(out: &[TValue]) -> (Vec<Vec<f64>>, Vec<String>) {
    let p = out[0].to_array_view::<f32>().unwrap();
    let p = (p.outer_iter())
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let labels = out[1].to_array_view::<String>().unwrap();
    (p, labels.iter().cloned().collect())
}

/// `got` equals what predict answered, each probability to 1e-5 and every label.
pub fn assert_same(case: &Case, got: &(Vec<Vec<f64>>, Vec<String>), by: &str) {
    assert_eq!(got.0.len(), case.probabilities.len(), "{}: rows", case.name);
    let worst = (got.0.iter().flatten())
        .zip(case.probabilities.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= 1e-5,
        "{} by {by}: probabilities differ by {worst}",
        case.name
    );
    let wrong = (got.1.iter().zip(&case.labels))
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        wrong, 0,
        "{} by {by}: labels differ on {wrong} rows",
        case.name
    );
}

#[tokio::test]
async fn tract_answers_as_predict_for_every_strategy_kind() {
    let app = TestApp::spawn().await;
    let rows = rows();
    for case in cases(&app, &rows).await {
        let got = tract_answers(&case.onnx, &rows);
        assert_same(&case, &got, "tract");
    }
}

/// Fails unless python3 has onnx and onnxruntime.
pub fn needs_onnxruntime() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import onnx, onnxruntime"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "needs python3 with onnx and onnxruntime (pip install -r tests/python/requirements.txt)"
    );
}

/// What onnxruntime answers, after `onnx.checker.check_model(full_check=True)`, and the
/// model's metadata, opsets and IR version as `onnx` reads them.
pub fn onnxruntime_answers(onnx: &[u8], inputs: &Value) -> ((Vec<Vec<f64>>, Vec<String>), Value) {
    let dir = tempfile::tempdir().unwrap();
    let (model, columns) = (dir.path().join("model.onnx"), dir.path().join("rows.json"));
    std::fs::write(&model, onnx).unwrap();
    std::fs::write(&columns, inputs.to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/onnx_answers.py");
    let out = std::process::Command::new("python3")
        .args([script.as_ref(), model.as_os_str(), columns.as_os_str()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = (got["probabilities"].as_array().unwrap().iter())
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    let labels = (got["labels"].as_array().unwrap().iter())
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    ((p, labels), got)
}

#[tokio::test]
#[ignore = "needs python3 with onnx and onnxruntime (.ci/run installs them; run with --include-ignored)"]
async fn onnxruntime_answers_as_predict_for_every_strategy_kind() {
    needs_onnxruntime();
    let app = TestApp::spawn().await;
    let rows = rows();
    for case in cases(&app, &rows).await {
        let x2: Vec<Option<f64>> = (rows.x2.iter())
            .map(|v| (!v.is_nan()).then_some(*v))
            .collect();
        let inputs = json!({"x1": rows.x1, "x2": x2, "colour": rows.colour});
        let (got, model) = onnxruntime_answers(&case.onnx, &inputs);
        assert_same(&case, &got, "onnxruntime");
        let meta = &model["metadata"];
        assert_eq!(meta["classes"], r#"["no","yes"]"#, "{}: {model}", case.name);
        assert!(meta["job"].as_str().unwrap().starts_with("job_"), "{model}");
        assert_eq!(meta["crossfold_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            (model["opset"][""].as_i64(), model["ir_version"].as_i64()),
            (Some(17), Some(8))
        );
        assert_eq!(meta["answered_by"], case.answered_by, "{}", case.name);
        let tuned = case.name == "threshold-tuned";
        assert_eq!(meta["threshold"] != "", tuned, "{}: {model}", case.name);
    }
}

#[tokio::test]
async fn what_cannot_be_exported_is_a_problem_naming_why() {
    let app = TestApp::spawn().await;
    let get = |path: String| app.get(&path).send();
    let p = problem(
        get("/v1/runs/run_nope/model.onnx".into()).await.unwrap(),
        404,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("run_nope"), "{p}");
    let ds = json(
        app.upload_csv("label=label", mixed_csv(60, 1, true)).await,
        201,
    )
    .await;
    let spec =
        json!({"dataset_id": ds["id"], "training": {"epochs": 1}, "validation": {"folds": 2}});
    let id = queued(&app, spec).await;
    // Each bad query is a 422 naming its field: the first checked before the job has a model,
    // the last (a table model has no steps to unroll) after.
    let named = |query: &'static str| {
        let res = get(format!("/v1/jobs/{id}/model.onnx?{query}"));
        async move { error_fields(&problem(res.await.unwrap(), 422).await) }
    };
    assert_eq!(named("ensemble=all&steps=0").await, ["ensemble"]);
    assert_eq!(named("steps=4097").await, ["steps"]);
    wait_until_finished(&app, &id).await;
    assert_eq!(named("steps=8").await, ["steps"]);
    // A feature column with an output's name.
    let mut csv = String::from("probabilities,x,label\n");
    for i in 0..40 {
        csv.push_str(&format!("{},{i},{}\n", i % 7, i % 2));
    }
    let ds = json(app.upload_csv("label=label", csv).await, 201).await;
    let spec =
        json!({"dataset_id": ds["id"], "training": {"epochs": 1}, "validation": {"folds": 2}});
    let id = queued(&app, spec).await;
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let p = problem(get(format!("/v1/jobs/{id}/model.onnx")).await.unwrap(), 409).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"probabilities\" has the name of an output"),
        "{p}"
    );
}
