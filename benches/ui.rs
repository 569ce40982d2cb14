//! The dashboard's latency while every core trains: the release binary with one worker per
//! core, a caravan job keeping them all busy, then `GET /`, `/ui/app.js` and `/ui/app.css`
//! 500 times each; p50, p99 and max per asset (target: every request under 50 ms). Ends with a
//! JSON line.
//!
//! Run: `cargo bench --bench ui`.

use std::time::Instant;

use serde_json::json;

#[path = "support/server.rs"]
mod server;
use server::Server;

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = cores.to_string();
    let s = Server::start(&["--workers", &workers]);
    let c = reqwest::Client::new();
    let csv = std::fs::read(format!(
        "{}/tests/fixtures/caravan.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let ds = s.upload_csv(&c, "label=label", csv).await;
    let spec = json!({"dataset_id": ds["id"], "model": {"hidden_layers": [256, 256]},
                      "training": {"epochs": 10_000, "early_stopping": null},
                      "validation": {"folds": 5}});
    let job = c
        .post(s.url("/v1/jobs"))
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    // Every worker busy before measuring.
    s.wait_running(&c, &id, cores).await;
    println!("{cores} runs training (one per core); 500 requests per asset:");
    let mut results = serde_json::Map::new();
    let mut worst = 0.0f64;
    for path in ["/", "/ui/app.js", "/ui/app.css"] {
        let mut lat = Vec::with_capacity(500);
        for _ in 0..500 {
            let start = Instant::now();
            let res = c.get(s.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.bytes().await.unwrap();
            lat.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        let (p50, p99, max) = (lat[249], lat[494], lat[499]);
        worst = worst.max(max);
        println!("  GET {path:<12} p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms");
        results.insert(
            path.into(),
            json!({"p50_ms": p50, "p99_ms": p99, "max_ms": max}),
        );
    }
    println!(
        "slowest request {worst:.2} ms (target < 50 ms): {}",
        if worst < 50.0 { "holds" } else { "MISSED" }
    );
    c.post(s.url(&format!("/v1/jobs/{id}/cancel")))
        .send()
        .await
        .unwrap();
    println!(
        "{}",
        json!({"bench": "ui", "cores_training": cores, "assets": results, "max_ms": worst})
    );
}
