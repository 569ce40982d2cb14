//! Chaos on PostgreSQL: one API process and three worker processes train three jobs (a model ×
//! strategy comparison with an ensemble, layer-wise pretraining, a GRU on sequences) while
//! workers are killed with SIGKILL ten times (each restarted), the API once, and PostgreSQL is
//! restarted once. Every job succeeds; its scores equal the same specs trained undisturbed on
//! one SQLite process; every run has each of its epochs exactly once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, fresh_postgres_database, queued, ts_fixture, upload_breast_cancer, upload_ts,
    wait_until_finished,
};

#[path = "../../benches/support/server.rs"]
mod server;

/// A worker process that is killed (SIGKILL) when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(database: &str) -> Worker {
    Worker(
        Command::new(env!("CARGO_BIN_EXE_crossfold"))
            .args(["worker", "--workers", "1", "--checkpoint-every-ms", "0"])
            .args(["--test-epoch-pause-ms", "15", "--test-lease-ms", "1500"])
            .args(["--database", database])
            .stderr(Stdio::null())
            .spawn()
            .expect("the worker starts"),
    )
}

/// The jobs' specs on datasets `table` and `sequences`.
fn specs(table: &str, sequences: &str) -> Vec<Value> {
    let training = json!({"epochs": 12, "early_stopping": null});
    vec![
        json!({"dataset_id": table, "seed": 11, "training": training, "validation": {"folds": 2},
               "model": [{"hidden_layers": [16]}, {"hidden_layers": [16, 16]}],
               "imbalance": {"strategy": ["none", "easy_ensemble"]}}),
        json!({"dataset_id": table, "seed": 12, "training": training, "validation": {"folds": 2},
               "model": {"hidden_layers": [16, 16]},
               "pretrain": {"kind": "autoencoder", "epochs": 4}}),
        json!({"dataset_id": sequences, "seed": 13, "validation": {"folds": 2},
               "training": {"epochs": 6, "early_stopping": null},
               "model": {"kind": "gru", "hidden_size": 8}}),
    ]
}

/// Uploads the two datasets to `app`: (table, sequences).
async fn datasets(app: &TestApp) -> (String, String) {
    let table = upload_breast_cancer(app).await;
    let res = upload_ts(app, "", "text/x-ts", ts_fixture("JapaneseVowels_TRAIN.ts")).await;
    let sequences = crate::helpers::json(res, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (table, sequences)
}

/// The scores a job's metrics report.
async fn scores(app: &TestApp, id: &str) -> Value {
    let m = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    json!([m["summary"], m["pooled"]])
}

/// Restarts the throwaway cluster `pg_virtualenv` started.
fn restart_postgres() {
    let version = std::env::var("PGVERSION").expect("PGVERSION, as pg_virtualenv sets it");
    let done = Command::new("pg_ctlcluster")
        .args([&version, "regress", "restart"])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(done.success(), "restarting PostgreSQL");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv (CI does)"]
async fn jobs_survive_killed_workers_a_killed_api_and_a_database_restart() {
    let db = fresh_postgres_database().await;
    // The API in this test process only to upload and submit; then the API is a process.
    // Each kill or restart costs the runs it interrupts an attempt: allow plenty.
    let setup = TestApp::spawn_with(|s| {
        s.workers = 0;
        s.database_url = db.clone();
        s.limits.max_attempts = 30;
    })
    .await;
    let (table, sequences) = datasets(&setup).await;
    let mut ids = Vec::new();
    for spec in specs(&table, &sequences) {
        ids.push(queued(&setup, spec).await);
    }
    let mut api = server::Server::start_on(Some(&db), &["--workers", "0"]);
    let mut workers: Vec<Worker> = (0..3).map(|_| worker(&db)).collect();
    let client = reqwest::Client::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(24);
    let (mut kills, started) = (0, Instant::now());
    loop {
        let done = all_ended(&client, &api, &ids).await;
        if done && kills >= 10 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the jobs never ended"
        );
        if kills < 10 {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(300..900))).await;
            let victim = rng.gen_range(0..workers.len());
            workers[victim] = worker(&db); // the old one is killed as it drops
            kills += 1;
            if kills == 3 {
                api = server::Server::start_on(Some(&db), &["--workers", "0"]);
            }
            if kills == 6 {
                restart_postgres();
            }
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    drop(workers);
    drop(api);
    // The same jobs undisturbed, on one SQLite process.
    let alone = TestApp::spawn().await;
    let (table, sequences) = datasets(&alone).await;
    let pg = TestApp::spawn_with(|s| {
        s.workers = 0;
        s.database_url = db.clone();
    })
    .await;
    for (id, spec) in ids.iter().zip(specs(&table, &sequences)) {
        let job = pg.get_json(&format!("/v1/jobs/{id}")).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let calm = queued(&alone, spec).await;
        assert_eq!(
            wait_until_finished(&alone, &calm).await["status"],
            "succeeded"
        );
        assert_eq!(
            scores(&pg, id).await,
            scores(&alone, &calm).await,
            "job {id}"
        );
    }
    every_epoch_once(&pg).await;
    // The chaos reached training: runs were interrupted and resumed.
    let pool = pg.db().await;
    let resumed: i64 = crate::with_pool!(&pool, p => sqlx::query_scalar(
        "SELECT count(*) FROM runs WHERE attempt > 1"
    )
    .fetch_one(p)
    .await
    .unwrap());
    assert!(resumed >= 3, "only {resumed} runs were interrupted");
}

/// Whether every job has ended, read from the API process (a failed read: not yet).
async fn all_ended(c: &reqwest::Client, api: &server::Server, ids: &[String]) -> bool {
    for id in ids {
        let Ok(res) = c.get(api.url(&format!("/v1/jobs/{id}"))).send().await else {
            return false;
        };
        let Ok(job) = res.json::<Value>().await else {
            return false;
        };
        match job["status"].as_str() {
            Some("succeeded") => {}
            Some("failed" | "cancelled") => panic!("job {id} ended {job}"),
            _ => return false,
        }
    }
    true
}

/// Each run's epochs are stored once each: as many rows as epochs done, numbered 1..=n.
async fn every_epoch_once(app: &TestApp) {
    let db = app.db().await;
    let counts: Vec<(String, i64, i64, i64)> = crate::with_pool!(&db, p => sqlx::query_as(
        "SELECT r.id, r.epochs_done, count(e.epoch), coalesce(max(e.epoch), 0) FROM runs r \
         LEFT JOIN epoch_metrics e ON e.run_id = r.id GROUP BY r.id, r.epochs_done",
    )
    .fetch_all(p)
    .await
    .unwrap());
    assert!(!counts.is_empty());
    for (run, done, rows, last) in counts {
        assert!(
            done > 0 && rows == done && last == done,
            "run {run}: {done} {rows} {last}"
        );
    }
}
