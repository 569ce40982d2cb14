//! Hostile-input benchmarks against the real binary (release build, its own process and
//! database each time, so its peak memory is its own):
//! (1) one caravan job with 100 `/events` clients watching vs none, side by side, twice
//!     (target: the watched job within 1.5× of the unwatched);
//! (2) the server's peak RSS (VmHWM) through the three cases that exhausted memory before:
//!     a 64 × 4096 spec, a 1,000-column × 1,000-category dataset, and a 5,000-row 1,000-class
//!     job's metrics, out-of-fold predictions and predict (target: each under 1.5 GB);
//! (3) the job memory estimate (`estimate.memory_bytes` of the dry run) against the peak RSS of
//!     a fresh server that ran only that job (target: within 2× either way).
//!
//! (4) each upload format's peak RSS against its body and the table it stores (target: the
//!     growth over idle ≤ 4 × body + table), and a row or step limit refused as the body
//!     streams (peak far below the whole body's);
//! (5) the estimate against peak RSS for what it missed before: pretraining on a large
//!     unlabeled set, a large test set, a GRU on many one-step sequences (target: peak ≤ 2 ×
//!     estimate), and a pretraining job beyond `max_job_memory_bytes` refused;
//! (6) a run's wall time against its epochs: 60 rows, one hidden layer of 2, full batch, 2
//!     folds, 1,000 to 8,000 epochs (target: 8 × the epochs within 10 × the time).
//!
//! Run: `cargo bench --bench hostile` (or name sections: `-- uploads estimates`). Prints a final
//! JSON line.

use std::time::Instant;

use serde_json::{Value, json};

#[path = "support/server.rs"]
mod server;
use server::Server;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

async fn upload(c: &reqwest::Client, s: &Server, csv: Vec<u8>) -> Value {
    s.upload_csv(c, "label=label", csv).await
}

async fn post(c: &reqwest::Client, s: &Server, path: &str, body: &Value) -> (u16, Value) {
    let res = c.post(s.url(path)).json(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn caravan() -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/caravan.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn standard(ds: &Value) -> Value {
    json!({
        "dataset_id": ds["id"], "seed": 0, "final_model": false,
        "model": {"hidden_layers": [64, 64], "activation": "relu"},
        "optimizer": {"kind": "adam", "learning_rate": 0.001},
        "training": {"epochs": 20, "batch_size": 64, "l2": 0.0001, "early_stopping": null},
        "validation": {"folds": 5}
    })
}

/// Seconds of one standard caravan job with `watchers` event streams open on it.
async fn watched_job(c: &reqwest::Client, s: &Server, ds: &Value, watchers: usize) -> f64 {
    let started = Instant::now();
    let (status, job) = post(c, s, "/v1/jobs", &standard(ds)).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let streams: Vec<_> = (0..watchers)
        .map(|_| {
            let (c, url) = (c.clone(), s.url(&format!("/v1/jobs/{id}/events")));
            tokio::spawn(async move {
                let res = c.get(url).send().await.unwrap();
                assert_eq!(res.status(), 200);
                res.bytes().await.unwrap().len()
            })
        })
        .collect();
    let done = s.wait_job(c, &id).await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(done["status"], "succeeded");
    for stream in streams {
        assert!(
            stream.await.unwrap() > 0,
            "every stream got the job's events"
        );
    }
    seconds
}

/// A CSV of `rows` × `columns` categorical features of `categories` values each, and a label.
fn wide_categorical(rows: usize, columns: usize, categories: usize) -> Vec<u8> {
    let mut csv = (0..columns)
        .map(|c| format!("c{c}"))
        .collect::<Vec<_>>()
        .join(",")
        + ",label\n";
    for r in 0..rows {
        for c in 0..columns {
            csv.push_str(&format!("v{},", (r * 7 + c) % categories));
        }
        csv.push_str(&format!("{}\n", r % 2));
    }
    csv.into_bytes()
}

/// 5,000 rows of 20 numeric features and 1,000 classes of 5 rows each.
fn many_classes() -> Vec<u8> {
    let mut csv = (0..20)
        .map(|c| format!("x{c}"))
        .collect::<Vec<_>>()
        .join(",")
        + ",label\n";
    for r in 0..5000usize {
        let class = r % 1000;
        for f in 0..20 {
            csv.push_str(&format!(
                "{},",
                ((class * 31 + f * 17 + r) % 97) as f32 / 97.0
            ));
        }
        csv.push_str(&format!("k{class}\n"));
    }
    csv.into_bytes()
}

#[tokio::main]
async fn main() {
    let c = reqwest::Client::new();
    let mut out = serde_json::Map::new();
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |section: &str| named.is_empty() || named.iter().any(|n| n == section);
    if run("streams") {
        streams_and_rss(&c, &mut out).await;
    }
    if run("uploads") {
        memory::uploads(&c, &mut out).await;
    }
    if run("estimates") {
        memory::estimates(&c, &mut out).await;
    }
    if run("epochs") {
        memory::epochs(&c, &mut out).await;
    }
    println!("{}", Value::Object(out));
}

/// Sections (1) to (3).
async fn streams_and_rss(c: &reqwest::Client, out: &mut serde_json::Map<String, Value>) {
    let c = c.clone();
    println!(
        "(1) 100 event streams on one job vs none (caravan, standard spec, 5 folds, 2 workers)"
    );
    let s = Server::start(&["--workers", "2", "--max-event-streams", "200"]);
    let ds = upload(&c, &s, caravan()).await;
    let mut ratios = Vec::new();
    for round in 0..2 {
        let none = watched_job(&c, &s, &ds, 0).await;
        let hundred = watched_job(&c, &s, &ds, 100).await;
        println!(
            "    round {round}: none {none:.2} s, 100 streams {hundred:.2} s, ratio {:.2}",
            hundred / none
        );
        ratios.push(hundred / none);
    }
    let worst = ratios.iter().copied().fold(0.0, f64::max);
    println!("    worst ratio {worst:.2} (target ≤ 1.5)");
    out.insert("sse_100_ratio".into(), json!(worst));
    drop(s);

    println!(
        "(2) peak RSS (VmHWM) through the cases that exhausted memory (target < 1536 MiB each)"
    );
    let s = Server::start(&["--workers", "2", "--max-event-streams", "200"]);
    let idle = s.peak_rss();
    let bc = std::fs::read(format!(
        "{}/tests/fixtures/breast_cancer.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let ds = upload(&c, &s, bc).await;
    let (status, p) = post(
        &c,
        &s,
        "/v1/jobs",
        &json!({"dataset_id": ds["id"], "model": {"hidden_layers": vec![4096; 64]}}),
    )
    .await;
    println!(
        "    64 × 4096 spec: {status} ({}); peak {:.0} MiB (idle {:.0})",
        p["errors"][0]["field"],
        mib(s.peak_rss()),
        mib(idle)
    );
    out.insert("rss_deep_wide_mib".into(), json!(mib(s.peak_rss())));
    drop(s);

    let s = Server::start(&["--workers", "2", "--max-event-streams", "200"]);
    let wide = upload(&c, &s, wide_categorical(1000, 1000, 1000)).await;
    let (status, p) = post(&c, &s, "/v1/jobs", &json!({"dataset_id": wide["id"]})).await;
    println!(
        "    1,000 × 1,000-category dataset ({} rows): job {status} ({}); peak {:.0} MiB",
        wide["rows"],
        p["errors"][0]["field"],
        mib(s.peak_rss())
    );
    out.insert("rss_wide_categorical_mib".into(), json!(mib(s.peak_rss())));
    drop(s);

    let s = Server::start(&["--workers", "2", "--max-event-streams", "200"]);
    let ds = upload(&c, &s, many_classes()).await;
    let spec = json!({"dataset_id": ds["id"], "seed": 0, "model": {"hidden_layers": [32]},
                      "training": {"epochs": 2, "early_stopping": null}, "validation": {"folds": 5},
                      "imbalance": {"strategy": ["none", "class_weight", "oversample"]}});
    let (status, job) = post(&c, &s, "/v1/jobs", &spec).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(s.wait_job(&c, &id).await["status"], "succeeded");
    let trained = s.peak_rss();
    let metrics = c
        .get(s.url(&format!("/v1/jobs/{id}/metrics")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let after_metrics = s.peak_rss();
    let (mut items, mut cursor) = (0usize, None::<String>);
    loop {
        let path = match &cursor {
            Some(cur) => format!("/v1/jobs/{id}/predictions?cursor={cur}"),
            None => format!("/v1/jobs/{id}/predictions"),
        };
        let page: Value = c
            .get(s.url(&path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        items += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let csv = c
        .get(s.url(&format!("/v1/jobs/{id}/predictions")))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let after_predictions = s.peak_rss();
    let rows: Vec<Value> = (0..1000).map(|_| json!({})).collect();
    let (p1, _) = post(
        &c,
        &s,
        &format!("/v1/jobs/{id}/predict"),
        &json!({"rows": rows}),
    )
    .await;
    let (p2, _) = post(
        &c,
        &s,
        &format!("/v1/jobs/{id}/predict?ensemble=folds"),
        &json!({"rows": rows}),
    )
    .await;
    let (p3, _) = post(
        &c,
        &s,
        &format!("/v1/jobs/{id}/predict"),
        &json!({"rows": vec![json!({}); 100_000]}),
    )
    .await;
    println!(
        "    5,000 rows, 1,000 classes, 3 strategies: trained {:.0} MiB; metrics ({} KB) {:.0} MiB; \
         predictions ({items} items in pages, {:.0} MB as CSV) {:.0} MiB; predict 1,000 rows {p1}, \
         fold ensemble {p2}, 100,000 rows {p3}: {:.0} MiB",
        mib(trained),
        metrics.len() / 1000,
        mib(after_metrics),
        csv.len() as f64 / 1e6,
        mib(after_predictions),
        mib(s.peak_rss())
    );
    out.insert("rss_many_classes_mib".into(), json!(mib(s.peak_rss())));
    drop(s);

    println!("(3) the memory estimate vs the server's peak RSS with only that job (one worker)");
    let mut worst = 1.0f64;
    for (name, hidden, strategy) in [
        ("caravan [64, 64]", vec![64, 64], "none"),
        ("caravan [512, 512]", vec![512, 512], "none"),
        ("caravan [1024, 1024, 1024]", vec![1024, 1024, 1024], "none"),
        (
            "caravan [256, 256] easy_ensemble",
            vec![256, 256],
            "easy_ensemble",
        ),
    ] {
        let s = Server::start(&["--workers", "1"]);
        let ds = upload(&c, &s, caravan()).await;
        let spec = json!({"dataset_id": ds["id"], "final_model": false, "model": {"hidden_layers": hidden},
                          "training": {"epochs": 3, "early_stopping": null}, "validation": {"folds": 2},
                          "imbalance": {"strategy": strategy}});
        let (_, dry) = post(&c, &s, "/v1/jobs?dry_run=true", &spec).await;
        let estimate = dry["estimate"]["memory_bytes"].as_u64().unwrap();
        let (status, job) = post(&c, &s, "/v1/jobs", &spec).await;
        assert_eq!(status, 202, "{job}");
        assert_eq!(
            s.wait_job(&c, job["id"].as_str().unwrap()).await["status"],
            "succeeded"
        );
        let peak = s.peak_rss();
        let ratio = estimate as f64 / peak as f64;
        if ratio.max(1.0 / ratio) > worst.max(1.0 / worst) {
            worst = ratio;
        }
        println!(
            "    {name}: estimate {:.0} MiB, peak RSS {:.0} MiB, ratio {ratio:.2}",
            mib(estimate),
            mib(peak)
        );
    }
    println!("    worst estimate/measured {worst:.2} (target within 0.5–2)");
    out.insert("estimate_over_measured_worst".into(), json!(worst));
}

#[path = "hostile/memory.rs"]
mod memory;
