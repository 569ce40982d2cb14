//! A tuned decision threshold against resampling and class weights on caravan (issue 28,
//! acceptance 4): one comparison job per seed through the API (standard spec: hidden [64, 64],
//! relu, Adam 1e-3, batch 64, 20 epochs, l2 1e-4, 5 folds, no early stopping) over `none`,
//! `class_weight`, `oversample`, `undersample` and `smote` with `imbalance.threshold: "tuned"`.
//! Per strategy and seed it prints the folds' mean balanced accuracy at the argmax and at the
//! threshold tuned on the other folds (cross-fitted, as the leaderboard reports it), and the
//! folds' mean Brier score (the probabilities', which the threshold does not move).
//!
//! Goal: `none` with its tuned threshold ≥ `class_weight`'s argmax balanced accuracy − 0.01,
//! and `none`'s Brier score below every resampling strategy's (means over the seeds).
//! Run: `cargo bench --bench threshold` (`THRESHOLD_SEEDS=0,1,2` by default). Ends with JSON
//! lines.

use serde_json::{Value, json};

#[path = "support/server.rs"]
mod server;
use server::Server;

const STRATEGIES: [&str; 5] = ["none", "class_weight", "oversample", "undersample", "smote"];

fn spec(ds: &str, seed: u64) -> Value {
    json!({
        "dataset_id": ds, "seed": seed, "final_model": false,
        "model": {"hidden_layers": [64, 64], "activation": "relu"},
        "optimizer": {"kind": "adam", "learning_rate": 0.001},
        "training": {"epochs": 20, "batch_size": 64, "l2": 0.0001, "early_stopping": null},
        "validation": {"folds": 5},
        "imbalance": {"strategy": STRATEGIES, "threshold": "tuned"}
    })
}

/// One strategy's row: balanced accuracy at the argmax and tuned, Brier score, threshold.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    argmax: f64,
    tuned: f64,
    brier: f64,
    threshold: f64,
}

fn row_of(standing: &Value) -> Row {
    let mean = |v: &Value, k: &str| v[k]["mean"].as_f64().unwrap();
    Row {
        argmax: mean(&standing["summary"], "balanced_accuracy"),
        tuned: mean(&standing["threshold"]["summary"], "balanced_accuracy"),
        brier: mean(&standing["summary"], "brier_score"),
        threshold: standing["threshold"]["value"].as_f64().unwrap(),
    }
}

#[tokio::main]
async fn main() {
    let seeds: Vec<u64> = std::env::var("THRESHOLD_SEEDS")
        .unwrap_or_else(|_| "0,1,2".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let server = Server::start(&["--workers", "2"]);
    let c = reqwest::Client::new();
    let ds = server
        .shared_dataset(&c, "caravan.csv", &mut Default::default())
        .await;
    println!("| seed | strategy | balanced accuracy (argmax) | tuned | threshold | Brier |");
    println!("|---|---|---|---|---|---|");
    let mut lines = Vec::new();
    let mut sums = vec![Row::default(); STRATEGIES.len()];
    for &seed in &seeds {
        let id = server.submit(&c, &spec(&ds, seed)).await;
        let job = server.wait_job(&c, &id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let m = server.get_json(&c, &format!("/v1/jobs/{id}/metrics")).await;
        for (i, s) in STRATEGIES.iter().enumerate() {
            let standing = (m["leaderboard"].as_array().unwrap().iter())
                .find(|r| r["strategy"] == *s)
                .unwrap();
            let r = row_of(standing);
            println!(
                "| {seed} | {s} | {:.4} | {:.4} | {:.4} | {:.4} |",
                r.argmax, r.tuned, r.threshold, r.brier
            );
            lines.push(json!({"bench": "threshold", "seed": seed, "strategy": s,
                "balanced_accuracy": r.argmax, "tuned_balanced_accuracy": r.tuned,
                "threshold": r.threshold, "brier_score": r.brier}));
            let sum = &mut sums[i];
            (sum.argmax, sum.tuned) = (sum.argmax + r.argmax, sum.tuned + r.tuned);
            (sum.brier, sum.threshold) = (sum.brier + r.brier, sum.threshold + r.threshold);
        }
    }
    let n = seeds.len() as f64;
    println!("\nMeans over seeds {seeds:?}:\n");
    println!("| strategy | balanced accuracy (argmax) | tuned | Brier |");
    println!("|---|---|---|---|");
    for (s, r) in STRATEGIES.iter().zip(&sums) {
        println!(
            "| {s} | {:.4} | {:.4} | {:.4} |",
            r.argmax / n,
            r.tuned / n,
            r.brier / n
        );
    }
    let (none, weighted) = (&sums[0], &sums[1]);
    let gap = (none.tuned - weighted.argmax) / n;
    let resampled_brier = sums[2..]
        .iter()
        .map(|r| r.brier / n)
        .fold(f64::MAX, f64::min);
    println!(
        "\nnone tuned − class_weight argmax: {gap:+.4} (goal ≥ −0.01); none's Brier {:.4} vs the \
         resampling strategies' lowest {resampled_brier:.4} (goal: lower)",
        none.brier / n
    );
    lines.push(
        json!({"bench": "threshold", "summary": true, "seeds": seeds,
        "none_tuned_minus_class_weight": gap, "none_brier": none.brier / n,
        "lowest_resampling_brier": resampled_brier}),
    );
    for l in lines {
        println!("{l}");
    }
}
