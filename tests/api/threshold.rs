//! `imbalance.threshold: "tuned"`: a decision threshold tuned on each strategy's out-of-fold
//! predictions, reported beside it on the leaderboard, stored with the final model and used by
//! predict.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, fixture, json, problem, queued, submit, upload_caravan, wait_until_finished,
};

/// Every out-of-fold prediction of `strategy`: (row, label is class "1", its probability).
async fn oof(app: &TestApp, id: &str, strategy: &str) -> Vec<(u64, u32, f64)> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get_json(&format!("/v1/jobs/{id}/predictions?limit=10000{cursor}"))
            .await;
        for item in page["items"].as_array().unwrap() {
            if item["strategy"] == strategy {
                out.push((
                    item["row"].as_u64().unwrap(),
                    u32::from(item["label"] == "1"),
                    item["probabilities"]["1"].as_f64().unwrap(),
                ));
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
}

/// The balanced accuracy of predicting "1" where p ≥ t, counted directly.
fn balanced_at(rows: &[(u64, u32, f64)], t: f64) -> f64 {
    let recall = |class: u32| {
        let of: Vec<_> = rows.iter().filter(|r| r.1 == class).collect();
        let right = of.iter().filter(|r| u32::from(r.2 >= t) == class).count();
        right as f64 / of.len() as f64
    };
    (recall(0) + recall(1)) / 2.0
}

#[tokio::test]
async fn a_tuned_threshold_is_reported_per_strategy_stored_with_the_final_model_and_predicts() {
    let app = TestApp::spawn().await;
    let ds = upload_caravan(&app).await;
    let id = queued(
        &app,
        json!({
            "dataset_id": ds, "seed": 5,
            "model": {"hidden_layers": [32]},
            "training": {"epochs": 4, "early_stopping": null},
            "validation": {"folds": 3},
            "imbalance": {"strategy": ["none", "class_weight"], "threshold": "tuned"},
        }),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let m = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let board = m["leaderboard"].as_array().unwrap();
    let row = |s: &str| board.iter().find(|r| r["strategy"] == s).unwrap().clone();
    let none = row("none");
    let t = &none["threshold"];
    assert_eq!(t["metric"], "balanced_accuracy");
    let value = t["value"].as_f64().unwrap();
    // The minority is 6% of caravan: a model trained as it is puts it far below 0.5.
    assert!(value > 0.0 && value < 0.5, "{t}");
    // Counted from the stored out-of-fold predictions, independently: no threshold does
    // better than the one chosen.
    let rows = oof(&app, &id, "none").await;
    assert_eq!(rows.len(), 5822);
    let chosen = balanced_at(&rows, value);
    let mut ps: Vec<f64> = rows.iter().map(|r| r.2).collect();
    ps.sort_by(f64::total_cmp);
    ps.dedup();
    for w in ps.windows(2).step_by(7) {
        let other = balanced_at(&rows, (w[0] + w[1]) / 2.0);
        assert!(
            other <= chosen + 1e-12,
            "{other} at {} beats {chosen}",
            w[0]
        );
    }
    // Cross-fitted: the folds' tuned balanced accuracy is far above the argmax's for `none`,
    // and below the pooled optimum (no fold chose its own threshold); what the probabilities
    // score does not move.
    let tuned = |r: &Value, k: &str| r["threshold"]["summary"][k]["mean"].as_f64().unwrap();
    let argmax = |r: &Value, k: &str| r["summary"][k]["mean"].as_f64().unwrap();
    assert!(tuned(&none, "balanced_accuracy") > argmax(&none, "balanced_accuracy") + 0.05);
    assert!(tuned(&none, "balanced_accuracy") <= chosen + 1e-9);
    for k in ["roc_auc", "log_loss", "brier_score"] {
        assert!((tuned(&none, k) - argmax(&none, k)).abs() < 1e-12, "{k}");
    }
    assert!(row("class_weight")["threshold"]["value"].is_number());
    // The job's threshold is its leader's, the one the final model stores and predicts with.
    assert_eq!(m["threshold"], board[0]["threshold"]);
    let leader_t = board[0]["threshold"]["value"].as_f64().unwrap();
    let rows: Vec<Value> = (0..40)
        .map(|i| json!({"MOSTYPE": 1 + i % 40, "MAANTHUI": 1 + i % 3, "PPERSAUT": i % 8}))
        .collect();
    for ensemble in ["final", "folds"] {
        let out = json(
            app.post(&format!("/v1/jobs/{id}/predict?ensemble={ensemble}"))
                .json(&json!({ "rows": rows }))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(out["threshold"].as_f64(), Some(leader_t), "{ensemble}");
        for p in out["predictions"].as_array().unwrap() {
            let p1 = p["probabilities"]["1"].as_f64().unwrap();
            let want = if p1 >= leader_t { "1" } else { "0" };
            assert_eq!(p["label"], want, "{ensemble}: {p}");
        }
    }
}

#[tokio::test]
async fn a_tuned_threshold_needs_two_classes() {
    let app = TestApp::spawn().await;
    let ds = json(
        app.upload_csv("label=label", fixture("digits.csv")).await,
        201,
    )
    .await["id"]
        .clone();
    let spec = json!({"dataset_id": ds, "imbalance": {"threshold": "tuned"}});
    let p = problem(submit(&app, spec).await, 422).await;
    let errors = p["errors"].to_string();
    assert!(errors.contains("imbalance.threshold"), "{p}");
    assert!(errors.contains("has 10"), "{p}");
    // Unknown values name the field too.
    let spec = json!({"dataset_id": ds, "imbalance": {"threshold": "median"}});
    let p = problem(submit(&app, spec).await, 422).await;
    assert!(p.to_string().contains("threshold"), "{p}");
}
