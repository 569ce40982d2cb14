//! `optimizer.learning_rate: "auto"`: each run chooses its rate by a range test on its own
//! training rows, trains at it (its epochs record it), reports it, and the job plots the
//! curves; the specs it cannot serve are 422s naming the field.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json, problem, queued, submit};
use crate::helpers::{upload_breast_cancer, wait_until_finished};

fn auto(ds: &str) -> Value {
    json!({"dataset_id": ds, "seed": 2, "validation": {"folds": 2},
           "model": {"hidden_layers": [16]},
           "optimizer": {"kind": "sgd", "learning_rate": "auto", "momentum": 0.9},
           "training": {"epochs": 3, "early_stopping": null}})
}

#[tokio::test]
async fn each_run_trains_at_the_rate_its_range_test_chose_and_the_job_plots_the_curves() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let dry = json(app.dry_run(&auto(&ds)).await, 200).await;
    assert_eq!(dry["estimate"]["range_test_steps_per_run"], 100, "{dry}");
    let id = queued(&app, auto(&ds)).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["spec"]["optimizer"]["learning_rate"], "auto",
        "the spec as written"
    );
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let items = runs["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "two folds and the final model: {runs}");
    let mut rates = Vec::new();
    for run in items {
        let rate = run["learning_rate"]
            .as_f64()
            .unwrap_or_else(|| panic!("{run}"));
        assert!(rate > 1e-7 && rate < 10.0, "{run}");
        let epochs = app
            .get_json(&format!("/v1/runs/{}/metrics", run["id"].as_str().unwrap()))
            .await;
        for e in epochs.as_array().unwrap_or_else(|| panic!("{epochs}")) {
            assert_eq!(e["learning_rate"].as_f64(), Some(rate), "{e}");
        }
        rates.push(rate);
    }
    let figure = app.get_json(&format!("/v1/jobs/{id}/lr_range.json")).await;
    let series = figure["series"]
        .as_array()
        .unwrap_or_else(|| panic!("{figure}"));
    assert_eq!(series.len(), 3, "{figure}");
    let dots = figure["dots"].as_array().unwrap();
    for ((s, rate), dot) in series.iter().zip(&rates).zip(dots) {
        let points = s["points"].as_array().unwrap();
        assert!(points.len() > 20, "{s}");
        let rates_tried = points.iter().map(|p| p[0].as_f64().unwrap());
        let (lo, hi) = rates_tried.fold((f64::MAX, 0.0f64), |(l, h), r| (l.min(r), h.max(r)));
        assert!(
            *rate > lo && *rate < hi,
            "the choice lies on its curve: {rate} in {lo}–{hi}"
        );
        assert_eq!(dot["x"].as_f64(), Some(*rate), "{dot}");
    }
    let svg = app
        .get(&format!("/v1/jobs/{id}/lr_range.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.status(), 200);
    assert!(svg.text().await.unwrap().contains("<svg"));

    let mut fixed = auto(&ds);
    fixed["optimizer"]["learning_rate"] = json!(0.01);
    let other = queued(&app, fixed).await;
    let res = app
        .get(&format!("/v1/jobs/{other}/lr_range.json"))
        .send()
        .await
        .unwrap();
    let p = problem(res, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("auto"), "{p}");
}

#[tokio::test]
async fn auto_is_refused_where_it_cannot_choose_one_networks_rate() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    for (patch, field) in [
        (
            json!({"imbalance": {"strategy": "easy_ensemble"}}),
            "optimizer.learning_rate",
        ),
        (
            json!({"schedule": {"decay": "cosine", "min_learning_rate": 1e-4}}),
            "schedule.min_learning_rate",
        ),
        (
            json!({"optimizer": {"kind": "adam", "learning_rate": "fast"}}),
            "optimizer.learning_rate",
        ),
    ] {
        let mut spec = auto(&ds);
        json_patch::merge(&mut spec, &patch);
        let p = problem(submit(&app, spec).await, 422).await;
        assert!(error_fields(&p).contains(&field.to_owned()), "{patch}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("auto"), "{p}");
    }
}
