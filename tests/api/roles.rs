//! Process roles on one database: `serve --workers 0` is the API alone, and a separate
//! `crossfold worker` process trains what it queues.

use serde_json::json;

use crate::helpers::{TestApp, queued, upload_breast_cancer, wait_until_finished};

/// Kills the worker process when the test ends, however it ends.
struct Worker(std::process::Child);

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
}
