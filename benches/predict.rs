//! Predict's rows per second on the caravan MLP (hidden [64, 64]), against onnxruntime on the
//! same model exported as ONNX (issue 30, acceptance 3), one thread each, same run:
//! - through the API: `POST …/predict` with JSON and CSV bodies of 1 and 1,024 rows, one
//!   request at a time;
//! - in process: a row's raw values encoded (`Encoding::encode_row`) and scored
//!   (`Predictor::proba`) in batches of 1 and 1,024, as predict does behind HTTP;
//! - onnxruntime (`benches/reference/onnx_predict_ort.py`, `intra_op_num_threads = 1`) on
//!   `GET …/model.onnx`, batches of 1 and 1,024, the preprocessing inside the graph.
//!
//! Goal: in-process scoring ≥ onnxruntime's rows per second. Run: `cargo bench --bench
//! predict` (`PREDICT_SECONDS`, 2 by default, per measurement). Ends with JSON lines.

use std::time::{Duration, Instant};

use crossfold::engine::checkpoint;
use crossfold::engine::data::encode::{Encoding, Unseen};
use crossfold::ingest::rows::PredictRows;
use serde_json::{Value, json};

#[path = "support/anchors.rs"]
mod anchors;
#[path = "support/server.rs"]
mod server;
use server::Server;

/// caravan's feature columns and its first 1,024 rows (all numeric), as text.
fn caravan() -> (Vec<String>, Vec<Vec<String>>) {
    let path = format!("{}/../shared/data/caravan.csv", env!("CARGO_MANIFEST_DIR"));
    let mut rdr = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_owned).collect();
    let label = header.iter().position(|h| h == "label").unwrap();
    let rows = (rdr.records().take(1024))
        .map(|r| {
            let r = r.unwrap();
            (r.iter().enumerate())
                .filter(|(i, _)| *i != label)
                .map(|(_, v)| v.to_owned())
                .collect()
        })
        .collect();
    let names = header.into_iter().filter(|h| h != "label").collect();
    (names, rows)
}

/// Rows per second of `work` (scoring `rows` rows a call), repeated for about `seconds`.
fn rate(seconds: f64, rows: usize, mut work: impl FnMut()) -> f64 {
    work();
    let (start, mut done) = (Instant::now(), 0usize);
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        work();
        done += rows;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn csv_body(names: &[String], rows: &[Vec<String>]) -> String {
    let mut out = names.join(",");
    for r in rows {
        out.push('\n');
        out.push_str(&r.join(","));
    }
    out
}

fn json_body(names: &[String], rows: &[Vec<String>]) -> Value {
    let rows: Vec<Value> = (rows.iter())
        .map(|r| {
            let cells = names.iter().zip(r).map(|(n, v)| {
                let v: f64 = v.parse().unwrap();
                (n.clone(), json!(v))
            });
            Value::Object(cells.collect())
        })
        .collect();
    json!({ "rows": rows })
}

/// Predict's rows per second through the API, one request of `n` rows at a time.
async fn http_rate(
    server: &Server,
    c: &reqwest::Client,
    job: &str,
    csv: bool,
    body: (String, usize),
    seconds: f64,
) -> f64 {
    let url = server.url(&format!("/v1/jobs/{job}/predict"));
    let (body, n) = body;
    let content_type = if csv { "text/csv" } else { "application/json" };
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        let res = (c.post(&url).header("content-type", content_type))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        res.bytes().await.unwrap();
        done += n;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

/// In-process rows per second: parsed rows encoded (`PredictRows::encode`, as predict does)
/// and scored, `batch` rows a call.
fn in_process(bytes: &[u8], csv: &str, batch: usize, seconds: f64) -> f64 {
    let stored = checkpoint::predictor_from_bytes(bytes).unwrap();
    let encoding = Encoding::from_stored(stored.encoding.as_deref().unwrap()).unwrap();
    let mut predictor = stored.predictor;
    let rows = PredictRows::from_csv(csv.as_bytes(), usize::MAX).unwrap();
    let mut start = 0;
    rate(seconds, batch, || {
        let x = rows
            .encode(&encoding, (start, start + batch), Unseen::Zeros)
            .unwrap();
        std::hint::black_box(predictor.proba(&x, batch));
        start = (start + batch) % (rows.len() - batch + 1);
    })
}

/// onnxruntime's rows per second on `onnx` for batches of 1 and 1,024 (`None` without it).
fn onnxruntime(onnx: &[u8], names: &[String], rows: &[Vec<String>], seconds: f64) -> Option<Value> {
    let dir = tempfile::tempdir().unwrap();
    let (model, columns) = (
        dir.path().join("model.onnx"),
        dir.path().join("columns.json"),
    );
    std::fs::write(&model, onnx).unwrap();
    let cols: serde_json::Map<String, Value> = (names.iter().enumerate())
        .map(|(i, n)| {
            let values: Vec<f64> = rows.iter().map(|r| r[i].parse().unwrap()).collect();
            (n.clone(), json!(values))
        })
        .collect();
    std::fs::write(&columns, Value::Object(cols).to_string()).unwrap();
    let args = [
        model.display().to_string(),
        columns.display().to_string(),
        seconds.to_string(),
    ];
    anchors::reference_script("onnx_predict_ort.py", "onnxruntime", &args)
}

#[tokio::main]
async fn main() {
    let seconds: f64 = (std::env::var("PREDICT_SECONDS").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let server = Server::start(&["--workers", "2"]);
    let c = reqwest::Client::new();
    let ds = server
        .shared_dataset(&c, "caravan.csv", &mut Default::default())
        .await;
    let spec = json!({"dataset_id": ds, "seed": 0, "model": {"hidden_layers": [64, 64]},
                      "training": {"epochs": 5}, "validation": {"folds": 2}});
    let id = server.submit(&c, &spec).await;
    let job = server.wait_job(&c, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let download = |path: String| {
        let c = c.clone();
        let url = server.url(&path);
        async move {
            c.get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec()
        }
    };
    let runs = server.get_json(&c, &format!("/v1/jobs/{id}/runs")).await;
    let run = (runs["items"].as_array().unwrap().iter())
        .find(|r| r["kind"] == "final")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let checkpoint = download(format!("/v1/runs/{run}/checkpoint")).await;
    let onnx = download(format!("/v1/jobs/{id}/model.onnx?ensemble=final")).await;
    let (names, rows) = caravan();
    println!(
        "caravan MLP [64, 64], 85 features; {}",
        anchors::cpu_model()
    );
    println!("| path | rows/request | rows/s |");
    println!("|---|---|---|");
    let mut lines = Vec::new();
    let mut record = |path: &str, batch: usize, value: f64| {
        println!("| {path} | {batch} | {value:.0} |");
        lines.push(json!({"bench": "predict", "path": path, "rows": batch, "rows_per_s": value}));
    };
    for n in [1usize, 1024] {
        let csv = csv_body(&names, &rows[..n]);
        let js = json_body(&names, &rows[..n]).to_string();
        record(
            "http json",
            n,
            http_rate(&server, &c, &id, false, (js, n), seconds).await,
        );
        record(
            "http csv",
            n,
            http_rate(&server, &c, &id, true, (csv, n), seconds).await,
        );
    }
    let all = csv_body(&names, &rows);
    let ours = [1usize, 1024].map(|n| in_process(&checkpoint, &all, n, seconds));
    record("in process", 1, ours[0]);
    record("in process", 1024, ours[1]);
    if let Some(ort) = onnxruntime(&onnx, &names, &rows, seconds) {
        let theirs = ["rows_per_s_1", "rows_per_s_1024"].map(|k| ort[k].as_f64().unwrap());
        record("onnxruntime", 1, theirs[0]);
        record("onnxruntime", 1024, theirs[1]);
        for (i, n) in [1, 1024].into_iter().enumerate() {
            let ratio = ours[i] / theirs[i];
            println!("in process / onnxruntime, {n} rows a call: {ratio:.2}× (goal ≥ 1)");
            lines.push(json!({"bench": "predict", "ratio_vs_onnxruntime": ratio, "rows": n}));
        }
    }
    for l in lines {
        println!("{l}");
    }
}
