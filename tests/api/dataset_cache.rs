//! A worker's dataset cache: the first run of a dataset reads the database and leaves a copy
//! keyed by content; later runs read the copy (or, in the same process, the values it kept in
//! memory), so they train even when the database's values are gone, and train the same.

use serde_json::{Value, json};

use crate::helpers::{TestApp, execute, queued, upload_breast_cancer, wait_until_finished};

fn cached_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Each fold's metrics and best epoch.
async fn fold_metrics(app: &TestApp, id: &str) -> Value {
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let folds = metrics["folds"].as_array().unwrap().iter();
    json!(
        folds
            .map(|f| json!([f["metrics"], f["best_epoch"]]))
            .collect::<Vec<_>>()
    )
}

#[tokio::test]
async fn runs_after_the_first_read_the_dataset_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let mut app = TestApp::spawn_with(|s| {
        s.dataset_cache = Some(crossfold::config::DatasetCacheSettings {
            dir: cache.path().to_owned(),
            max_bytes: 64 << 20,
        })
    })
    .await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "model": {"hidden_layers": [8]}, "seed": 5,
                      "training": {"epochs": 3}, "validation": {"folds": 2}});
    let first = queued(&app, spec.clone()).await;
    assert_eq!(
        wait_until_finished(&app, &first).await["status"],
        "succeeded"
    );
    let files = cached_files(cache.path());
    assert_eq!(files.len(), 1, "one entry for one dataset: {files:?}");
    assert!(
        files[0].ends_with(".safetensors") && files[0].len() == 64 + 12,
        "{files:?}"
    );

    // Without its feature values in the database (the label stays: a submit reads it), only
    // the cache can train the dataset.
    let db = app.db().await;
    let sql = "DELETE FROM dataset_columns WHERE dataset_id = $1 AND storage = 'f32'";
    assert_eq!(execute(&db, sql, &[&ds]).await, 30);
    assert!(crossfold::store::datasets::values(&db, &ds).await.is_err());
    // The process that read them keeps them in memory.
    let kept = queued(&app, spec.clone()).await;
    assert_eq!(
        wait_until_finished(&app, &kept).await["status"],
        "succeeded"
    );
    // A new process has only the cache.
    app.restart().await;
    let second = queued(&app, spec.clone()).await;
    assert_eq!(
        wait_until_finished(&app, &second).await["status"],
        "succeeded"
    );
    assert_eq!(
        fold_metrics(&app, &second).await,
        fold_metrics(&app, &first).await
    );

    // And without the cache the run cannot read it: the cache is what served it.
    std::fs::remove_file(cache.path().join(&files[0])).unwrap();
    app.restart().await;
    let third = queued(&app, spec).await;
    let job = wait_until_finished(&app, &third).await;
    assert_eq!(job["status"], "failed", "{job}");
}
