//! Chaos on PostgreSQL with artifacts in S3 (moto): one API process and three worker processes
//! train four jobs (a model × strategy comparison with an ensemble, layer-wise pretraining, a
//! GRU on sequences, the remedy of a vanishing-gradients finding) while workers are killed with SIGKILL ten times (each restarted), the API
//! once, and PostgreSQL is restarted once. Every job succeeds; its scores equal the same specs
//! trained undisturbed on one SQLite process; every run has each of its epochs exactly once;
//! after `crossfold gc` every object has a pointer and every pointer its object; an SSE client
//! that reconnects to whichever API process is up receives every epoch.

use std::collections::HashSet;
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

/// Where the processes keep artifacts: `--artifacts` and the `AWS_*` variables.
type Artifacts = (String, Vec<(&'static str, String)>);

fn worker(database: &str, (artifacts, env): &Artifacts) -> Worker {
    Worker(
        Command::new(env!("CARGO_BIN_EXE_crossfold"))
            .args(["worker", "--workers", "1", "--checkpoint-every-ms", "0"])
            .args(["--test-epoch-pause-ms", "15", "--test-lease-ms", "1500"])
            .args(["--database", database, "--artifacts", artifacts])
            .envs(env.iter().map(|(k, v)| (k, v)))
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

/// Trains ten sigmoid layers on `table` (vanishing gradients, a finding with a remedy) on
/// `app`, which has a worker: the job and the finding's id.
async fn vanishing_finding(app: &TestApp, table: &str) -> (String, Value) {
    let spec = crate::helpers::vanishing(table, 8, 14);
    let id = queued(app, spec).await;
    let job = wait_until_finished(app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let findings = job["diagnostics"].as_array().unwrap();
    let vanishing = findings.iter().find(|f| f["kind"] == "vanishing_gradients");
    (
        id,
        vanishing.expect("a vanishing-gradients finding")["id"].clone(),
    )
}

/// Submits the remedy of `finding` of job `id`: the remedy job's id.
async fn remedy(app: &TestApp, id: &str, finding: &Value) -> String {
    let res = app
        .post(&format!("/v1/jobs/{id}/remedy"))
        .json(&json!({"finding": finding}))
        .send()
        .await
        .unwrap();
    crate::helpers::json(res, 202).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
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
#[ignore = "needs PostgreSQL (run under pg_virtualenv) and moto_server (pip install 'moto[server]'); CI has both"]
async fn jobs_survive_killed_workers_a_killed_api_and_a_database_restart() {
    // It restarts the cluster other tests share: it waits for them, and they for it.
    let _own = crate::helpers::own_postgres().await;
    let db = fresh_postgres_database().await;
    let moto = crate::moto::Moto::start().await;
    let store = moto.for_process("chaos");
    let api_args = ["--workers", "0", "--artifacts", &store.0];
    let start_api = || server::Server::start_with_env(Some(&db), &api_args, &store.1);
    // The API in this test process only to upload and submit; then the API is a process.
    // Each kill or restart costs the runs it interrupts an attempt: allow plenty.
    let setup = TestApp::spawn_with(|s| {
        s.workers = 0;
        s.database_url = db.clone();
        s.limits.max_attempts = 30;
    })
    .await;
    let (table, sequences) = datasets(&setup).await;
    // A remedy job: its original trained first (by an app with a worker, stopped before the
    // other jobs are queued, so none of their runs trains outside the chaos).
    let mut trainer = TestApp::spawn_with(|s| {
        s.workers = 1;
        s.database_url = db.clone();
    })
    .await;
    let (original, finding) = vanishing_finding(&trainer, &table).await;
    trainer.stop().await;
    let mut ids = Vec::new();
    for spec in specs(&table, &sequences) {
        ids.push(queued(&setup, spec).await);
    }
    ids.push(remedy(&setup, &original, &finding).await);
    let mut api = start_api();
    // An SSE client follows the comparison on whichever API process is up, reconnecting.
    let base = std::sync::Arc::new(std::sync::Mutex::new(api.base.clone()));
    let follower = tokio::spawn(follow_events(base.clone(), ids[0].clone()));
    let mut workers: Vec<Worker> = (0..3).map(|_| worker(&db, &store)).collect();
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
            workers[victim] = worker(&db, &store); // the old one is killed as it drops
            kills += 1;
            if kills == 3 {
                api = start_api();
                *base.lock().unwrap() = api.base.clone();
            }
            if kills == 6 {
                restart_postgres();
            }
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The follower's stream ends with the job's last status, on the API still up.
    let followed = tokio::time::timeout(Duration::from_secs(60), follower).await;
    let (received, connections) = followed.expect("the event stream ends").unwrap();
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
    let (original, finding) = vanishing_finding(&alone, &table).await;
    let calm = remedy(&alone, &original, &finding).await;
    let calm_job = wait_until_finished(&alone, &calm).await;
    assert_eq!(calm_job["status"], "succeeded");
    assert_eq!(
        scores(&pg, &ids[3]).await,
        scores(&alone, &calm).await,
        "the remedy"
    );
    every_epoch_once(&pg).await;
    assert!(
        connections >= 2,
        "the API was killed under the stream: {connections} connections, {} epochs",
        received.len()
    );
    assert_eq!(
        received,
        stored_epochs(&pg, &ids[0]).await,
        "every epoch reached the client"
    );
    every_object_has_a_pointer_after_gc(&db, &store);
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

/// `crossfold gc` deletes what no pointer names; then a second collection finds nothing to
/// delete and no pointer without its object (gc fails if it finds one).
fn every_object_has_a_pointer_after_gc(db: &str, (artifacts, env): &Artifacts) {
    let gc = || {
        let out = Command::new(env!("CARGO_BIN_EXE_crossfold"))
            .args([
                "gc",
                "--min-age-secs",
                "0",
                "--database",
                db,
                "--artifacts",
                artifacts,
            ])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let first = gc();
    assert!(!first.starts_with("0 objects"), "{first}");
    let second = gc();
    assert!(
        second.contains(" 0 deleted, 0 without a pointer"),
        "{second}"
    );
}

/// Every (run, epoch) of job `id`'s events, following the stream on the API process `base`
/// names, reconnecting whenever it breaks, until it ends with the job; and the connections made.
async fn follow_events(
    base: std::sync::Arc<std::sync::Mutex<String>>,
    id: String,
) -> (HashSet<(String, u64)>, usize) {
    use futures_util::StreamExt;
    let client = reqwest::Client::new();
    let (mut received, mut connections) = (HashSet::new(), 0);
    loop {
        let url = format!("{}/v1/jobs/{id}/events", base.lock().unwrap());
        let Ok(res) = client.get(url).send().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        connections += 1;
        let (mut stream, mut buffer) = (res.bytes_stream(), Vec::new());
        while let Some(Ok(chunk)) = stream.next().await {
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = buffer.drain(..end + 2).collect();
                let event = String::from_utf8(event).unwrap();
                let data = event.lines().find_map(|l| l.strip_prefix("data: "));
                let data: Value = serde_json::from_str(data.unwrap_or("null")).unwrap();
                if event.starts_with("event: epoch") {
                    let run = data["run_id"].as_str().unwrap().to_owned();
                    received.insert((run, data["record"]["epoch"].as_u64().unwrap()));
                } else if event.starts_with("event: status") && data["status"] == "succeeded" {
                    return (received, connections);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every (run, epoch) of job `id` as stored.
async fn stored_epochs(app: &TestApp, id: &str) -> HashSet<(String, u64)> {
    let db = app.db().await;
    let rows: Vec<(String, i64)> = crate::with_pool!(&db, p => sqlx::query_as(
        "SELECT e.run_id, e.epoch FROM epoch_metrics e JOIN runs r ON r.id = e.run_id
         WHERE r.job_id = $1",
    )
    .bind(id)
    .fetch_all(p)
    .await
    .unwrap());
    rows.into_iter().map(|(r, e)| (r, e as u64)).collect()
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
