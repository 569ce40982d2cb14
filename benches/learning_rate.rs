//! `optimizer.learning_rate: "auto"` on the shared diagnostics cases whose problem is the
//! learning rate (too small for SGD, too large for Adam, too large for SGD with momentum), and
//! on five cases the rule was never read off (`exploding_rmsprop_lr1` and `healthy_clipped_sgd`
//! from the file, and RMSprop, Adagrad and Nesterov SGD with batch norm set here), through the
//! API of the release binary: each case's spec with the rate `"auto"`, and with each rate of a
//! 7-point log grid (1e-5 … 10), over seeds 0–2. Per case: the grid's mean metric per rate,
//! the best, auto's mean metric, the rates its runs chose, and its warning and error findings.
//! Acceptance (the first three): auto within 0.02 of the grid's best, with no warning. Ends
//! with JSON lines.
//!
//! Run: `cargo bench --bench learning_rate`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Value, json};

#[path = "support/server.rs"]
mod server;
use server::Server;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");
/// The cases of the shared file the acceptance reads, then those it does not.
const CASES: [&str; 5] = [
    "underfitting_tiny_learning_rate",
    "unstable_adam_high_lr",
    "exploding_sgd_high_lr",
    "exploding_rmsprop_lr1",
    "healthy_clipped_sgd",
];
const ACCEPTANCE: usize = 3;

/// Cases outside the file: other optimizers, sizes and batch norm.
fn more_cases() -> Vec<Value> {
    let case = |name: &str, dataset: &str, metric: &str, spec: Value| json!({"name": name, "dataset": dataset, "remedy_check": {"metric": metric}, "spec": spec});
    let spec = |model: Value, optimizer: Value, epochs: u64, batch: u64| {
        json!({"model": model, "optimizer": optimizer, "validation": {"folds": 3},
               "training": {"epochs": epochs, "batch_size": batch, "early_stopping": null},
               "final_model": false})
    };
    vec![
        case(
            "rmsprop_digits",
            "digits.csv",
            "balanced_accuracy",
            spec(
                json!({"hidden_layers": [128, 128]}),
                json!({"kind": "rmsprop"}),
                20,
                64,
            ),
        ),
        case(
            "adagrad_breast_cancer",
            "breast_cancer.csv",
            "log_loss",
            spec(
                json!({"hidden_layers": [32]}),
                json!({"kind": "adagrad"}),
                40,
                32,
            ),
        ),
        case(
            "nesterov_batch_norm_digits",
            "digits.csv",
            "log_loss",
            spec(
                json!({"hidden_layers": [128, 128], "batch_norm": true}),
                json!({"kind": "sgd", "momentum": 0.9, "nesterov": true}),
                10,
                32,
            ),
        ),
    ]
}
const GRID: [f64; 7] = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];
const SEEDS: [u64; 3] = [0, 1, 2];
const TOLERANCE: f64 = 0.02;

/// The job's mean metric over its folds (`None` when it failed: it diverged).
async fn metric(c: &reqwest::Client, s: &Server, id: &str, name: &str) -> Option<f64> {
    let m = s.get_json(c, &format!("/v1/jobs/{id}/metrics")).await;
    m["summary"][name]["mean"].as_f64()
}

fn warned(job: &Value) -> BTreeSet<String> {
    (job["diagnostics"].as_array().unwrap().iter())
        .filter(|f| f["severity"] != "info")
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The mean over seeds, a failed seed counting as the worst value.
fn mean(values: &[Option<f64>], higher: bool) -> f64 {
    let worst = if higher { 0.0 } else { 10.0 };
    values.iter().map(|v| v.unwrap_or(worst)).sum::<f64>() / values.len() as f64
}

/// One case: the spec with `rate` for every seed, queued; their ids.
async fn queue(
    c: &reqwest::Client,
    s: &Server,
    case: &Value,
    ds: &str,
    rate: Value,
) -> Vec<String> {
    let mut ids = Vec::new();
    for seed in SEEDS {
        let mut spec = case["spec"].clone();
        spec["dataset_id"] = json!(ds);
        spec["seed"] = json!(seed);
        spec["optimizer"]["learning_rate"] = rate.clone();
        ids.push(s.submit(c, &spec).await);
    }
    ids
}

#[tokio::main]
async fn main() {
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{SHARED}/diagnostics/cases.json")).unwrap(),
    )
    .unwrap();
    let mut cases: Vec<Value> = CASES
        .iter()
        .map(|name| {
            let found = file["cases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == *name);
            found.unwrap_or_else(|| panic!("no case {name}")).clone()
        })
        .collect();
    cases.extend(more_cases());
    let s = Server::start(&["--workers", "2"]);
    let c = reqwest::Client::new();
    let started = Instant::now();
    let mut datasets: BTreeMap<String, String> = BTreeMap::new();
    let mut queued = Vec::new();
    for case in &cases {
        let file = case["dataset"].as_str().unwrap();
        let ds = s.shared_dataset(&c, file, &mut datasets).await;
        let auto = queue(&c, &s, case, &ds, json!("auto")).await;
        let mut grid = Vec::new();
        for rate in GRID {
            grid.push(queue(&c, &s, case, &ds, json!(rate)).await);
        }
        queued.push((case, auto, grid));
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l[13..].trim().to_owned())
        })
        .unwrap_or_default();
    println!("CPU: {cpu}; seeds {SEEDS:?}, each job the case's spec and folds\n");
    let mut rows = Vec::new();
    for (i, (case, auto, grid)) in queued.into_iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let metric_name = case["remedy_check"]["metric"]
            .as_str()
            .unwrap_or("balanced_accuracy");
        let higher = metric_name != "log_loss";
        let mut per_rate = Vec::new();
        for ids in &grid {
            let mut values = Vec::new();
            for id in ids {
                s.wait_job(&c, id).await;
                values.push(metric(&c, &s, id, metric_name).await);
            }
            per_rate.push(mean(&values, higher));
        }
        let (mut values, mut warnings, mut chosen) = (Vec::new(), BTreeSet::new(), Vec::new());
        for id in &auto {
            let job = s.wait_job(&c, id).await;
            warnings.extend(warned(&job));
            values.push(metric(&c, &s, id, metric_name).await);
            let runs = s.get_json(&c, &format!("/v1/jobs/{id}/runs")).await;
            chosen.extend(
                (runs["items"].as_array().unwrap().iter())
                    .filter_map(|r| r["learning_rate"].as_f64()),
            );
        }
        let auto_mean = mean(&values, higher);
        let (best_at, best) = (per_rate.iter().enumerate())
            .max_by(|a, b| {
                if higher {
                    a.1.total_cmp(b.1)
                } else {
                    b.1.total_cmp(a.1)
                }
            })
            .map(|(i, v)| (GRID[i], *v))
            .unwrap();
        let gap = if higher {
            best - auto_mean
        } else {
            auto_mean - best
        };
        let ok = gap <= TOLERANCE && warnings.is_empty();
        let role = if i < ACCEPTANCE {
            "acceptance"
        } else {
            "not read off"
        };
        let (lo, hi) = chosen
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)));
        let better = if higher {
            "higher is better"
        } else {
            "lower is better"
        };
        println!("## {name} ({metric_name}, {better}; {role})\n");
        println!("| rate | {} |\n|---|---|", metric_name);
        for (rate, v) in GRID.iter().zip(&per_rate) {
            println!("| {rate:e} | {v:.4} |");
        }
        println!(
            "| **auto** (chose {lo:.2e}–{hi:.2e} over {} runs) | **{auto_mean:.4}** |\n",
            chosen.len()
        );
        println!(
            "best of the grid {best:.4} at {best_at:e}; auto {auto_mean:.4} (gap {gap:+.4}, within {TOLERANCE}: {}); warnings: {}; {}\n",
            gap <= TOLERANCE,
            if warnings.is_empty() {
                "none".to_owned()
            } else {
                warnings.iter().cloned().collect::<Vec<_>>().join(", ")
            },
            if ok { "ok" } else { "MISSED" }
        );
        rows.push(
            json!({"bench": "learning_rate", "case": name, "metric": metric_name,
            "grid": GRID, "grid_means": per_rate, "best": best, "best_rate": best_at,
            "auto": auto_mean, "chosen_min": lo, "chosen_max": hi, "gap": gap,
            "warnings": warnings, "ok": ok, "role": role}),
        );
    }
    println!("{:.0} s in all on {cpu}", started.elapsed().as_secs_f64());
    for r in rows {
        println!("{r}");
    }
}
