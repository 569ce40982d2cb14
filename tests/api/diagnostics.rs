//! Diagnostics through the API: findings of a diverging job, vanishing gradients remedied by a
//! linked job with a before/after comparison, `training.stop_on`, model comparisons, and the
//! gradients picture.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json, problem};
use crate::helpers::{queued, submit, upload_breast_cancer, vanishing, wait_until_finished};

fn findings<'a>(job: &'a Value, kind: &str) -> Vec<&'a Value> {
    job["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("{job}"))
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[tokio::test]
async fn a_loss_turning_non_finite_fails_the_job_with_an_exploding_error_finding_of_that_epoch() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({"dataset_id": ds, "seed": 1, "final_model": false,
               "model": {"hidden_layers": [128, 128, 128]},
               "optimizer": {"kind": "sgd", "learning_rate": 5.0, "momentum": 0.9},
               "training": {"epochs": 5, "early_stopping": null},
               "validation": {"folds": 3}}),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let exploding = findings(&job, "exploding_gradients");
    assert_eq!(exploding.len(), 1, "{job}");
    let f = exploding[0];
    assert_eq!(f["severity"], "error");
    assert_eq!(
        f["first_epoch"], 1,
        "the epoch of the first non-finite value"
    );
    assert!(!f["run_ids"].as_array().unwrap().is_empty());
    assert_eq!(f["remedy"]["training"]["clip_grad_norm"], 1.0);
    assert_eq!(f["remedy"]["optimizer"]["learning_rate"], 0.01);
    assert!(f["advice"].as_str().unwrap().contains("learning rate"));
    // The same findings on the diagnostics resource, and as an event on the job's stream.
    let d = app.get_json(&format!("/v1/jobs/{id}/diagnostics")).await;
    assert_eq!(d["findings"], job["diagnostics"]);
    assert_eq!(d["remedies"], json!([]));
    let events = app
        .get(&format!("/v1/jobs/{id}/events"))
        .send()
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(30), events.text())
        .await
        .unwrap()
        .unwrap();
    assert!(body.contains("event: diagnostic"), "{body}");
    assert!(body.contains("exploding_gradients"), "{body}");
}

#[tokio::test]
async fn vanishing_gradients_are_remedied_by_a_linked_job_and_compared_before_and_after() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(&app, vanishing(&ds, 8, 1)).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let vanishing = findings(&job, "vanishing_gradients");
    assert_eq!(vanishing.len(), 1, "{job}");
    let f = vanishing[0];
    assert_eq!(
        (f["severity"].clone(), f["layer"].clone()),
        (json!("warning"), json!(0))
    );
    assert!(f["evidence"]["values"]["ratio"].as_f64().unwrap() < 1e-3);
    assert!(
        f["evidence"]["summary"]
            .as_str()
            .unwrap()
            .contains("gradient norm")
    );
    assert_eq!(f["folds"], json!([0, 1]));

    // Bad requests name the field.
    let p = problem(
        app.post(&format!("/v1/jobs/{id}/remedy"))
            .json(&json!({"finding": 99}))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("no finding 99"),
        "{p}"
    );
    for body in [
        json!({"finding": "x"}),
        json!({"findings": 0}),
        json!({"finding": []}),
    ] {
        let p = problem(
            app.post(&format!("/v1/jobs/{id}/remedy"))
                .json(&body)
                .send()
                .await
                .unwrap(),
            422,
        )
        .await;
        assert_eq!(error_fields(&p).len(), 1, "{body}: {p}");
    }
    problem(
        app.post("/v1/jobs/job_nope/remedy")
            .json(&json!({"finding": 0}))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;

    let res = app
        .post(&format!("/v1/jobs/{id}/remedy"))
        .json(&json!({"finding": f["id"]}))
        .send()
        .await
        .unwrap();
    let remedied = json(res, 202).await;
    assert_eq!(remedied["remedy_of"], json!(id));
    assert_eq!(remedied["remedies"], json!([f["id"]]));
    // The finding is stored as applied, patch and all: later changes to the original's list
    // cannot change what this job was made from.
    let applied = &remedied["applied_remedies"][0];
    assert_eq!(
        (&applied["finding"], &applied["kind"], &applied["remedy"]),
        (&f["id"], &json!("vanishing_gradients"), &f["remedy"]),
        "{remedied}"
    );
    let model = &remedied["spec"]["model"];
    assert_eq!(
        (model["activation"].clone(), model["init"].clone()),
        (json!("relu"), json!("he"))
    );
    assert_eq!(model["batch_norm"], true);
    // The rest of the spec is the original's.
    assert_eq!(remedied["spec"]["optimizer"], job["spec"]["optimizer"]);
    assert_eq!(remedied["spec"]["validation"], job["spec"]["validation"]);
    let new_id = remedied["id"].as_str().unwrap();
    let during = app.get_json(&format!("/v1/jobs/{id}/diagnostics")).await;
    assert_eq!(during["remedies"][0]["job_id"], json!(new_id));
    assert_eq!(during["remedies"][0]["applied"][0]["remedy"], f["remedy"]);
    let after = wait_until_finished(&app, new_id).await;
    assert_eq!(after["status"], "succeeded", "{after}");
    assert!(
        findings(&after, "vanishing_gradients").is_empty(),
        "{after}"
    );
    let d = app.get_json(&format!("/v1/jobs/{id}/diagnostics")).await;
    let outcome = &d["remedies"][0]["comparison"][0];
    assert_eq!(outcome["kind"], "vanishing_gradients", "{d}");
    assert_eq!(outcome["resolved"], true, "{d}");
    let (before, after) = (
        outcome["before"]["balanced_accuracy"].as_f64().unwrap(),
        outcome["after"]["balanced_accuracy"].as_f64().unwrap(),
    );
    assert!(after > before + 0.1, "{before} → {after}");

    // The picture: one line per layer, on a log scale.
    let svg = app
        .get(&format!("/v1/jobs/{id}/gradients.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.unwrap();
    assert!(svg.contains("(log scale)") && svg.contains("output layer"));
    let points = app
        .get_json(&format!("/v1/jobs/{id}/gradients.svg?format=json"))
        .await;
    assert_eq!(
        points["series"].as_array().unwrap().len(),
        11,
        "10 hidden layers and the output: {points}"
    );
    assert_eq!(points["y"]["log"], true);
    assert!(svg.contains("vanishing_gradients from epoch 1"), "{svg}");
    problem(
        app.get(&format!("/v1/jobs/{id}/gradients.svg?run_id=run_nope"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn stop_on_ends_a_run_at_the_epoch_of_an_error_finding() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = |stop_on: Value| {
        json!({"dataset_id": ds, "seed": 0, "final_model": false,
               "model": {"hidden_layers": [128, 128, 128]},
               "optimizer": {"kind": "rmsprop", "learning_rate": 1.0},
               "training": {"epochs": 6, "early_stopping": null, "stop_on": stop_on},
               "validation": {"folds": 2}})
    };
    let p = problem(submit(&app, spec(json!(["nonsense"]))).await, 422).await;
    assert_eq!(error_fields(&p), ["training.stop_on[0]"], "{p}");
    let id = queued(&app, spec(json!(["exploding_gradients"]))).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("stop_on: exploding_gradients"), "{error}");
    assert_eq!(
        findings(&job, "exploding_gradients")[0]["severity"],
        "error"
    );
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    for run in runs["items"].as_array().unwrap() {
        assert!(run["epochs_done"].as_u64().unwrap() <= 1, "{run}");
    }
    // Without stop_on the same job trains every epoch (the loss is finite, only huge).
    let id = queued(&app, spec(json!([]))).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        findings(&job, "exploding_gradients")[0]["severity"],
        "error"
    );
}

#[tokio::test]
async fn a_model_list_trains_every_variant_on_the_same_folds_with_a_leaderboard_row_each() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let base = |model: Value| {
        json!({"dataset_id": ds, "model": model, "training": {"epochs": 2},
               "validation": {"folds": 2}})
    };
    let p = problem(submit(&app, base(json!([]))).await, 422).await;
    assert_eq!(error_fields(&p), ["model"]);
    let ten: Vec<Value> = (0..10).map(|_| json!({"hidden_layers": [4]})).collect();
    let p = problem(submit(&app, base(json!(ten))).await, 422).await;
    assert_eq!(error_fields(&p), ["model"]);
    let p = problem(
        submit(
            &app,
            base(json!([{"hidden_layers": [4]}, {"hidden_layers": [0]}])),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["model[1].hidden_layers[0]"], "{p}");
    let p = problem(
        submit(&app, base(json!([{"hidden_layerz": [4]}]))).await,
        422,
    )
    .await;
    assert!(error_fields(&p)[0].starts_with("model[0]"), "{p}");
    // 5 models × 4 strategies = 20 variants, more than 16.
    let mut too_many = base(json!([{}, {}, {}, {}, {}]));
    too_many["imbalance"] =
        json!({"strategy": ["none", "class_weight", "oversample", "undersample"]});
    let p = problem(submit(&app, too_many).await, 422).await;
    assert_eq!(error_fields(&p), ["model"], "{p}");

    let id = queued(
        &app,
        base(json!([{"hidden_layers": [8]}, {"hidden_layers": [16, 16], "activation": "tanh"}])),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    assert_eq!(
        runs["items"].as_array().unwrap().len(),
        5,
        "2 variants × 2 folds + final"
    );
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let board = metrics["leaderboard"].as_array().unwrap();
    let mut variants: Vec<u64> = board
        .iter()
        .map(|r| r["variant"].as_u64().unwrap())
        .collect();
    variants.sort_unstable();
    assert_eq!(variants, [0, 1]);
    for row in board {
        assert_eq!(row["folds"], 2);
        let v = row["variant"].as_u64().unwrap() as usize;
        assert_eq!(
            row["model"]["hidden_layers"],
            job["spec"]["model"][v]["hidden_layers"]
        );
    }
    // Both variants trained on the same recorded folds: their held-out class counts agree.
    let folds = metrics["folds"].as_array().unwrap();
    for f in 0..2 {
        let counts: Vec<&Value> = folds
            .iter()
            .filter(|r| r["fold"] == f)
            .map(|r| &r["validation_class_counts"])
            .collect();
        assert_eq!(counts.len(), 2);
        assert_eq!(counts[0], counts[1]);
    }
    // The final model trains the winner.
    let winner = board[0]["variant"].clone();
    let last = runs["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "final");
    assert_eq!(last["variant"], winner, "{last}");
}

#[tokio::test]
async fn findings_appear_while_the_job_is_still_training() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    // Far more epochs than the test waits for: it is cancelled once the finding shows.
    let id = queued(&app, vanishing(&ds, 10000, 1)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let job = loop {
        let job = app.get_json(&format!("/v1/jobs/{id}")).await;
        if !findings(&job, "vanishing_gradients").is_empty() {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no finding while training: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job["status"], "running", "{job}");
    assert!(job["progress"]["runs_done"].as_u64().unwrap() < 2, "{job}");
    let res = app
        .post(&format!("/v1/jobs/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(wait_until_finished(&app, &id).await["status"], "cancelled");
}
