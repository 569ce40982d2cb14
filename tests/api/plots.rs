//! Every plot of a job as SVG (numbered ticks, axis titles, a legend, a title and description
//! for screen readers) and as its data with `?format=json`, the numbers equal to the job's
//! metrics; a bad format or parameter is a 422 and an unknown job a 404.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, problem};
use crate::helpers::{queued, upload_breast_cancer, wait_until_finished};

#[tokio::test]
async fn every_plot_draws_its_axes_and_legend_and_gives_its_numbers_as_json() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({"dataset_id": ds, "seed": 3, "training": {"epochs": 3},
               "validation": {"folds": 3}, "imbalance": {"strategy": ["none", "class_weight"]}}),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;

    for (plot, x_title, y_title) in [
        ("curves", "epoch", "loss (class-weighted cross-entropy)"),
        ("gradients", "epoch", "mean gradient norm (log scale)"),
        ("confusion", "predicted class", "true class"),
        ("roc", "false positive rate", "true positive rate (recall)"),
        ("pr", "recall", "precision"),
        (
            "leaderboard",
            "variant",
            "balanced_accuracy: bar the mean, line ± one std over folds",
        ),
        (
            "calibration",
            "mean top probability in the bin",
            "share predicted right",
        ),
    ] {
        let res = app
            .get(&format!("/v1/jobs/{id}/{plot}.svg"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{plot}");
        assert_eq!(res.headers()["content-type"], "image/svg+xml", "{plot}");
        let svg = res.text().await.unwrap();
        assert!(svg.contains("<title>") && svg.contains("<desc>"), "{plot}");
        let found = crossfold::plots::svg_texts(&svg);
        for wanted in [x_title, y_title] {
            assert!(
                found.iter().any(|t| t == wanted),
                "{plot}: {wanted:?} in {found:?}"
            );
        }
        // Numbered ticks.
        let numbers = found.iter().filter(|t| t.parse::<f64>().is_ok()).count();
        assert!(numbers >= 4, "{plot}: {found:?}");
        std::fs::create_dir_all("target/plots").unwrap();
        std::fs::write(format!("target/plots/{plot}.svg"), &svg).unwrap();
        let data = app
            .get_json(&format!("/v1/jobs/{id}/{plot}.svg?format=json"))
            .await;
        assert!(
            data["kind"].is_string() && data["title"].is_string(),
            "{plot}: {data}"
        );
        // The .json path is the same data (one response type per path, for typed clients).
        let twin = app.get_json(&format!("/v1/jobs/{id}/{plot}.json")).await;
        assert_eq!(twin, data, "{plot}");
    }
    let res = app
        .get(&format!("/v1/jobs/{id}/roc.json?format=svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_fields(&problem(res, 422).await), vec!["format"]);

    // The numbers are the metrics': the leader's pooled confusion matrix and ROC AUC, and the
    // leaderboard's means.
    let confusion = app
        .get_json(&format!("/v1/jobs/{id}/confusion.svg?format=json"))
        .await;
    assert_eq!(
        confusion["counts"], metrics["pooled"]["confusion_matrix"],
        "{confusion}"
    );
    assert_eq!(confusion["labels"], json!(["0", "1"]));
    let roc = app
        .get_json(&format!("/v1/jobs/{id}/roc.svg?format=json"))
        .await;
    let series = roc["series"].as_array().unwrap();
    assert_eq!(series.len(), 1 + 3 + 1, "pooled, 3 folds, chance: {roc}");
    let auc = metrics["pooled"]["roc_auc"].as_f64().unwrap();
    let pooled = series[0]["name"].as_str().unwrap();
    assert!(
        pooled.contains(&format!("AUC {auc:.3}")),
        "{pooled} vs {auc}"
    );
    let first: &Value = &series[0]["points"][0];
    assert_eq!(first, &json!([0.0, 0.0]));
    let pr = app
        .get_json(&format!("/v1/jobs/{id}/pr.svg?format=json"))
        .await;
    let ap = metrics["pooled"]["pr_auc"].as_f64().unwrap();
    assert!(
        pr["series"][0]["name"]
            .as_str()
            .unwrap()
            .contains(&format!("AP {ap:.3}"))
    );
    let board = app
        .get_json(&format!("/v1/jobs/{id}/leaderboard.svg?format=json"))
        .await;
    let bars = board["bars"].as_array().unwrap();
    let rows = metrics["leaderboard"].as_array().unwrap();
    assert_eq!(bars.len(), rows.len());
    for (bar, row) in bars.iter().zip(rows) {
        assert_eq!(bar["label"], row["strategy"]);
        assert_eq!(bar["value"], row["mean"]);
        assert_eq!(bar["error"], row["std"]);
    }

    let bad = app
        .get(&format!("/v1/jobs/{id}/roc.svg?format=png"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_fields(&problem(bad, 422).await), ["format"]);
    let bad = app
        .get(&format!("/v1/jobs/{id}/pr.svg?colour=red"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_fields(&problem(bad, 422).await), ["colour"]);
    // An MLP has no attention to draw.
    let none = app
        .get(&format!("/v1/jobs/{id}/attention.svg"))
        .send()
        .await
        .unwrap();
    problem(none, 409).await;
    let missing = app
        .get("/v1/jobs/job_nope/confusion.svg")
        .send()
        .await
        .unwrap();
    problem(missing, 404).await;
}
