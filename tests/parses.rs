//! How often a request parses the job spec and the feature encoding (`domain::parses`): each
//! is resolved once and read back typed. Its own test binary, so that no other test's requests
//! are counted.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use crossfold::domain::parses::counts;
use helpers::{TestApp, five_rows, json, queued, upload_breast_cancer, wait_until_finished};
use serde_json::json;

/// (specs, encodings) parsed while `f` ran.
async fn parses<T>(f: impl std::future::Future<Output = T>) -> ((usize, usize), T) {
    let before = counts();
    let out = f.await;
    let after = counts();
    ((after.0 - before.0, after.1 - before.1), out)
}

#[tokio::test]
async fn submitting_parses_the_spec_once_and_reading_metrics_or_predicting_parses_nothing() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "model": {"hidden_layers": [16]},
                      "training": {"epochs": 3}, "validation": {"folds": 2}});
    let (submitted, id) = parses(queued(&app, spec)).await;
    assert_eq!(
        submitted,
        (1, 0),
        "(specs, encodings) parsed to submit a job"
    );
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");

    let reads = [
        format!("/v1/jobs/{id}/metrics"),
        format!("/v1/jobs/{id}"),
        format!("/v1/jobs/{id}/runs"),
    ];
    for path in reads {
        let (read, _) = parses(app.get_json(&path)).await;
        assert_eq!(read, (0, 0), "GET {path}");
    }
    let body = json!({"rows": five_rows()});
    for query in ["", "?ensemble=folds"] {
        let path = format!("/v1/jobs/{id}/predict{query}");
        let predict = app.post(&path).json(&body).send();
        let (predicted, res) = parses(async { json(predict.await.unwrap(), 200).await }).await;
        assert_eq!(predicted, (0, 0), "POST {path}: {res}");
    }

    // Fine-tuning from the job reads its final model once (kept since it was stored).
    let tune = json!({"dataset_id": ds, "init": {"job_id": id}, "model": {"hidden_layers": [16]},
                      "training": {"epochs": 1}, "validation": {"folds": 2}});
    let (submitted, _) = parses(queued(&app, tune)).await;
    assert_eq!(submitted.0, 1, "one spec parse to submit a fine-tuning job");
    assert!(submitted.1 <= 1, "{submitted:?}");
}
