//! Nested cross-validation: `validation.outer_folds` stores, with the job, one job per outer
//! fold that makes the job's whole selection on the other rows and scores its choice on the
//! fold; the job reports the outer estimate, the inner best and the selection's optimism. On
//! noise, a search of many trials over few rows finds an inner best the outer folds do not
//! confirm. Cancelling the job cancels its outer jobs; the specs it cannot serve are 422s.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json, problem, queued, submit};
use crate::helpers::{upload_breast_cancer, wait_until_finished};

/// 90 rows of 8 uniform features and a label independent of them (a fixed LCG).
fn noise_csv() -> Vec<u8> {
    let mut state: u64 = 7;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut csv = String::from("f0,f1,f2,f3,f4,f5,f6,f7,label\n");
    for _ in 0..90 {
        for _ in 0..8 {
            csv.push_str(&format!("{:.4},", next()));
        }
        csv.push_str(if next() < 0.5 { "a\n" } else { "b\n" });
    }
    csv.into_bytes()
}

fn nested(ds: &str) -> Value {
    json!({"dataset_id": ds, "seed": 4, "name": "noise search", "final_model": false,
           "validation": {"folds": 3, "outer_folds": 3},
           "training": {"epochs": 4, "batch_size": 16, "early_stopping": null},
           "imbalance": {"rank_by": "accuracy"},
           "search": {"method": "random", "trials": 12, "space": {
               "optimizer.learning_rate": {"log_uniform": [1e-3, 1e-1]},
               "model.hidden_layers": {"choice": [[4], [32, 32]]}}}})
}

async fn outer_ids(app: &TestApp, id: &str) -> Vec<String> {
    let filter: String =
        form_urlencoded::byte_serialize(format!("outer_of = '{id}'").as_bytes()).collect();
    let page = app
        .get_json(&format!("/v1/jobs?filter={filter}&order_by=name"))
        .await;
    (page["items"].as_array().unwrap().iter())
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_search_over_noise_reports_an_inner_best_its_outer_folds_do_not_confirm() {
    let app = TestApp::spawn().await;
    let ds = json(
        app.upload_csv("name=noise&label=label", noise_csv()).await,
        201,
    )
    .await;
    let ds = ds["id"].as_str().unwrap();
    let dry = json(app.dry_run(&nested(ds)).await, 200).await;
    // Each outer job: 12 trials × 3 inner folds and a final model.
    assert_eq!(dry["estimate"]["outer_jobs"]["jobs"], 3, "{dry}");
    assert_eq!(
        dry["estimate"]["outer_jobs"]["runs"],
        3 * (12 * 3 + 1),
        "{dry}"
    );

    let id = queued(&app, nested(ds)).await;
    let outer = outer_ids(&app, &id).await;
    assert_eq!(outer.len(), 3);
    for (i, o) in outer.iter().enumerate() {
        let job = wait_until_finished(&app, o).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["outer_of"], json!(id));
        assert_eq!(job["spec"]["validation"]["outer_fold"], i);
        assert_eq!(job["name"], format!("noise search · outer fold {i}"));
        assert_eq!(
            job["spec"]["search"]["sampled"], dry["spec"]["search"]["sampled"],
            "the same trials"
        );
    }
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outer_of"], Value::Null);

    let m = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let n = &m["nested"];
    assert_eq!(n["complete"], true, "{n}");
    assert_eq!(n["metric"], "accuracy");
    let folds = n["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    // The outer folds partition the rows: each outer job's test set is a third.
    let mut tested = 0;
    for (f, o) in folds.iter().zip(&outer) {
        assert_eq!(&f["job_id"], o);
        let om = app.get_json(&format!("/v1/jobs/{o}/metrics")).await;
        assert_eq!(f["outer"], om["test"]["accuracy"], "{f}");
        assert_eq!(f["inner"], om["leaderboard"][0]["mean"], "{f}");
        assert_eq!(f["chosen"], om["leaderboard"][0]["description"]);
        tested += om["test"]["confusion_matrix"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>();
    }
    assert_eq!(
        tested, 90,
        "every row is scored once, by its outer fold's job"
    );
    let inner = n["inner_best"].as_f64().unwrap();
    let outer_mean = n["outer_estimate"]["mean"].as_f64().unwrap();
    assert!(
        inner > outer_mean + 0.05,
        "selection on noise flatters itself: {n}"
    );
    assert!((n["optimism"].as_f64().unwrap() - (inner - outer_mean)).abs() < 1e-12);
    assert!((outer_mean - 0.5).abs() < 0.2, "chance on noise: {n}");
}

#[tokio::test]
async fn cancelling_a_nested_job_cancels_its_outer_jobs_and_bad_specs_are_422s() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "model": [{"hidden_layers": [8]}, {"hidden_layers": [16]}],
                      "validation": {"folds": 2, "outer_folds": 2},
                      "training": {"epochs": 200, "early_stopping": null}});
    let id = queued(&app, spec).await;
    let res = app
        .post(&format!("/v1/jobs/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    for o in outer_ids(&app, &id).await {
        let job = wait_until_finished(&app, &o).await;
        assert_eq!(job["status"], "cancelled", "{job}");
    }
    for (validation, field) in [
        (
            json!({"outer_folds": 3, "test_fraction": 0.2}),
            "validation.outer_folds",
        ),
        (json!({"outer_folds": 1}), "validation.outer_folds"),
        (json!({"outer_fold": 0}), "validation.outer_fold"),
        (
            json!({"outer_folds": 2, "outer_fold": 2}),
            "validation.outer_fold",
        ),
    ] {
        let body = json!({"dataset_id": ds, "validation": validation});
        let p = problem(submit(&app, body).await, 422).await;
        assert!(
            error_fields(&p).contains(&field.to_owned()),
            "{validation}: {p}"
        );
    }
}
