//! Acceptance of the sequence models on the UEA/UCR archive's own splits, through the API of
//! the release binary: for GunPoint, ItalyPowerDemand, BasicMotions and JapaneseVowels, upload
//! `_TRAIN.ts`, run the reference spec (GRU 64, additive attention, Adam 1e-3, batch 16, 150
//! epochs, no early stopping, 5 folds plus the final model), predict `_TEST.ts` with the final
//! model, and set its test accuracy beside the 5-fold CV accuracy and the PyTorch reference's
//! mean − 1 std (`../shared/reference/SEQUENCES.md`, additive column). Ends with a JSON line.
//!
//! Run: `cargo bench --bench sequence_accuracy` (`-- <dataset>…` runs only those; `EPOCHS`
//! overrides 150 for a quick look, which the reference does not bound).

use serde_json::{Value, json};

#[path = "support/server.rs"]
mod server;
use server::Server;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/sequences");

/// (dataset, the reference's additive mean and std).
const CASES: [(&str, f64, f64); 4] = [
    ("GunPoint", 0.908, 0.061),
    ("ItalyPowerDemand", 0.967, 0.005),
    ("BasicMotions", 0.980, 0.019),
    ("JapaneseVowels", 0.959, 0.008),
];

async fn post(c: &reqwest::Client, s: &Server, path: &str, ct: &str, body: Vec<u8>) -> Value {
    let res = c
        .post(s.url(path))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

#[tokio::main]
async fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let epochs: u64 = std::env::var("EPOCHS")
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(150);
    let server = Server::start(&[]);
    let c = reqwest::Client::new();
    println!("GRU 64, additive attention, Adam 1e-3, batch 16, {epochs} epochs, 5 folds + final");
    println!(
        "{:<18} {:>16} {:>9} {:>14} {:>7} {:>8}",
        "dataset", "5-fold CV acc", "test acc", "needed (m − s)", "holds", "seconds"
    );
    let mut rows = Vec::new();
    for (name, mean, std) in CASES {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let started = std::time::Instant::now();
        let train = std::fs::read(format!("{DATA}/{name}_TRAIN.ts")).unwrap();
        let ds = server
            .upload(&c, &format!("name={name}"), "text/x-ts", train)
            .await;
        let spec = json!({
            "dataset_id": ds["id"],
            "model": {"kind": "gru", "hidden_size": 64, "attention": "additive"},
            "optimizer": {"kind": "adam", "learning_rate": 0.001},
            "training": {"batch_size": 16, "epochs": epochs, "early_stopping": null},
            "validation": {"folds": 5},
            "final_model": true,
            "seed": 0
        });
        let job = post(
            &c,
            &server,
            "/v1/jobs",
            "application/json",
            spec.to_string().into_bytes(),
        )
        .await;
        let id = job["id"].as_str().unwrap().to_owned();
        let done = server.wait_job(&c, &id).await;
        assert_eq!(done["status"], "succeeded", "{name}: {done}");
        let cv = &done["summary"]["accuracy"];
        let test = std::fs::read(format!("{DATA}/{name}_TEST.ts")).unwrap();
        let predicted = post(
            &c,
            &server,
            &format!("/v1/jobs/{id}/predict"),
            "text/x-ts",
            test,
        )
        .await;
        let accuracy = predicted["accuracy"].as_f64().unwrap();
        let needed = mean - std;
        let holds = accuracy >= needed - 1e-9;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{:<18} {:>9.3} ± {:.3} {:>9.3} {:>14.3} {:>7} {:>8.1}",
            name,
            cv["mean"].as_f64().unwrap(),
            cv["std"].as_f64().unwrap(),
            accuracy,
            needed,
            if holds { "yes" } else { "NO" },
            seconds
        );
        rows.push(json!({
            "dataset": name, "cv_accuracy_mean": cv["mean"], "cv_accuracy_std": cv["std"],
            "test_accuracy": accuracy, "needed": needed, "holds": holds, "seconds": seconds,
            "job_id": id
        }));
    }
    println!("{}", json!({"epochs": epochs, "cases": rows}));
}
