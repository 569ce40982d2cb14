//! `crossfold copy`: a database with jobs of several kinds (a model × strategy comparison with
//! an ensemble, layer-wise pretraining, a GRU on sequences) copied into an empty one reads the
//! same through every GET, ids and bytes included; a second copy into it is refused. Into
//! PostgreSQL the work has its artifacts in a file object store: the copy points to the same
//! objects and checks each is there.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, fresh_postgres_database, queued, ts_fixture, upload_breast_cancer, upload_ts,
    wait_until_finished,
};

#[tokio::test]
async fn a_copy_into_sqlite_reads_the_same_through_every_get() {
    copy_reads_the_same("sqlite").await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv (CI does)"]
async fn a_copy_into_postgres_reads_the_same_through_every_get() {
    let _share = crate::helpers::share_postgres().await;
    copy_reads_the_same("postgres").await;
}

/// Trains the jobs on SQLite, copies with the binary into `backend`, and compares.
async fn copy_reads_the_same(backend: &str) {
    let objects = tempfile::tempdir().unwrap();
    let artifacts = match backend {
        "postgres" => Some(format!("file://{}", objects.path().display())),
        _ => None,
    };
    let source = TestApp::spawn_with(|s| s.artifacts_url = artifacts.clone()).await;
    let table = upload_breast_cancer(&source).await;
    let res = upload_ts(
        &source,
        "",
        "text/x-ts",
        ts_fixture("JapaneseVowels_TRAIN.ts"),
    )
    .await;
    let sequences = crate::helpers::json(res, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let small = json!({"epochs": 3, "early_stopping": null});
    let specs = [
        json!({"dataset_id": table, "seed": 1, "training": small, "validation": {"folds": 2},
               "model": [{"hidden_layers": [8]}, {"hidden_layers": [8, 8]}],
               "imbalance": {"strategy": ["none", "easy_ensemble"]}}),
        json!({"dataset_id": table, "seed": 2, "training": small, "validation": {"folds": 2},
               "model": {"hidden_layers": [8, 8]},
               "pretrain": {"kind": "autoencoder", "epochs": 2}}),
        json!({"dataset_id": sequences, "seed": 3, "training": small, "validation": {"folds": 2},
               "model": {"kind": "gru", "hidden_size": 8}}),
    ];
    let mut jobs = Vec::new();
    for spec in specs {
        let id = queued(&source, spec).await;
        assert_eq!(
            wait_until_finished(&source, &id).await["status"],
            "succeeded"
        );
        jobs.push(id);
    }
    let target = match backend {
        "postgres" => fresh_postgres_database().await,
        _ => format!(
            "sqlite://{}",
            source.settings.database_url.replace("sqlite://", "") + ".copy"
        ),
    };
    let from = source.settings.database_url.clone();
    let copy = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_crossfold"));
        command.args(["copy", "--from", &from, "--to", &target]);
        if let Some(a) = &artifacts {
            command.args(["--artifacts", a]);
        }
        command.output().unwrap()
    };
    let first = copy();
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        out.contains("every table's rows and checksum match"),
        "{out}"
    );
    assert_eq!(
        out.contains("objects in the artifact store, every one present"),
        artifacts.is_some(),
        "{out}"
    );
    let again = copy();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("the target is not empty"), "{err}");

    let copied = TestApp::spawn_with(|s| {
        s.workers = 0;
        s.database_url = target.clone();
        s.artifacts_url = artifacts.clone();
    })
    .await;
    for path in paths(&source, &jobs).await {
        let (a, b) = (body(&source, &path).await, body(&copied, &path).await);
        assert!(a == b, "GET {path} differs after the copy");
    }
}

/// Every GET that reads stored work: lists, datasets, each job's resources and each run's.
async fn paths(app: &TestApp, jobs: &[String]) -> Vec<String> {
    let mut paths = vec!["/v1/datasets".to_owned(), "/v1/jobs".to_owned()];
    let datasets = app.get_json("/v1/datasets").await;
    for d in datasets["items"].as_array().unwrap() {
        paths.push(format!("/v1/datasets/{}", d["id"].as_str().unwrap()));
    }
    for job in jobs {
        for part in [
            "",
            "/runs",
            "/metrics",
            "/diagnostics",
            "/predictions",
            "/curves.svg",
        ] {
            paths.push(format!("/v1/jobs/{job}{part}"));
        }
        let runs: Value = app.get_json(&format!("/v1/jobs/{job}/runs")).await;
        for run in runs["items"].as_array().unwrap() {
            let id = run["id"].as_str().unwrap();
            paths.push(format!("/v1/runs/{id}/metrics"));
            paths.push(format!("/v1/runs/{id}/checkpoint"));
        }
    }
    paths
}

/// The status and body of GET `path`.
async fn body(app: &TestApp, path: &str) -> (u16, Vec<u8>) {
    let res = app.get(path).send().await.unwrap();
    let status = res.status().as_u16();
    assert!(status == 200, "GET {path}: {status}");
    (status, res.bytes().await.unwrap().to_vec())
}
