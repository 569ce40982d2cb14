//! Process roles on one database: `serve --workers 0` is the API alone, and separate
//! `crossfold worker` processes train what it queues; a worker stopped past its lease loses
//! its run to another and, resumed, writes nothing (no row, no object).

use serde_json::json;
use sha2::Digest;

use crossfold::store::Db;

use crate::helpers::{TestApp, queued, upload_breast_cancer, wait_until_finished};

/// Kills the worker process when the test ends, however it ends.
struct Worker(std::process::Child);

/// `--artifacts` and the `AWS_*` variables of a process.
type Artifacts = (String, Vec<(&'static str, String)>);

/// A worker process on `database` and `artifacts` with a short lease and a pause after each
/// epoch, its log going to `log`.
fn worker(database: &str, (artifacts, env): &Artifacts, log: &std::path::Path) -> Worker {
    let log = std::fs::File::create(log).unwrap();
    Worker(
        std::process::Command::new(env!("CARGO_BIN_EXE_crossfold"))
            .args(["worker", "--workers", "1", "--checkpoint-every-ms", "0"])
            .args(["--test-epoch-pause-ms", "40", "--test-lease-ms", "1500"])
            .args(["--database", database, "--artifacts", artifacts])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stderr(log)
            .spawn()
            .expect("the worker starts"),
    )
}

fn signal(worker: &Worker, sig: &str) {
    let pid = worker.0.id().to_string();
    let sent = std::process::Command::new("kill")
        .args([sig, &pid])
        .status();
    assert!(sent.unwrap().success(), "kill {sig} {pid}");
}

/// A run's id, state, lease token, epochs done, checkpoint, its key and result.
type RunRow = (
    String,
    String,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
);

/// Every run's row and epochs as stored, and every object: what a fenced-out worker must not
/// change.
async fn stored(db: &Db) -> Vec<String> {
    let store = db.artifacts().expect("an artifact store");
    let mut objects = Vec::new();
    for (key, _) in store.list("runs").await.unwrap() {
        let bytes = store.get(&key).await.unwrap();
        objects.push(format!("{key} {:x}", sha2::Sha256::digest(&bytes)));
    }
    objects.sort();
    let (runs, epochs): (Vec<RunRow>, Vec<(String, i64, String)>) = crate::with_pool!(db, pool => {
        let runs = sqlx::query_as(
            "SELECT r.id, r.state, r.lease_token, r.epochs_done, c.checkpoint, r.checkpoint_key,
                    r.result_json
             FROM runs r LEFT JOIN run_checkpoints c ON c.run_id = r.id ORDER BY r.id",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let epochs = sqlx::query_as(
            "SELECT run_id, epoch, record_json FROM epoch_metrics ORDER BY run_id, epoch",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        (runs, epochs)
    });
    runs.iter()
        .map(|r| format!("{r:?}"))
        .chain(epochs.iter().map(|e| format!("{e:?}")))
        .chain(objects)
        .collect()
}

#[tokio::test]
async fn a_worker_stopped_past_its_lease_loses_its_run_and_resumed_writes_nothing() {
    stopped_worker_is_fenced_out("sqlite").await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (run under pg_virtualenv) and moto_server (pip install 'moto[server]'); CI has both"]
async fn on_postgres_a_worker_stopped_past_its_lease_loses_its_run_and_resumed_writes_nothing() {
    let _share = crate::helpers::share_postgres().await;
    stopped_worker_is_fenced_out("postgres").await;
}

/// The API alone and worker processes on `backend` (SQLite with a file object store, or
/// PostgreSQL with S3 in moto); worker A is stopped mid-run past its lease, B takes the run
/// over; A, resumed, writes nothing, neither rows nor objects; the scores equal one SQLite
/// process's.
async fn stopped_worker_is_fenced_out(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (url, moto) = match backend {
        "postgres" => (
            Some(crate::helpers::fresh_postgres_database().await),
            Some(crate::moto::Moto::start().await),
        ),
        _ => (None, None),
    };
    // The workers take credentials from AWS_* as deployed; the test process from the URL.
    let (in_process, artifacts): (String, Artifacts) = match &moto {
        Some(moto) => (moto.url("fencing"), moto.for_process("fencing")),
        None => {
            let file = format!("file://{}", dir.path().join("objects").display());
            (file.clone(), (file, Vec::new()))
        }
    };
    let app = TestApp::spawn_with(|s| {
        s.workers = 0;
        s.artifacts_url = Some(in_process);
        if let Some(url) = url {
            s.database_url = url;
        }
    })
    .await;
    let pool = app.db().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "model": {"hidden_layers": [16]}, "seed": 3,
                      "training": {"epochs": 30, "early_stopping": null},
                      "validation": {"folds": 2}});
    let id = queued(&app, spec).await;
    let db = app.settings.database_url.clone();
    let a = worker(&db, &artifacts, &dir.path().join("a.log"));
    // Stop A mid-run, with epochs and a checkpoint stored.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let running: Option<i64> = crate::with_pool!(&pool, p => sqlx::query_scalar(
            "SELECT epochs_done FROM runs WHERE state = 'running' AND epochs_done >= 3",
        )
        .fetch_optional(p)
        .await
        .unwrap());
        if running.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A never trained 3 epochs"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    signal(&a, "-STOP");
    // B reaps A's expired lease, resumes the run from its checkpoint and finishes the job.
    let _b = worker(&db, &artifacts, &dir.path().join("b.log"));
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let before = stored(&pool).await;
    signal(&a, "-CONT");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        stored(&pool).await,
        before,
        "the fenced-out worker wrote something"
    );
    let log = std::fs::read_to_string(dir.path().join("a.log")).unwrap();
    assert!(
        log.contains("lease is lost") || log.contains("lost the lease"),
        "{log}"
    );
    // Each run's epochs, once each: as many rows as epochs done, numbered 1..=n.
    let counts: Vec<(i64, i64, i64)> = crate::with_pool!(&pool, p => sqlx::query_as(
        "SELECT r.epochs_done, count(e.epoch), coalesce(max(e.epoch), 0) FROM runs r \
         LEFT JOIN epoch_metrics e ON e.run_id = r.id GROUP BY r.id, r.epochs_done",
    )
    .fetch_all(p)
    .await
    .unwrap());
    assert!(
        counts.iter().all(|&(n, c, m)| n == 30 && c == n && m == n),
        "{counts:?}"
    );
    // And the results are those of one process training the same job undisturbed.
    let alone = TestApp::spawn().await;
    let ds = upload_breast_cancer(&alone).await;
    let spec = json!({"dataset_id": ds, "model": {"hidden_layers": [16]}, "seed": 3,
                      "training": {"epochs": 30, "early_stopping": null},
                      "validation": {"folds": 2}});
    let id_alone = queued(&alone, spec).await;
    assert_eq!(
        wait_until_finished(&alone, &id_alone).await["status"],
        "succeeded"
    );
    let scores = |m: serde_json::Value| (m["summary"].clone(), m["pooled"].clone());
    assert_eq!(
        scores(app.get_json(&format!("/v1/jobs/{id}/metrics")).await),
        scores(
            alone
                .get_json(&format!("/v1/jobs/{id_alone}/metrics"))
                .await
        ),
        "a run resumed in another process ends where an undisturbed one does"
    );
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_api_without_workers_queues_and_a_worker_process_trains_the_job() {
    let app = TestApp::spawn_with(|s| s.workers = 0).await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "model": {"hidden_layers": [8]},
                      "training": {"epochs": 2}, "validation": {"folds": 2}});
    let id = queued(&app, spec).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let job = app.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(
        job["status"], "queued",
        "nothing trains in an API-only process: {job}"
    );

    let _worker = Worker(
        std::process::Command::new(env!("CARGO_BIN_EXE_crossfold"))
            .args(["worker", "--workers", "1", "--database"])
            .arg(&app.settings.database_url)
            .spawn()
            .expect("the worker starts"),
    );
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    assert_eq!(metrics["folds"].as_array().unwrap().len(), 2, "{metrics}");
    // Each run records the kernel set it trained on: this machine's.
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    for run in runs["items"].as_array().unwrap() {
        assert_eq!(
            run["kernels"],
            crossfold::engine::kernels::kernel_set(),
            "{run}"
        );
        assert_eq!(run["resumed_on_kernels"], json!([]), "{run}");
    }
}

/// On PostgreSQL an API process's event streams follow its one listening connection: while
/// nothing changes its other connections stay idle (no poll), and three streams of two jobs
/// that a worker process trains receive every epoch and end with their jobs; the API process
/// holds one LISTEN connection, and the worker one.
#[tokio::test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv (CI does)"]
async fn on_postgres_event_streams_follow_one_listening_connection_per_process() {
    let _share = crate::helpers::share_postgres().await;
    let url = crate::helpers::fresh_postgres_database().await;
    let app = TestApp::spawn_with(|s| {
        s.workers = 0;
        s.database_url = format!("{url}?application_name=crossfold-api");
        // The reaper reads every third of a lease: not during this test's quiet second.
        s.queue.lease = std::time::Duration::from_secs(60);
    })
    .await;
    // The test's own connections, apart from the API's.
    let db = crossfold::store::connect(&url).await.unwrap();
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "model": {"hidden_layers": [8]}, "final_model": false,
                      "training": {"epochs": 6, "early_stopping": null},
                      "validation": {"folds": 2}});
    let jobs = [queued(&app, spec.clone()).await, queued(&app, spec).await];
    let mut streams = Vec::new();
    for id in [&jobs[0], &jobs[0], &jobs[1]] {
        let res = app.get(&format!("/v1/jobs/{id}/events")).send().await;
        streams.push(tokio::spawn(
            async move { res.unwrap().text().await.unwrap() },
        ));
    }
    assert_eq!(listening(&db, 1).await, 1, "the API process listens once");
    // Nothing changes while no worker runs: a poll would show as a recent statement.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let busy: i64 = crate::with_pool!(&db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'crossfold-api'
           AND state_change > now() - interval '1 second'",
    )
    .fetch_one(p)
    .await
    .unwrap());
    assert_eq!(
        busy, 0,
        "the API process read nothing while nothing changed"
    );
    let _worker = Worker(
        std::process::Command::new(env!("CARGO_BIN_EXE_crossfold"))
            .args(["worker", "--workers", "1", "--database", &url])
            .spawn()
            .expect("the worker starts"),
    );
    assert_eq!(listening(&db, 2).await, 2, "and the worker process once");
    for stream in streams {
        let body = tokio::time::timeout(std::time::Duration::from_secs(120), stream)
            .await
            .expect("the stream ends with its job")
            .unwrap();
        assert_eq!(
            body.matches("event: epoch").count(),
            12,
            "2 folds x 6: {body}"
        );
        let last_status = body.rsplit("event: status").next().unwrap();
        assert!(last_status.contains("\"succeeded\""), "{body}");
    }
}

/// The connections to this database listening for notifications, once `expected` are (or
/// after 10 s).
async fn listening(db: &Db, expected: i64) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let count: i64 = crate::with_pool!(db, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(p)
        .await
        .unwrap());
        if count == expected || std::time::Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
