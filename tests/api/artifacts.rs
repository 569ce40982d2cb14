//! Artifacts in an object store (`--artifacts`): checkpoints, ensemble members and held-out
//! predictions are objects, the database holds their keys, results equal those with every
//! blob in the database, `crossfold gc` deletes what no run points to; with S3 (moto), a store
//! that stops answering fails runs retryably, `/readyz` says so, and the job finishes once the
//! store is back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, queued, upload_breast_cancer, wait_until_finished_within};
use crate::moto::Moto;

/// An ensemble strategy has members to store besides the checkpoint; `none` trains faster.
fn spec(ds: &str, epochs: u32, strategy: &str) -> Value {
    json!({"dataset_id": ds, "seed": 5, "model": {"hidden_layers": [16]},
           "training": {"epochs": epochs, "early_stopping": null},
           "validation": {"folds": 2}, "imbalance": {"strategy": strategy}})
}

/// The job's scores, and an undisturbed SQLite app's for the same spec, with blobs in it.
async fn scores_and_reference(
    app: &TestApp,
    id: &str,
    spec_of: impl Fn(&str) -> Value,
) -> (Value, Value) {
    let scores = |m: Value| json!([m["summary"], m["pooled"]]);
    let alone = TestApp::spawn().await;
    let ds = upload_breast_cancer(&alone).await;
    let calm = queued(&alone, spec_of(&ds)).await;
    let done = wait_until_finished_within(&alone, &calm, 120).await;
    assert_eq!(done["status"], "succeeded");
    (
        scores(app.get_json(&format!("/v1/jobs/{id}/metrics")).await),
        scores(alone.get_json(&format!("/v1/jobs/{calm}/metrics")).await),
    )
}

/// How many blobs the database holds, and how many keys of objects.
async fn blobs_and_keys(app: &TestApp) -> (i64, i64) {
    let db = app.db().await;
    crate::with_pool!(&db, p => sqlx::query_as(
        "SELECT (SELECT count(*) FROM runs WHERE heldout IS NOT NULL)
              + (SELECT count(*) FROM run_checkpoints)
              + (SELECT count(*) FROM run_members WHERE length(weights) > 0),
                (SELECT count(*) FROM runs WHERE checkpoint_key IS NOT NULL)
              + (SELECT count(*) FROM runs WHERE heldout_key IS NOT NULL)
              + (SELECT count(*) FROM run_members WHERE weights_key IS NOT NULL)"
    )
    .fetch_one(p)
    .await
    .unwrap())
}

#[tokio::test]
async fn with_a_file_store_artifacts_are_objects_results_are_unchanged_and_gc_collects() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("objects").display());
    // Every epoch written with its checkpoint, so the ensemble's members are stored as they
    // finish however fast this machine trains.
    let app = TestApp::spawn_with(|s| {
        s.artifacts_url = Some(url.clone());
        s.queue.write_every = Duration::ZERO;
    })
    .await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(&app, spec(&ds, 8, "easy_ensemble")).await;
    let job = wait_until_finished_within(&app, &id, 120).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (blobs, keys) = blobs_and_keys(&app).await;
    assert_eq!(blobs, 0, "no blob stays in the database");
    assert!(
        keys >= 3 * 2,
        "each run's checkpoint and members are objects: {keys}"
    );
    // A run's checkpoint reads back from its object.
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let run = runs["items"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .get(&format!("/v1/runs/{run}/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(!res.bytes().await.unwrap().is_empty());
    let (scores, reference) =
        scores_and_reference(&app, &id, |ds| spec(ds, 8, "easy_ensemble")).await;
    assert_eq!(
        scores, reference,
        "the same results as with blobs in the database"
    );
    // Replaced checkpoints have no pointer: gc deletes them, and every pointer keeps its object.
    let gc = std::process::Command::new(env!("CARGO_BIN_EXE_crossfold"))
        .args(["gc", "--min-age-secs", "0", "--database"])
        .arg(&app.settings.database_url)
        .args(["--artifacts", &url])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&gc.stdout);
    assert!(
        gc.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&gc.stderr)
    );
    let deleted: usize = out
        .split(", ")
        .nth(1)
        .and_then(|d| d.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(deleted > 0, "replaced checkpoints are collected: {out}");
    let db = app.db().await;
    assert_eq!(
        crossfold::store::gc::check_pointers(&db).await.unwrap() as i64,
        keys
    );
    let again = crossfold::store::gc::collect(&db, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((again.listed as i64, again.deleted), (keys, 0));
}

#[tokio::test]
#[ignore = "needs moto_server: pip install 'moto[server]' (CI does)"]
async fn an_unreachable_s3_store_fails_runs_retryably_readyz_says_so_and_the_job_finishes() {
    let moto = Moto::start().await;
    let app = TestApp::spawn_with(|s| {
        s.artifacts_url = Some(moto.url("outage"));
        s.workers = 1;
        s.queue.write_every = Duration::ZERO;
        s.queue.epoch_pause = Duration::from_millis(30);
    })
    .await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(&app, spec(&ds, 30, "none")).await;
    let db = app.db().await;
    let query = |sql: &'static str| {
        let db = db.clone();
        async move {
            crate::with_pool!(&db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.unwrap())
        }
    };
    within(60, "a run trained 3 epochs", async || {
        query("SELECT count(*) FROM runs WHERE epochs_done >= 3").await > 0
    })
    .await;
    moto.signal("-STOP");
    within(60, "/readyz reported the store", async || {
        let res = app.get("/readyz").send().await.unwrap();
        res.status() == 503 && res.text().await.unwrap().contains("artifact store")
    })
    .await;
    within(90, "a run waited for the store", async || {
        query(
            "SELECT count(*) FROM runs WHERE state = 'queued' AND last_error LIKE '%unreachable%'",
        )
        .await
            > 0
    })
    .await;
    moto.signal("-CONT");
    let job = wait_until_finished_within(&app, &id, 180).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
    // An outage does not use up attempts, and nothing was lost: the same results.
    let attempts = query("SELECT max(attempt) FROM runs").await;
    assert!(attempts <= 2, "attempts {attempts}");
    let (scores, reference) = scores_and_reference(&app, &id, |ds| spec(ds, 30, "none")).await;
    assert_eq!(scores, reference);
    assert!(crossfold::store::gc::check_pointers(&db).await.unwrap() > 0);
}

/// Waits up to `secs` for `check`, failing with `what`.
async fn within(secs: u64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
