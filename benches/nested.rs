//! Nested cross-validation on caravan through the API of the release binary (2 workers): an
//! asha search of 20 trials (the README's space; rungs at 3, 9 and 27 epochs, η 3; 5 inner
//! folds; ranked by held-out log loss) nested in 5 outer folds. Prints, per outer fold, what
//! its search chose, the chosen trial's inner mean and its final model's score on the outer
//! fold; then the outer estimate, the inner best, the optimism and the wall time. Ends with a
//! JSON line.
//!
//! Run: `cargo bench --bench nested`.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

#[path = "support/server.rs"]
mod server;
use server::Server;

#[tokio::main]
async fn main() {
    let s = Server::start(&["--workers", "2"]);
    let c = reqwest::Client::new();
    let ds = s
        .shared_dataset(&c, "caravan.csv", &mut BTreeMap::new())
        .await;
    let spec = json!({"dataset_id": ds, "seed": 0, "name": "nested caravan", "final_model": false,
        "optimizer": {"kind": "adam"},
        "training": {"epochs": 27, "batch_size": 64, "early_stopping": null},
        "validation": {"folds": 5, "outer_folds": 5},
        "imbalance": {"rank_by": "log_loss"},
        "search": {"method": "asha", "trials": 20, "reduction_factor": 3, "min_epochs": 3,
            "space": {"optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]},
                      "model.hidden_layers": {"choice": [[32], [128, 64], [256, 256]]},
                      "model.dropout": {"uniform": [0.0, 0.5]}}}});
    let started = Instant::now();
    let id = s.submit(&c, &spec).await;
    s.wait_job(&c, &id).await;
    let n = loop {
        let m = s.get_json(&c, &format!("/v1/jobs/{id}/metrics")).await;
        if m["nested"]["complete"] == true {
            break m["nested"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("model name"))?;
            Some(line[line.find(':')? + 1..].trim().to_owned())
        })
        .unwrap_or_default();
    println!("CPU: {cpu}; caravan, 20-trial asha search, 5 inner × 5 outer folds, log loss\n");
    println!("| outer fold | chosen | inner mean | outer fold's score |\n|---|---|---|---|");
    for f in n["folds"].as_array().unwrap() {
        println!(
            "| {} | {} | {:.4} | {:.4} |",
            f["outer_fold"],
            f["chosen"].as_str().unwrap_or(""),
            f["inner"].as_f64().unwrap_or(f64::NAN),
            f["outer"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let estimate = &n["outer_estimate"];
    println!(
        "\nouter estimate {:.4} ± {:.4}; inner best {:.4}; optimism {:+.4}; {seconds:.0} s in all",
        estimate["mean"].as_f64().unwrap(),
        estimate["std"].as_f64().unwrap(),
        n["inner_best"].as_f64().unwrap(),
        n["optimism"].as_f64().unwrap()
    );
    println!(
        "{}",
        json!({"bench": "nested", "dataset": "caravan", "trials": 20, "outer_folds": 5,
               "inner_folds": 5, "metric": n["metric"], "outer_estimate": estimate,
               "inner_best": n["inner_best"], "optimism": n["optimism"], "seconds": seconds,
               "cpu": cpu})
    );
}
