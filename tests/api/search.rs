//! A search: a space over the training spec's fields drawn into trials at planning (the dry
//! run shows them), each trial a variant on the job's identical folds, ranked on the
//! leaderboard by what it tried; the best trains the final model; each bad space a 422 naming
//! its path.

use crossfold::domain::search::learning_curve;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json, problem, queued, submit};
use crate::helpers::{upload_breast_cancer, wait_until_finished};

fn searched(ds: &str) -> Value {
    json!({"dataset_id": ds, "seed": 3, "validation": {"folds": 2},
           "training": {"epochs": 3, "early_stopping": null},
           "search": {"method": "random", "trials": 4, "space": {
               "optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]},
               "model.hidden_layers": {"choice": [[8], [16, 8]]}}}})
}

#[tokio::test]
async fn a_random_search_trains_its_trials_on_the_same_folds_and_the_best_trains_the_final_model() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let dry = json(app.dry_run(&searched(&ds)).await, 200).await;
    let trials = dry["spec"]["search"]["sampled"].as_array().unwrap().clone();
    assert_eq!(trials.len(), 4, "{dry}");
    assert_eq!(dry["estimate"]["runs"], 4 * 2 + 1);
    // Every trial's folds, and the final model: 4 × 2 × 3 + 3 epochs.
    assert_eq!(dry["estimate"]["epochs"], 27, "{dry}");
    assert_eq!(dry["estimate"]["strategies"][0]["runs"], 8);
    for t in &trials {
        let lr = t["optimizer.learning_rate"].as_f64().unwrap();
        assert!((1e-4..1e-1).contains(&lr), "{t}");
    }

    let id = queued(&app, searched(&ds)).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["spec"]["search"]["sampled"],
        json!(trials),
        "drawn once, at planning"
    );
    let board = app.get_json(&format!("/v1/jobs/{id}/metrics")).await["leaderboard"].clone();
    let rows = board.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{board}");
    for row in rows {
        let trial = &trials[row["variant"].as_u64().unwrap() as usize];
        assert_eq!(
            row["model"]["hidden_layers"], trial["model.hidden_layers"],
            "{row}"
        );
        let words = row["description"].as_str().unwrap();
        assert!(
            words.contains("learning_rate") && words.contains("hidden_layers"),
            "{words}"
        );
    }
    // Every trial trained on the same rows of each fold; the leader trained the final model.
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let items = runs["items"].as_array().unwrap();
    let final_run = items.iter().find(|r| r["kind"] == "final").unwrap();
    assert_eq!(final_run["variant"], rows[0]["variant"], "{runs}");
    let mut oof = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get_json(&format!("/v1/jobs/{id}/predictions?limit=1000{cursor}"))
            .await;
        oof.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(oof.len(), 4 * 569);
    let fold_of = |v: u64| -> Vec<(Value, Value)> {
        let mut rows: Vec<(Value, Value)> = (oof.iter())
            .filter(|p| p["variant"] == v)
            .map(|p| (p["row"].clone(), p["fold"].clone()))
            .collect();
        rows.sort_by_key(|(r, _)| r.as_u64());
        rows
    };
    assert!(!fold_of(0).is_empty());
    assert!(
        (1..4).all(|v| fold_of(v) == fold_of(0)),
        "the same folds for every trial"
    );
}

#[tokio::test]
async fn a_bad_search_is_a_422_naming_its_path() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let with = |search: Value| {
        let mut spec = searched(&ds);
        spec["search"] = search;
        spec
    };
    let cases = [
        (
            json!({"method": "random", "space": {"validation.folds": {"int": [2, 5]}}}),
            "search.space.validation.folds",
        ),
        (
            json!({"method": "random", "space": {"model.hidden_layers": {"choice": ["wide"]}}}),
            "search.space.model.hidden_layers",
        ),
        (
            json!({"method": "random", "trials": 1, "space": {"optimizer.learning_rate": {"choice": [100.0]}}}),
            "search.trials[0].optimizer.learning_rate",
        ),
        (
            json!({"method": "asha", "trials": 2, "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}),
            "search.trials",
        ),
        (
            json!({"method": "asha", "min_epochs": 3, "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}),
            "search.min_epochs",
        ),
        (
            json!({"method": "asha", "space": {"training.epochs": {"int": [2, 3]}}}),
            "search.space.training.epochs",
        ),
        (
            json!({"method": "random", "reduction_factor": 3, "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}),
            "search.reduction_factor",
        ),
        (
            json!({"method": "grid", "space": {"training.batch_size": {"int": [1, 40]}}}),
            "search.space.training.batch_size",
        ),
    ];
    for (search, field) in cases {
        let p = problem(submit(&app, with(search.clone())).await, 422).await;
        assert!(
            error_fields(&p).contains(&field.to_owned()),
            "{search}: {p}"
        );
    }
    let mut list = searched(&ds);
    list["model"] = json!([{"hidden_layers": [8]}, {"hidden_layers": [4]}]);
    let p = problem(submit(&app, list).await, 422).await;
    assert_eq!(error_fields(&p), vec!["search"]);
}

fn halving(ds: &str) -> Value {
    json!({"dataset_id": ds, "seed": 5, "validation": {"folds": 2},
           "training": {"epochs": 9, "early_stopping": null},
           "search": {"method": "asha", "trials": 9, "reduction_factor": 3, "min_epochs": 1,
                      "space": {"optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]},
                                "model.hidden_layers": {"choice": [[8], [16, 8]]}}}})
}

/// The mean over a trial's fold runs of the held-out loss at `epoch`, from their histories.
async fn trial_loss(app: &TestApp, runs: &[Value], variant: u64, epoch: usize) -> f64 {
    let mut losses = Vec::new();
    for run in runs
        .iter()
        .filter(|r| r["kind"] == "fold" && r["variant"] == variant)
    {
        let history = app
            .get_json(&format!("/v1/runs/{}/metrics", run["id"].as_str().unwrap()))
            .await;
        losses.push(history[epoch - 1]["holdout_loss"].as_f64().unwrap());
    }
    losses.iter().sum::<f64>() / losses.len() as f64
}

#[tokio::test]
async fn asha_pauses_trials_at_rungs_and_trains_on_only_the_best_third() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let dry = json(app.dry_run(&halving(&ds)).await, 200).await;
    assert_eq!(dry["estimate"]["rungs"], json!([1, 3, 9]), "{dry}");
    // Per fold 9·1 + 3·2 + 1·6 epochs, two folds, and the final model's 9.
    assert_eq!(dry["estimate"]["epochs"], 2 * 21 + 9, "{dry}");

    let id = queued(&app, halving(&ds)).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let board = app.get_json(&format!("/v1/jobs/{id}/metrics")).await["leaderboard"].clone();
    let rows = board.as_array().unwrap().clone();
    assert_eq!(rows.len(), 9, "{board}");
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await["items"]
        .as_array()
        .unwrap()
        .clone();
    // Every fold run paused or ended at a rung, its epochs on record.
    for run in runs.iter().filter(|r| r["kind"] == "fold") {
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(
            [1, 3, 9].contains(&run["epochs_done"].as_u64().unwrap()),
            "{run}"
        );
    }
    let spent = |v: &Value| v["epochs"].as_u64().unwrap();
    let variant = |v: &Value| v["variant"].as_u64().unwrap();
    // The rung losses are the folds' held-out losses, as their histories recorded them.
    for row in &rows {
        let at1 = row["rungs"][0]["loss"].as_f64().unwrap();
        assert_eq!(row["rungs"][0]["epoch"], 1, "{row}");
        let expected = trial_loss(&app, &runs, variant(row), 1).await;
        assert!((at1 - expected).abs() < 1e-9, "{row} vs {expected}");
        match spent(row) {
            2 => assert_eq!(row["halted_at"], 1, "{row}"),
            6 | 18 => {}
            other => panic!("a trial trained {other} epochs: {row}"),
        }
    }
    // The best third at rung 1 went on (one epoch: ranked where it stands); at rung 3 the
    // trial whose curve heads lowest at the last rung trained to the end.
    let mut by_rung1: Vec<&Value> = rows.iter().collect();
    by_rung1.sort_by(|a, b| {
        a["rungs"][0]["loss"]
            .as_f64()
            .unwrap()
            .total_cmp(&b["rungs"][0]["loss"].as_f64().unwrap())
    });
    assert!(by_rung1[..3].iter().all(|r| spent(r) >= 6), "{board}");
    let mut headings = Vec::new();
    for row in rows.iter().filter(|r| spent(r) >= 6) {
        let mut curve = Vec::new();
        for epoch in 1..=3 {
            curve.push(trial_loss(&app, &runs, variant(row), epoch).await);
        }
        headings.push((learning_curve::heading(&curve, 9), spent(row)));
    }
    let best3 = headings.iter().min_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
    assert_eq!(best3.1, 18, "{headings:?} {board}");
    // Ranked by the mean (balanced accuracy, the default) where each stopped, halted or not.
    assert_eq!(rows[0]["metric"], "balanced_accuracy");
    let means: Vec<f64> = rows.iter().map(|r| r["mean"].as_f64().unwrap()).collect();
    assert!(means.windows(2).all(|w| w[0] >= w[1]), "{board}");
    let halted = rows.iter().filter(|r| r.get("halted_at").is_some());
    assert!(halted.count() >= 3, "{board}");
    let total: u64 = rows.iter().map(spent).sum();
    assert!(
        total < 9 * 2 * 9 / 2,
        "fewer epochs than half of every trial trained whole: {total}"
    );
    let final_run = runs.iter().find(|r| r["kind"] == "final").unwrap();
    assert_eq!(
        final_run["variant"], rows[0]["variant"],
        "the leader trains the final model"
    );
    // The final model trains the epochs its winner was measured at: all 9, or where the search
    // halted it.
    assert_eq!(
        final_run["epochs_done"].as_u64().unwrap(),
        spent(&rows[0]) / 2,
        "{final_run} {board}"
    );
}

/// A trial whose run diverges is out of the search, not the end of it: the job succeeds with
/// the others, the failed trial last, the best training the final model.
#[tokio::test]
async fn a_trial_that_diverges_leaves_the_search_and_the_others_go_on() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    // SGD at 5.0 with momentum through three wide layers diverges in its first epoch (as
    // hostile.rs's diverging job does); at 0.01 it trains.
    let spec = json!({"dataset_id": ds, "seed": 1, "validation": {"folds": 2},
        "model": {"hidden_layers": [128, 128, 128]},
        "optimizer": {"kind": "sgd", "momentum": 0.9},
        "training": {"epochs": 3, "early_stopping": null},
        "search": {"method": "grid", "space": {
            "optimizer.learning_rate": {"choice": [5.0, 0.01]}}}});
    let id = queued(&app, spec).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await["items"].clone();
    let failed: Vec<&Value> = (runs.as_array().unwrap().iter())
        .filter(|r| r["status"] == "failed")
        .collect();
    assert!(!failed.is_empty(), "the 5.0 trial diverged: {runs}");
    assert!(
        failed
            .iter()
            .all(|r| r["variant"] == 0 && r["kind"] == "fold"),
        "{runs}"
    );
    let board = app.get_json(&format!("/v1/jobs/{id}/metrics")).await["leaderboard"].clone();
    assert_eq!(board[0]["variant"], 1, "{board}");
    assert_eq!(board[1]["variant"], 0, "{board}");
    let final_run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "final")
        .unwrap();
    assert_eq!(final_run["status"], "succeeded", "{final_run}");
    assert_eq!(final_run["variant"], 1, "{final_run}");
}
