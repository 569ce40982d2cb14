//! `POST /v1/jobs/{id}/remedy` with `"verify": true`: every candidate remedy of a finding
//! trains as its own job on the original's folds, and the diagnostics name the one that won.

use serde_json::{Value, json};

use crate::helpers::{TestApp, json, problem, queued, upload_caravan, wait_until_finished};

#[tokio::test]
async fn verifying_class_imbalance_trains_each_candidate_and_names_the_best_resolving_one() {
    let app = TestApp::spawn().await;
    let ds = upload_caravan(&app).await;
    let id = queued(
        &app,
        json!({
            "dataset_id": ds, "seed": 5, "final_model": false,
            "model": {"hidden_layers": [32]},
            "training": {"epochs": 4, "early_stopping": null},
            "validation": {"folds": 3},
        }),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    let f = (job["diagnostics"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "class_imbalance" && f["severity"] == "warning")
        .unwrap_or_else(|| panic!("{job}"))
        .clone();
    // One finding at a time, and verify is a boolean.
    for body in [
        json!({"finding": [f["id"], f["id"]], "verify": "yes"}),
        json!({"finding": f["id"], "verify": 1}),
    ] {
        let url = format!("/v1/jobs/{id}/remedy");
        problem(app.post(&url).json(&body).send().await.unwrap(), 422).await;
    }
    let body = json!({"finding": f["id"], "verify": true});
    let res = app
        .post(&format!("/v1/jobs/{id}/remedy"))
        .json(&body)
        .send()
        .await;
    let started = json(res.unwrap(), 202).await;
    let names: Vec<&str> = (started["candidates"].as_array().unwrap().iter())
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // The recommended remedy (class weights) first; its duplicate among the others dropped.
    assert_eq!(
        names,
        ["recommended", "easy_ensemble", "tuned_threshold"],
        "{started}"
    );
    assert_eq!(
        started["candidates"][0]["patch"],
        json!({"imbalance": {"strategy": "class_weight"}})
    );
    for c in started["candidates"].as_array().unwrap() {
        let done = wait_until_finished(&app, c["job_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["remedy_of"], id.as_str());
    }
    let d = app.get_json(&format!("/v1/jobs/{id}/diagnostics")).await;
    let v = &d["verifications"][0];
    assert_eq!(
        (v["finding"].clone(), v["complete"].clone()),
        (f["id"].clone(), json!(true))
    );
    let tried = v["candidates"].as_array().unwrap();
    assert_eq!(tried.len(), 3, "{v}");
    let after = |t: &Value| t["metric_after"]["mean"].as_f64().unwrap();
    // Each resolves it (the kind is handled, balanced accuracy no worse), and the winner is the
    // one with the best balanced accuracy after, counted here from the candidates' rows.
    assert!(tried.iter().all(|t| t["resolved"] == true), "{v}");
    let best = tried
        .iter()
        .max_by(|a, b| after(a).total_cmp(&after(b)))
        .unwrap();
    assert_eq!(v["winner"]["name"], best["name"], "{v}");
    // The tuned threshold's candidate is compared at its threshold, not at the argmax.
    let threshold = tried
        .iter()
        .find(|t| t["name"] == "tuned_threshold")
        .unwrap();
    let m = app
        .get_json(&format!(
            "/v1/jobs/{}/metrics",
            threshold["job_id"].as_str().unwrap()
        ))
        .await;
    let tuned = m["threshold"]["summary"]["balanced_accuracy"]["mean"]
        .as_f64()
        .unwrap();
    let argmax = m["summary"]["balanced_accuracy"]["mean"].as_f64().unwrap();
    assert_eq!(after(threshold), tuned, "{m}");
    assert!(tuned > argmax + 0.05, "{m}");
    let before = d["remedies"][0]["comparison"][0]["metric_before"]["mean"]
        .as_f64()
        .unwrap();
    assert!(tuned > before + 0.05, "{d}");
    if v["winner"]["rank"] != 0 {
        assert!(
            v["verdict"]
                .as_str()
                .unwrap()
                .contains("did not do as well"),
            "{v}"
        );
    }
}
