//! A search: a space over the training spec's fields drawn into trials at planning (the dry
//! run shows them), each trial a variant on the job's identical folds, ranked on the
//! leaderboard by what it tried; the best trains the final model; each bad space a 422 naming
//! its path.

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
            json!({"method": "asha", "trials": 4, "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}),
            "search.method",
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
