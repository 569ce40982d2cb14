//! Acceptance of the sequence models on the UEA/UCR archive's own splits, through the API of
//! the release binary: for GunPoint, ItalyPowerDemand, BasicMotions and JapaneseVowels, upload
//! `_TRAIN.ts`, run the reference spec (GRU 64, additive attention, Adam 1e-3, batch 16, 150
//! epochs, no early stopping, 5 folds plus the final model), predict `_TEST.ts` with the final
//! model, and set its test accuracy beside the 5-fold CV accuracy and the PyTorch reference's
//! mean − 1 std (`../shared/reference/SEQUENCES.md`, additive column), and beside it the fold
//! ensemble's test accuracy (`?ensemble=folds`) and the default answer's (no `ensemble`: the
//! final model, or the fold ensemble when the job found the final model unconverged). Ends
//! with a JSON line.
//!
//! Run: `cargo bench --bench sequence_accuracy` (`-- <dataset>…` runs only those; `EPOCHS`
//! overrides 150 for a quick look, which the reference does not bound; `SEEDS=0,1,2,3,4` runs
//! each dataset with those seeds, the reference's five, and prints the means;
//! `FINAL_MODEL='{"epochs": "fold_loss"}'` sets the spec's `final_model`, `true` by default;
//! `SWA_EPOCHS=30` sets `training.swa_epochs`, weight averaging over the last 30 epochs).

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
    let seeds: Vec<u64> = std::env::var("SEEDS")
        .unwrap_or_else(|_| "0".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let server = Server::start(&[]);
    let c = reqwest::Client::new();
    println!("GRU 64, additive attention, Adam 1e-3, batch 16, {epochs} epochs, 5 folds + final");
    println!(
        "{:<18} {:>4} {:>16} {:>9} {:>9} {:>14} {:>7} {:>8}",
        "dataset",
        "seed",
        "5-fold CV acc",
        "test acc",
        "folds acc",
        "needed (m − s)",
        "holds",
        "seconds"
    );
    let mut rows = Vec::new();
    for (name, mean, std) in CASES {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let (mut finals, mut ensembles, mut defaults) = (Vec::new(), Vec::new(), Vec::new());
        for &seed in &seeds {
            let case = Case { name, epochs, seed };
            let row = case.run(&c, &server, mean - std).await;
            finals.push(row["test_accuracy"].as_f64().unwrap());
            ensembles.push(row["folds_test_accuracy"].as_f64().unwrap());
            defaults.push(row["default_test_accuracy"].as_f64().unwrap());
            rows.push(row);
        }
        if seeds.len() > 1 {
            let (m, s) = mean_std(&finals);
            let (em, es) = mean_std(&ensembles);
            let (dm, ds) = mean_std(&defaults);
            let lowest = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
            println!(
                "{name}: final model {m:.3} ± {s:.3} (lowest {:.3}), fold ensemble {em:.3} ± \
                 {es:.3}, default answer {dm:.3} ± {ds:.3} (lowest {:.3}), reference {mean:.3} \
                 ± {std:.3}",
                lowest(&finals),
                lowest(&defaults)
            );
        }
    }
    println!(
        "{}",
        json!({"epochs": epochs, "seeds": seeds, "cases": rows})
    );
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0).max(1.0);
    (m, var.sqrt())
}

/// One dataset with one seed.
struct Case {
    name: &'static str,
    epochs: u64,
    seed: u64,
}

/// The spec's `final_model`: `FINAL_MODEL` (JSON), else `true`.
fn final_model() -> Value {
    let set = std::env::var("FINAL_MODEL").ok();
    set.map_or(json!(true), |v| {
        serde_json::from_str(&v).expect("FINAL_MODEL is JSON")
    })
}

/// The spec's `training.swa_epochs`: `SWA_EPOCHS`, else off.
fn swa_epochs() -> Option<u64> {
    let set = std::env::var("SWA_EPOCHS").ok();
    set.map(|v| v.parse().expect("SWA_EPOCHS is a count of epochs"))
}

impl Case {
    /// Trains the reference spec and predicts the test split with the final model and with
    /// the fold ensemble; prints a row and returns it as JSON.
    async fn run(&self, c: &reqwest::Client, server: &Server, needed: f64) -> Value {
        let (name, seed) = (self.name, self.seed);
        let started = std::time::Instant::now();
        let train = std::fs::read(format!("{DATA}/{name}_TRAIN.ts")).unwrap();
        let ds = server
            .upload(c, &format!("name={name}"), "text/x-ts", train)
            .await;
        let spec = json!({
            "dataset_id": ds["id"],
            "model": {"kind": "gru", "hidden_size": 64, "attention": "additive"},
            "optimizer": {"kind": "adam", "learning_rate": 0.001},
            "training": {"batch_size": 16, "epochs": self.epochs, "early_stopping": null,
                         "swa_epochs": swa_epochs()},
            "validation": {"folds": 5},
            "final_model": final_model(),
            "seed": seed
        });
        let body = spec.to_string().into_bytes();
        let job = post(c, server, "/v1/jobs", "application/json", body).await;
        let id = job["id"].as_str().unwrap().to_owned();
        let done = server.wait_job(c, &id).await;
        assert_eq!(done["status"], "succeeded", "{name}: {done}");
        let cv = &done["summary"]["accuracy"];
        let test = std::fs::read(format!("{DATA}/{name}_TEST.ts")).unwrap();
        let (mut accuracy, mut by) = (Vec::new(), String::new());
        for ensemble in ["?ensemble=final", "?ensemble=folds", ""] {
            let path = format!("/v1/jobs/{id}/predict{ensemble}");
            let predicted = post(c, server, &path, "text/x-ts", test.clone()).await;
            accuracy.push(predicted["accuracy"].as_f64().unwrap());
            by = predicted["answered_by"].as_str().unwrap_or("").to_owned();
        }
        let holds = accuracy[0] >= needed - 1e-9;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{:<18} {:>4} {:>9.3} ± {:.3} {:>9.3} {:>9.3} {:>7.3} ({:>5}) {:>14.3} {:>7} {:>8.1}",
            name,
            seed,
            cv["mean"].as_f64().unwrap(),
            cv["std"].as_f64().unwrap(),
            accuracy[0],
            accuracy[1],
            accuracy[2],
            by,
            needed,
            if holds { "yes" } else { "NO" },
            seconds
        );
        json!({
            "dataset": name, "seed": seed, "cv_accuracy_mean": cv["mean"],
            "cv_accuracy_std": cv["std"], "test_accuracy": accuracy[0],
            "folds_test_accuracy": accuracy[1], "default_test_accuracy": accuracy[2],
            "answered_by": by, "needed": needed, "holds": holds,
            "seconds": seconds, "job_id": id
        })
    }
}
