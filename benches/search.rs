//! Hyperparameter search against the tools people use for it, same machine, same run: on
//! breast_cancer, digits and caravan, crossfold's `asha` search (24 trials, 5 folds, rungs at
//! 5, 15 and 45 epochs, η 3; the space of README's example: learning rate log-uniform
//! 1e-4–1e-1, hidden layers [32] | [128, 64] | [256, 256], dropout 0–0.5; ranked by held-out
//! log loss) through the API with 2 workers, next to
//! - crossfold's `random` search over the same 24 trials, every trial to 45 epochs (acceptance
//!   2: asha within 0.005 of its best with ≤ 1/3 of its epochs);
//! - Optuna with PyTorch, TPE sampler and Hyperband pruner, the same space, folds and epoch
//!   budget (`benches/reference/search_optuna.py`, one thread; acceptance 1: crossfold's best
//!   within 0.005 and its wall time ≤ 0.25× Optuna's);
//! - scikit-learn's HalvingRandomSearchCV with MLPClassifier (`search_sklearn.py`, no dropout).
//!
//! Scores are mean held-out log loss over the folds (lower is better). Ends with JSON lines.
//! Run: `cargo bench --bench search` (the anchors need `pip install optuna torch scikit-learn
//! pandas`; without them their columns say skipped); `SEARCH_SEEDS=1,2 cargo bench --bench
//! search` adds asha against random search with those seeds and the gap's mean over them and
//! seed 0; `SEARCH_OPTUNA_SEEDS=1` with it runs Optuna with those seeds too (caravan's takes
//! about 6 minutes a seed) and the mean of asha's gap to it. scikit-learn runs seed 0 only.
//! `-- digits caravan` narrows to the datasets named.

use std::time::Instant;

use serde_json::{Value, json};

#[path = "support/anchors.rs"]
mod anchors;
#[path = "support/server.rs"]
mod server;
use server::Server;

const DATASETS: [&str; 3] = ["breast_cancer", "digits", "caravan"];
const TRIALS: u64 = 24;
const FOLDS: u64 = 5;
const EPOCHS: u64 = 45;
const MIN_EPOCHS: u64 = 5;
const ETA: u64 = 3;
const OPTUNA_MODULES: &str = "optuna, torch, sklearn, pandas";

fn data_path(name: &str) -> String {
    format!("{}/../shared/data/{name}.csv", env!("CARGO_MANIFEST_DIR"))
}

fn spec(ds: &str, method: &str, seed: u64) -> Value {
    let mut search = json!({"method": method, "trials": TRIALS, "space": {
        "optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]},
        "model.hidden_layers": {"choice": [[32], [128, 64], [256, 256]]},
        "model.dropout": {"uniform": [0.0, 0.5]}}});
    if method == "asha" {
        search["reduction_factor"] = json!(ETA);
        search["min_epochs"] = json!(MIN_EPOCHS);
    }
    json!({"dataset_id": ds, "seed": seed, "final_model": false,
           "optimizer": {"kind": "adam"},
           "training": {"epochs": EPOCHS, "batch_size": 64, "early_stopping": null},
           "validation": {"folds": FOLDS},
           "imbalance": {"rank_by": "log_loss"},
           "search": search})
}

/// What one search gave: its best mean log loss (and the best of the trials it trained to the
/// last epoch), the fold-epochs it trained, its wall seconds.
struct Found {
    best: f64,
    best_to_end: f64,
    epochs: u64,
    seconds: f64,
}

async fn crossfold(
    c: &reqwest::Client,
    s: &Server,
    ds: &str,
    (method, seed): (&str, u64),
) -> Found {
    let start = Instant::now();
    let id = s.submit(c, &spec(ds, method, seed)).await;
    let job = s.wait_job(c, &id).await;
    assert_eq!(job["status"], "succeeded", "the search ended {job}");
    let seconds = start.elapsed().as_secs_f64();
    let board = s.get_json(c, &format!("/v1/jobs/{id}/metrics")).await["leaderboard"].clone();
    let rows = board.as_array().unwrap();
    let mean = |r: &Value| r["mean"].as_f64().unwrap();
    Found {
        best: mean(&rows[0]),
        best_to_end: (rows.iter())
            .filter(|r| r.get("halted_at").is_none())
            .map(mean)
            .fold(f64::INFINITY, f64::min),
        epochs: rows.iter().map(|r| r["epochs"].as_u64().unwrap()).sum(),
        seconds,
    }
}

fn anchor(script: &str, modules: &str, (name, seed): (&str, u64)) -> Option<Found> {
    let args: Vec<String> = [
        data_path(name),
        format!("--trials={TRIALS}"),
        format!("--folds={FOLDS}"),
        format!("--epochs={EPOCHS}"),
        format!("--min-epochs={MIN_EPOCHS}"),
        format!("--eta={ETA}"),
        format!("--seed={seed}"),
    ]
    .into();
    let v = anchors::reference_script(script, modules, &args)?;
    Some(Found {
        best: v["best_log_loss"].as_f64()?,
        best_to_end: v["best_log_loss"].as_f64()?,
        epochs: v["fold_epochs"].as_u64().unwrap_or(0),
        seconds: v["wall_seconds"].as_f64()?,
    })
}

/// A dataset the bench uploaded, with seed 0's gaps: asha − random, asha − Optuna (if it ran).
type Uploaded<'a> = (&'a str, String, f64, Option<f64>);

fn cell(f: &Option<Found>) -> String {
    match f {
        Some(f) => format!("{:.4} / {:.1} s", f.best, f.seconds),
        None => "skipped".into(),
    }
}

#[tokio::main]
async fn main() {
    println!(
        "CPU: {}; crossfold with 2 workers, the anchors on one thread",
        anchors::cpu_model()
    );
    println!(
        "| dataset | asha: best / wall | random: best / wall | asha epochs ÷ random's | Optuna TPE+Hyperband | scikit-learn halving | asha wall ÷ Optuna's |"
    );
    println!("|---|---|---|---|---|---|---|");
    let c = reqwest::Client::new();
    let server = Server::start(&["--workers", "2", "--cores", "2"]);
    let mut lines = Vec::new();
    let mut uploaded: Vec<Uploaded> = Vec::new();
    let named: Vec<String> = (std::env::args().skip(1))
        .filter(|a| DATASETS.contains(&a.as_str()))
        .collect();
    for name in DATASETS
        .into_iter()
        .filter(|n| named.is_empty() || named.iter().any(|a| a == n))
    {
        let Ok(csv) = std::fs::read(data_path(name)) else {
            println!("| {name} | (skipped: ../shared/data/{name}.csv not found) |||||");
            continue;
        };
        let ds = server
            .upload_csv(&c, &format!("label=label&name={name}"), csv)
            .await;
        let ds = ds["id"].as_str().unwrap().to_owned();
        let asha = crossfold(&c, &server, &ds, ("asha", 0)).await;
        let random = crossfold(&c, &server, &ds, ("random", 0)).await;
        let optuna = anchor("search_optuna.py", OPTUNA_MODULES, (name, 0));
        let (random_gap, optuna_gap) = (asha.best - random.best, gap(&asha, &optuna));
        uploaded.push((name, ds, random_gap, optuna_gap));
        let sklearn = anchor("search_sklearn.py", "sklearn, pandas", (name, 0));
        let epochs_ratio = asha.epochs as f64 / random.epochs as f64;
        let wall_ratio = optuna.as_ref().map(|o| asha.seconds / o.seconds);
        println!(
            "| {name} | {:.4} / {:.1} s | {:.4} / {:.1} s | {epochs_ratio:.3} | {} | {} | {} |",
            asha.best,
            asha.seconds,
            random.best,
            random.seconds,
            cell(&optuna),
            cell(&sklearn),
            wall_ratio.map_or("–".into(), |r| format!("{r:.3}")),
        );
        lines.push(json!({"bench": "search", "dataset": name,
            "asha": {"best_log_loss": asha.best, "best_trained_to_end": asha.best_to_end,
                     "fold_epochs": asha.epochs, "seconds": asha.seconds},
            "random": {"best_log_loss": random.best, "fold_epochs": random.epochs, "seconds": random.seconds},
            "asha_vs_random": {"best_gap": random_gap, "epochs_ratio": epochs_ratio,
                               "goal": "gap ≤ 0.005, epochs ≤ 1/3"},
            "optuna": optuna.as_ref().map(|o| json!({"best_log_loss": o.best, "fold_epochs": o.epochs, "seconds": o.seconds})),
            "sklearn_halving": sklearn.as_ref().map(|o| json!({"best_log_loss": o.best, "seconds": o.seconds})),
            "asha_vs_optuna": optuna_gap.zip(wall_ratio).map(|(g, r)| json!({"best_gap": g,
                "wall_ratio": r, "goal": "gap ≤ 0.005, wall ≤ 0.25×"}))}));
    }
    lines.extend(over_seeds(&c, &server, &uploaded).await);
    for line in lines {
        println!("{line}");
    }
}

/// asha's best − an anchor's, when the anchor ran.
fn gap(asha: &Found, anchor: &Option<Found>) -> Option<f64> {
    anchor.as_ref().map(|a| asha.best - a.best)
}

/// The seeds listed in the variable `name` (`1,2,…`).
fn seeds_in(name: &str) -> Vec<u64> {
    (std::env::var(name).unwrap_or_default().split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// The mean of `values`, or none when one is missing or there are none.
fn mean_of(values: &[Option<f64>]) -> Option<f64> {
    let all: Option<Vec<f64>> = values.iter().copied().collect();
    all.filter(|v| !v.is_empty())
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
}

/// With `SEARCH_SEEDS=1,2,…`: asha against random search on each dataset with each of those
/// seeds too (other trials, other folds), the quality goal measured over seeds; with
/// `SEARCH_OPTUNA_SEEDS=1` as well, Optuna with each of those seeds (its own folds of the seed).
async fn over_seeds(c: &reqwest::Client, server: &Server, datasets: &[Uploaded<'_>]) -> Vec<Value> {
    let seeds = seeds_in("SEARCH_SEEDS");
    let with_optuna = std::env::var("SEARCH_OPTUNA_SEEDS").is_ok_and(|v| v == "1");
    if seeds.is_empty() {
        return Vec::new();
    }
    println!(
        "\n| dataset | seed | asha best (trained to the end) | random best | gap | asha epochs ÷ random's | Optuna best | asha − Optuna |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (mut lines, mut means) = (Vec::new(), Vec::new());
    for (name, ds, random_gap0, optuna_gap0) in datasets {
        let (mut gaps, mut optuna_gaps) = (vec![Some(*random_gap0)], vec![*optuna_gap0]);
        for &seed in &seeds {
            let asha = crossfold(c, server, ds, ("asha", seed)).await;
            let random = crossfold(c, server, ds, ("random", seed)).await;
            let optuna = with_optuna
                .then(|| anchor("search_optuna.py", OPTUNA_MODULES, (name, seed)))
                .flatten();
            let (random_gap, ratio) = (
                asha.best - random.best,
                asha.epochs as f64 / random.epochs as f64,
            );
            let optuna_gap = gap(&asha, &optuna);
            println!(
                "| {name} | {seed} | {:.4} ({:.4}) | {:.4} | {random_gap:+.4} | {ratio:.3} | {} | {} |",
                asha.best,
                asha.best_to_end,
                random.best,
                optuna
                    .as_ref()
                    .map_or("–".into(), |o| format!("{:.4}", o.best)),
                optuna_gap.map_or("–".into(), |g| format!("{g:+.4}")),
            );
            gaps.push(Some(random_gap));
            optuna_gaps.push(optuna_gap);
            lines.push(
                json!({"bench": "search_seeds", "dataset": name, "seed": seed,
                "asha_best": asha.best, "asha_best_trained_to_end": asha.best_to_end,
                "random_best": random.best, "best_gap": random_gap, "epochs_ratio": ratio,
                "optuna_best": optuna.as_ref().map(|o| o.best), "optuna_gap": optuna_gap}),
            );
        }
        let (mean, optuna_mean) = (mean_of(&gaps).unwrap_or(f64::NAN), mean_of(&optuna_gaps));
        means.push(format!(
            "{name} {mean:+.4} against random{}",
            optuna_mean.map_or(String::new(), |m| format!(", {m:+.4} against Optuna"))
        ));
        lines.push(json!({"bench": "search_seeds_mean", "dataset": name,
            "seeds": gaps.len(), "mean_best_gap": mean, "goal": "gap ≤ 0.005",
            "mean_optuna_gap": optuna_mean}));
    }
    println!(
        "\nasha's best − the other's, mean over seed 0 and {seeds:?}: {}",
        means.join("; ")
    );
    lines
}
