//! `imbalance.correct_probabilities`: probabilities after resampling mapped back to the
//! training priors, with the Brier score and expected calibration error to show it.

use serde_json::{Value, json};

use crate::helpers::{TestApp, json, upload_caravan};
use crate::helpers::{queued, wait_until_finished};

async fn metrics(app: &TestApp, ds: &str, correct: bool) -> Value {
    let id = queued(
        app,
        json!({
            "dataset_id": ds, "seed": 5, "final_model": true,
            "model": {"hidden_layers": [32]},
            "training": {"epochs": 4, "early_stopping": null},
            "validation": {"folds": 3},
            "imbalance": {"strategy": "undersample", "correct_probabilities": correct},
        }),
    )
    .await;
    let job = wait_until_finished(app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let m = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    json!({"metrics": m, "job": id})
}

#[tokio::test]
async fn correcting_an_undersampled_caravan_jobs_probabilities_lowers_its_brier_score() {
    let app = TestApp::spawn().await;
    let ds = upload_caravan(&app).await;
    let plain = metrics(&app, &ds, false).await;
    let corrected = metrics(&app, &ds, true).await;
    let brier = |m: &Value| m["metrics"]["pooled"]["brier_score"].as_f64().unwrap();
    let ece = |m: &Value| m["metrics"]["pooled"]["ece"].as_f64().unwrap();
    // Balanced training predicts the minority far too often; the priors put it back.
    assert!(
        brier(&corrected) < brier(&plain),
        "{} vs {}",
        brier(&corrected),
        brier(&plain)
    );
    assert!(
        ece(&corrected) < ece(&plain),
        "{} vs {}",
        ece(&corrected),
        ece(&plain)
    );
    // The same models (the same seed), so each fold's ranking is the same: the map is
    // monotone for two classes.
    let folds = |m: &Value| m["metrics"]["folds"].as_array().unwrap().clone();
    for (a, b) in folds(&plain).iter().zip(folds(&corrected)) {
        let (x, y) = (
            a["metrics"]["roc_auc"].as_f64().unwrap(),
            b["metrics"]["roc_auc"].as_f64().unwrap(),
        );
        assert!((x - y).abs() < 1e-12, "roc_auc {x} vs {y}");
        let (x, y) = (
            a["metrics"]["pr_auc"].as_f64().unwrap(),
            b["metrics"]["pr_auc"].as_f64().unwrap(),
        );
        assert!((x - y).abs() < 1e-12, "pr_auc {x} vs {y}");
    }
    // The summary has both metrics per fold.
    assert!(corrected["metrics"]["summary"]["brier_score"]["mean"].is_number());
    // Predict applies the final model's correction: the minority's probability shrinks.
    let row = json!({"rows": [{"MOSTYPE": 33, "MAANTHUI": 1}]});
    let p1 = |job: &Value| {
        let app = &app;
        let row = row.clone();
        let job = job.as_str().unwrap().to_owned();
        async move {
            let out = json(
                app.post(&format!("/v1/jobs/{job}/predict"))
                    .json(&row)
                    .send()
                    .await
                    .unwrap(),
                200,
            )
            .await;
            out["predictions"][0]["probabilities"]["1"]
                .as_f64()
                .unwrap()
        }
    };
    let (raw, fixed) = (p1(&plain["job"]).await, p1(&corrected["job"]).await);
    assert!(fixed < raw, "corrected {fixed} vs raw {raw}");
    // The reliability diagram: the model's bins and the diagonal, the ECE in the subtitle.
    let job = corrected["job"].as_str().unwrap();
    let res = app
        .get(&format!("/v1/jobs/{job}/calibration.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let svg = res.text().await.unwrap();
    let ece_text = format!("ECE {:.4}", ece(&corrected));
    assert!(svg.contains(&ece_text), "{ece_text}: {svg}");
    assert!(svg.contains("mean top probability in the bin"), "{svg}");
    // Its points: the model's bins and the diagonal.
    let points = app
        .get_json(&format!("/v1/jobs/{job}/calibration.svg?format=json"))
        .await;
    let series = points["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{points}");
    assert!(series[0]["name"].as_str().unwrap().contains(&ece_text));
    assert_eq!(series[1]["points"], json!([[0.0, 0.0], [1.0, 1.0]]));
    let missing = app
        .get("/v1/jobs/job_nope/calibration.svg")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
