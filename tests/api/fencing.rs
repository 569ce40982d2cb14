//! Writes that must exclude each other, at the store: a worker that lost its lease (expired,
//! reaped, claimed by another worker) writes nothing afterwards, whatever it tries; deleting a
//! dataset and submitting a job on it cannot both succeed.

use crossfold::domain::job::{JobSpec, Strategy};
use crossfold::domain::results::{RunKind, RunResult, RunState};
use crossfold::engine::train::EpochRecord;
use crossfold::ingest::{IngestOptions, parse_upload};
use crossfold::store::datasets::Deleted;
use crossfold::store::jobs::Created;
use crossfold::store::{self, jobs::NewJob, jobs::NewRun, runs::Appended, runs::Beat};
use serde_json::json;

/// Stores a four-row dataset `id` through the store, as an upload would.
pub async fn store_dataset(pool: &store::Db, id: &str) {
    let opts = IngestOptions::csv("label");
    let parsed = parse_upload(&b"x,label\n1,a\n2,b\n3,a\n4,b\n"[..], &opts).unwrap();
    let summary = parsed.summary(id.into(), "tiny".into(), "2026-11-27T00:00:00Z".into());
    store::datasets::insert_dataset(pool, summary, &parsed, None)
        .await
        .unwrap();
}

fn job_on(id: &str, dataset_id: &str) -> NewJob {
    NewJob {
        id: id.into(),
        dataset_id: dataset_id.into(),
        spec: JobSpec::from_json(json!({"dataset_id": dataset_id, "training": {"epochs": 3}}))
            .unwrap(),
        folds: vec![vec![0, 1]],
        runs: vec![NewRun {
            id: format!("run_of_{id}"),
            kind: RunKind::Fold,
            fold: Some(0),
            repeat: Some(0),
            seed: 1,
            max_attempts: 3,
            strategy: Some(Strategy::None),
            variant: 0,
            pause_at: None,
        }],
        created_at: "2026-11-27T00:00:00Z".into(),
        remedy_of: None,
        classes: vec!["a".into(), "b".into()],
        meta: Default::default(),
        outer_of: None,
        outer_jobs: Vec::new(),
    }
}

/// Deleting a dataset and submitting a job on it are each one write transaction that checks
/// the other's row, so whichever commits first wins and the other sees it.
async fn a_dataset_delete_and_a_job_on_it_cannot_both_succeed(pool: store::Db) {
    store_dataset(&pool, "ds_a").await;
    // The job first: the delete is refused.
    assert!(matches!(
        store::jobs::insert_job(&pool, &job_on("job_a", "ds_a"), None)
            .await
            .unwrap(),
        Created::Created
    ));
    assert_eq!(
        store::datasets::delete_dataset(&pool, "ds_a")
            .await
            .unwrap(),
        Deleted::InUse(1)
    );
    assert!(
        store::datasets::get_dataset(&pool, "ds_a")
            .await
            .unwrap()
            .is_some()
    );
    // The delete first: the job is refused and nothing of it is stored.
    store_dataset(&pool, "ds_b").await;
    assert_eq!(
        store::datasets::delete_dataset(&pool, "ds_b")
            .await
            .unwrap(),
        Deleted::Deleted
    );
    assert!(matches!(
        store::jobs::insert_job(&pool, &job_on("job_b", "ds_b"), None)
            .await
            .unwrap(),
        Created::DatasetGone(_)
    ));
    assert!(
        store::jobs::get_job(&pool, "job_b")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store::datasets::delete_dataset(&pool, "ds_b")
            .await
            .unwrap(),
        Deleted::NotFound
    );
}

/// The same for the other datasets a job reads: its test dataset and its pretraining rows.
async fn deleting_a_jobs_test_or_pretraining_dataset_and_submitting_the_job_exclude_each_other(
    pool: store::Db,
) {
    store_dataset(&pool, "ds_own").await;
    for (n, field) in ["validation.test_dataset_id", "pretrain.dataset_id"]
        .iter()
        .enumerate()
    {
        let other = format!("ds_other_{n}");
        let job_with = |id: &str| {
            let mut job = job_on(id, "ds_own");
            match *field {
                "validation.test_dataset_id" => {
                    job.spec.validation.test_dataset_id = Some(other.clone())
                }
                _ => {
                    job.spec.pretrain = Some(
                        serde_json::from_value(
                            json!({"kind": "autoencoder", "epochs": 1, "dataset_id": other}),
                        )
                        .unwrap(),
                    )
                }
            }
            job
        };
        // The job first: the delete is refused.
        store_dataset(&pool, &other).await;
        let first = job_with(&format!("job_first_{n}"));
        assert!(matches!(
            store::jobs::insert_job(&pool, &first, None).await.unwrap(),
            Created::Created
        ));
        assert_eq!(
            store::datasets::delete_dataset(&pool, &other)
                .await
                .unwrap(),
            Deleted::InUse(1),
            "{field}"
        );
        // Once it has ended, the delete goes through; a job then is refused, naming the field.
        crate::helpers::execute(
            &pool,
            "UPDATE jobs SET status = 'succeeded' WHERE id = $1",
            &[&first.id],
        )
        .await;
        assert_eq!(
            store::datasets::delete_dataset(&pool, &other)
                .await
                .unwrap(),
            Deleted::Deleted
        );
        let later = job_with(&format!("job_later_{n}"));
        match store::jobs::insert_job(&pool, &later, None).await.unwrap() {
            Created::DatasetGone(gone) => assert_eq!(gone, *field),
            other => panic!("{field}: {other:?}"),
        }
        assert!(
            store::jobs::get_job(&pool, &later.id)
                .await
                .unwrap()
                .is_none()
        );
    }
}

async fn a_worker_that_lost_its_lease_writes_no_row_afterwards(pool: store::Db) {
    store_dataset(&pool, "ds_x").await;
    let job = job_on("job_fence", "ds_x");
    store::jobs::insert_job(&pool, &job, None).await.unwrap();

    // Worker A claims, then pauses past its lease; the reaper hands the run back.
    let a = store::runs::claim_next(&pool, "A", -1_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store::runs::reap_expired(&pool, 0).await.unwrap(),
        vec!["job_fence".to_owned()]
    );
    let b = store::runs::claim_next(&pool, "B", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.id, a.id);
    assert!(b.token > a.token);

    // A wakes up and tries every write it could make: none lands.
    let record: EpochRecord = serde_json::from_value(json!({"epoch": 1, "train_loss": 0.5,
        "learning_rate": 0.1, "grad_norm": 1.0, "layer_grad_norms": [1.0], "seconds": 0.01}))
    .unwrap();
    let result: RunResult = serde_json::from_value(json!({"strategy": "none", "best_epoch": 1,
        "stop": "completed", "epochs_run": 1, "metrics": null, "train_class_counts": [2, 2],
        "validation_class_counts": [], "resampled_class_counts": [2, 2],
        "member_class_counts": null, "class_weights": [1.0, 1.0]}))
    .unwrap();
    assert_eq!(
        store::runs::append_epochs(
            &pool,
            &a.id,
            a.token,
            std::slice::from_ref(&record),
            Some(b"stale"),
            &[],
        )
        .await
        .unwrap(),
        Appended::Lost
    );
    assert!(
        !store::runs::complete(
            &pool,
            (&a.id, a.token),
            &result,
            (None, b"stale"),
            &store::runs::RunTail {
                epochs: vec![record.clone()],
                diagnosis: Some(Default::default()),
                losses: Vec::new(),
            },
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
        store::run_data::epoch_history(&pool, &a.id)
            .await
            .unwrap()
            .unwrap(),
        Vec::<EpochRecord>::new()
    );
    let runs = store::run_data::runs_of_job(&pool, "job_fence", store::run_data::Detail::Full)
        .await
        .unwrap();
    assert_eq!(
        runs[0].state,
        RunState::Running,
        "A's fail/cancel did not touch B's run"
    );
    assert_eq!(
        store::run_data::checkpoint(&pool, &a.id)
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
            std::slice::from_ref(&record),
            Some(b"fresh"),
            &[],
        )
        .await
        .unwrap(),
        Appended::Written { cancel: false }
    );
    assert_eq!(
        store::run_data::epoch_history(&pool, &b.id)
            .await
            .unwrap()
            .unwrap()
            .len(),
        1
    );
    // A cancel request reaches the run at its next epoch write.
    let second = EpochRecord { epoch: 2, ..record };
    store::jobs::cancel_job(&pool, "job_fence").await.unwrap();
    assert_eq!(
        store::runs::append_epochs(&pool, &b.id, b.token, &[second], None, &[])
            .await
            .unwrap(),
        Appended::Written { cancel: true }
    );
}

async fn a_run_records_its_kernel_set_and_each_other_set_an_attempt_resumed_on(pool: store::Db) {
    store_dataset(&pool, "ds_k").await;
    let mut job = job_on("job_k", "ds_k");
    job.runs[0].max_attempts = 4;
    store::jobs::insert_job(&pool, &job, None).await.unwrap();
    let kernels_of = |id: String| {
        let pool = pool.clone();
        async move {
            let runs =
                store::run_data::runs_of_job(&pool, "job_k", store::run_data::Detail::Summary)
                    .await
                    .unwrap();
            let run = runs.into_iter().find(|r| r.id == id).unwrap();
            (run.kernels, run.resumed_on_kernels)
        }
    };
    // Each claim records the claimant's set; every lease has expired by the next claim.
    let a = store::runs::claim_next(&pool, "A", -1_000, "avx512f")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kernels_of(a.id.clone()).await,
        (Some("avx512f".into()), vec![])
    );
    // Reaped and resumed on another machine, twice, then back on the first kind.
    for (worker, set) in [("B", "fma"), ("C", "fma"), ("D", "avx512f")] {
        store::runs::reap_expired(&pool, 0).await.unwrap();
        let again = store::runs::claim_next(&pool, worker, -1_000, set)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.id, a.id, "the reaped run is claimed again");
    }
    assert_eq!(
        kernels_of(a.id.clone()).await,
        (Some("avx512f".into()), vec!["fma".to_owned()])
    );
}

crate::on_both_backends!(
    a_dataset_delete_and_a_job_on_it_cannot_both_succeed,
    deleting_a_jobs_test_or_pretraining_dataset_and_submitting_the_job_exclude_each_other,
    a_worker_that_lost_its_lease_writes_no_row_afterwards,
    a_run_records_its_kernel_set_and_each_other_set_an_attempt_resumed_on,
);
