//! Fencing: a worker that lost its lease (expired, reaped, claimed by another worker) writes
//! nothing afterwards, whatever it tries.

use crossfold::store::{self, jobs::NewJob, jobs::NewRun, runs::Appended, runs::Beat};
use serde_json::json;

#[tokio::test]
async fn a_worker_that_lost_its_lease_writes_no_row_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let pool = store::connect(&format!("sqlite://{}", dir.path().join("f.db").display()))
        .await
        .unwrap();
    store::migrate(&pool).await.unwrap();
    let job = NewJob {
        id: "job_fence".into(),
        dataset_id: "ds_x".into(),
        spec: json!({"training": {"epochs": 3}}),
        folds: vec![vec![0, 1]],
        runs: vec![NewRun {
            id: "run_fence".into(),
            kind: "fold",
            fold: Some(0),
            repeat: Some(0),
            seed: 1,
            max_attempts: 3,
            strategy: Some("none"),
        }],
        created_at: "2026-11-27T00:00:00Z".into(),
    };
    store::jobs::insert_job(&pool, &job, None).await.unwrap();

    // Worker A claims, then pauses past its lease; the reaper hands the run back.
    let a = store::runs::claim_next(&pool, "A", -1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store::runs::reap_expired(&pool, 0).await.unwrap(),
        vec!["job_fence".to_owned()]
    );
    let b = store::runs::claim_next(&pool, "B", 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.id, a.id);
    assert!(b.token > a.token);

    // A wakes up and tries every write it could make: none lands.
    let record = json!({"epoch": 1, "train_loss": 0.5});
    assert_eq!(
        store::runs::append_epochs(
            &pool,
            &a.id,
            a.token,
            &[(1, record.clone())],
            Some(b"stale")
        )
        .await
        .unwrap(),
        Appended::Lost
    );
    assert!(
        !store::runs::complete(
            &pool,
            &a.id,
            a.token,
            &json!({"metrics": {}}),
            None,
            b"stale"
        )
        .await
        .unwrap()
    );
    assert_eq!(
        store::runs::heartbeat(&pool, &a.id, a.token, 60_000)
            .await
            .unwrap(),
        Beat::Lost
    );
    store::runs::fail(&pool, &a.id, a.token, "stale failure", true, 0)
        .await
        .unwrap();
    store::runs::cancelled(&pool, &a.id, a.token).await.unwrap();
    assert_eq!(
        store::runs::epoch_history(&pool, &a.id)
            .await
            .unwrap()
            .unwrap(),
        Vec::<serde_json::Value>::new()
    );
    let runs = store::runs::runs_of_job(&pool, "job_fence").await.unwrap();
    assert_eq!(
        runs[0].0.status, "running",
        "A's fail/cancel did not touch B's run"
    );
    assert_eq!(
        store::runs::checkpoint(&pool, &a.id)
            .await
            .unwrap()
            .unwrap()
            .1,
        None
    );

    // B, the holder, writes normally.
    assert_eq!(
        store::runs::append_epochs(
            &pool,
            &b.id,
            b.token,
            &[(1, record.clone())],
            Some(b"fresh")
        )
        .await
        .unwrap(),
        Appended::Written { cancel: false }
    );
    assert_eq!(
        store::runs::epoch_history(&pool, &b.id)
            .await
            .unwrap()
            .unwrap()
            .len(),
        1
    );
    // A cancel request reaches the run at its next epoch write.
    store::jobs::cancel_job(&pool, "job_fence").await.unwrap();
    assert_eq!(
        store::runs::append_epochs(&pool, &b.id, b.token, &[(2, record)], None)
            .await
            .unwrap(),
        Appended::Written { cancel: true }
    );
}
