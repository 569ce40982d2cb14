//! Write failures are visible: a full disk (a small tmpfs mounted for the test) and a checkpoint
//! too large to store fail the run with the cause, `/readyz` reports the disk, and nothing
//! already stored is lost. Ensemble members are written once, not with every checkpoint.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, fixture, json, problem};
use crate::helpers::{queued, submit, upload_breast_cancer, wait_until_finished};

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted on drop. Needs root (as the
/// sessions and CI run); the test fails, not skips, without it.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(mib: u64) -> Self {
        let dir = std::env::temp_dir().join(format!("crossfold-full-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn resize(&self, mib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn a_full_disk_fails_the_job_with_the_cause_and_readyz_says_so_until_a_write_succeeds() {
    let disk = SmallDisk::mount(3);
    let db = disk.path().join("crossfold.db");
    let app = TestApp::spawn_with(|s| {
        s.database_url = format!("sqlite://{}", db.display());
        s.limits.max_attempts = 2;
    })
    .await;
    let ds = upload_breast_cancer(&app).await;
    // Each resume checkpoint of this model is about 4.5 MB: more than the disk has.
    let id = queued(
        &app,
        json!({"dataset_id": ds, "model": {"hidden_layers": [512, 512]},
                   "training": {"epochs": 20}, "validation": {"folds": 2}, "final_model": false}),
    )
    .await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("full"), "the cause is named: {error}");
    // Retried as configured (max_attempts), then failed.
    assert_eq!(job["attempts"], 2, "{job}");
    let ready = problem(app.get("/readyz").send().await.unwrap(), 503).await;
    assert!(
        ready["detail"].as_str().unwrap().contains("full"),
        "{ready}"
    );
    // What was stored before is all there.
    let stored = app.get_json(&format!("/v1/datasets/{ds}")).await;
    assert_eq!(stored["rows"], 569);
    app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    // Space again: the next write succeeds and readiness comes back.
    disk.resize(64);
    json(
        app.upload_csv("label=label", fixture("breast_cancer.csv"))
            .await,
        201,
    )
    .await;
    json(app.get("/readyz").send().await.unwrap(), 200).await;
}

#[tokio::test]
async fn a_checkpoint_over_the_limit_fails_its_run_permanently_with_the_reason() {
    let mut app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({"dataset_id": ds, "model": {"hidden_layers": [256]},
                   "training": {"epochs": 3000, "early_stopping": null},
                   "validation": {"folds": 2}, "final_model": false}),
    )
    .await;
    app.stop().await;
    // The limit drops below this model's checkpoint (about 100 KB) before the runs resume.
    app.settings.limits.max_checkpoint_bytes = 50_000;
    app.start_again().await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("max_checkpoint_bytes"), "{error}");
    assert_eq!(job["attempts"], 1, "no retries: {job}");
    // A new job of the same model is refused up front.
    let p = problem(
        submit(
            &app,
            json!({"dataset_id": ds, "model": {"hidden_layers": [256]}}),
        )
        .await,
        422,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("max_checkpoint_bytes"),
        "{p}"
    );
}

#[tokio::test]
async fn ensemble_members_are_stored_once_each_and_a_resumed_run_finds_them() {
    // Paused after each epoch, so the loop below looks at checkpoints of running runs on any
    // machine (a fast one would finish before the first look).
    let app = TestApp::spawn_with(|s| {
        s.queue.write_every = Duration::ZERO;
        s.queue.epoch_pause = Duration::from_millis(10);
    })
    .await;
    let ds = upload_breast_cancer(&app).await;
    let id = queued(
        &app,
        json!({"dataset_id": ds, "final_model": false, "validation": {"folds": 2},
                   "training": {"epochs": 3, "early_stopping": null},
                   "imbalance": {"strategy": "easy_ensemble", "n_subsets": 4}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let db = app.database().await;
    // While it trains, no resume checkpoint holds a finished member's tensors.
    let mut looked = 0;
    loop {
        let blobs: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT c.checkpoint FROM runs r JOIN run_checkpoints c ON c.run_id = r.id
             WHERE r.job_id = ? AND r.state = 'running'",
        )
        .bind(&id)
        .fetch_all(&db)
        .await
        .unwrap();
        for b in &blobs {
            looked += 1;
            assert!(
                !String::from_utf8_lossy(&b[..b.len().min(65_536)]).contains("member.0."),
                "a resume checkpoint carries a finished member"
            );
        }
        let job = app.get_json(&format!("/v1/jobs/{id}")).await;
        if job["status"] != "queued" && job["status"] != "running" {
            assert_eq!(job["status"], "succeeded", "{job}");
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(looked > 0, "no checkpoint of a running run was seen");
    let members: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM run_members m JOIN runs r ON r.id = m.run_id WHERE r.job_id = ?",
    )
    .bind(&id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        members,
        2 * 3,
        "each fold stored its 3 finished members once"
    );
    // The final checkpoint still has them all, as predict needs.
    let p = json(
        app.post(&format!("/v1/jobs/{id}/predict?ensemble=folds"))
            .json(&json!({"rows": [{"mean radius": 14.0}]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(p["models"].as_array().unwrap().len(), 2);
}
