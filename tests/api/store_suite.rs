//! The store's conformance suite: each test runs on SQLite and on PostgreSQL through the same
//! public functions (`on_both_backends!`), so the two backends keep one behaviour: exclusive
//! claims, leases on the database's clock, retries, exactly-once epochs, settling once, keys,
//! pages, datasets.

use crossfold::domain::finding::RunDiagnosis;
use crossfold::domain::job::{JobSpec, JobStatus, Strategy};
use crossfold::domain::job_filter::{JobFilter, JobOrder, JobQuery};
use crossfold::domain::job_meta::MetaPatch;
use crossfold::domain::results::{RunKind, RunResult, RunState, Settled};
use crossfold::engine::eval::summary::Stat;
use crossfold::engine::train::{EpochRecord, Leg};
use crossfold::store::jobs::{Cancel, Created, NewJob, NewRun};
use crossfold::store::run_data::Detail;
use crossfold::store::runs::{Appended, RunTail};
use crossfold::store::{self, Db};
use serde_json::json;

/// A job of `folds` fold runs (and a comparison's final run, waiting for them, if `final_run`).
fn job(id: &str, folds: u32, final_run: bool) -> NewJob {
    let mut runs: Vec<NewRun> = (0..folds)
        .map(|f| NewRun {
            id: format!("{id}_run{f}"),
            kind: RunKind::Fold,
            fold: Some(f),
            repeat: Some(0),
            seed: 7,
            max_attempts: 2,
            strategy: Some(Strategy::None),
            variant: 0,
            pause_at: None,
        })
        .collect();
    if final_run {
        runs.push(NewRun {
            id: format!("{id}_final"),
            kind: RunKind::Final,
            fold: None,
            repeat: None,
            seed: 7,
            max_attempts: 2,
            strategy: None,
            variant: 0,
            pause_at: None,
        });
    }
    NewJob {
        id: id.into(),
        dataset_id: "ds".into(),
        spec: JobSpec::from_json(json!({"dataset_id": "ds"})).unwrap(),
        folds: vec![vec![0, 1, 0, 1]],
        runs,
        created_at: "2026-12-05T00:00:00Z".into(),
        remedy_of: None,
        classes: vec!["a".into(), "b".into()],
        meta: Default::default(),
        outer_of: None,
        outer_jobs: Vec::new(),
    }
}

async fn with_jobs(db: &Db, jobs: &[NewJob]) {
    super::fencing::store_dataset(db, "ds").await;
    for j in jobs {
        assert!(matches!(
            store::jobs::insert_job(db, j, None).await.unwrap(),
            Created::Created
        ));
    }
}

fn epoch(n: u64, loss: f64) -> EpochRecord {
    serde_json::from_value(json!({"epoch": n, "train_loss": loss, "learning_rate": 0.1,
        "grad_norm": 1.0, "layer_grad_norms": [1.0], "seconds": 0.01}))
    .unwrap()
}

/// Sixteen workers claiming at once from 48 runs: every run is claimed exactly once.
async fn concurrent_claims_take_each_run_once(db: Db) {
    let jobs: Vec<NewJob> = (0..6).map(|j| job(&format!("job{j}"), 8, false)).collect();
    with_jobs(&db, &jobs).await;
    let workers = (0..16).map(|w| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = store::runs::claim_next(&db, &format!("w{w}"), 60_000, "test")
                .await
                .unwrap()
            {
                mine.push(c.id);
            }
            mine
        })
    });
    let mut claimed: Vec<String> = Vec::new();
    for w in workers {
        claimed.extend(w.await.unwrap());
    }
    claimed.sort();
    let before = claimed.len();
    claimed.dedup();
    assert_eq!((before, claimed.len()), (48, 48));
    let (_, queued, running) = store::jobs::queue_stats(&db).await.unwrap();
    assert_eq!((queued, running), (0, 48));
}

/// Claims go oldest first, and a comparison's final run waits until its folds have ended.
async fn claims_are_in_order_and_a_final_run_waits_for_its_folds(db: Db) {
    with_jobs(&db, &[job("a", 2, true), job("b", 1, false)]).await;
    let mut order = Vec::new();
    while let Some(c) = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
    {
        order.push(c.id.clone());
        let record = [epoch(1, 0.5)];
        store::runs::append_epochs(&db, &c.id, c.token, &record, Some(b"ck"), &[])
            .await
            .unwrap();
    }
    assert_eq!(order, ["a_run0", "a_run1", "b_run0"], "the final run waits");
    for id in ["a_run0", "a_run1"] {
        let runs = store::run_data::runs_of_job(&db, "a", Detail::Summary)
            .await
            .unwrap();
        let run = runs.iter().find(|r| r.id == id).unwrap();
        assert_eq!(run.state, RunState::Running);
        crate::helpers::execute(
            &db,
            "UPDATE runs SET state = 'succeeded' WHERE id = $1",
            &[id],
        )
        .await;
    }
    let last = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap();
    assert_eq!(last.map(|c| c.id).as_deref(), Some("a_final"));
}

/// A lease given with a negative length has already expired on the database's clock: the
/// reaper hands it back; a held one it leaves alone, and a heartbeat extends it.
async fn leases_expire_and_are_reaped_on_the_database_clock(db: Db) {
    with_jobs(&db, &[job("j", 2, false)]).await;
    let expired = store::runs::claim_next(&db, "gone", -1_000, "test")
        .await
        .unwrap()
        .unwrap();
    let held = store::runs::claim_next(&db, "here", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store::runs::heartbeat(&db, &held.id, held.token, 60_000)
            .await
            .unwrap(),
        store::runs::Beat::Held
    );
    assert_eq!(
        store::runs::reap_expired(&db, 0).await.unwrap(),
        vec!["j".to_owned()]
    );
    let again = store::runs::claim_next(&db, "next", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempt), (expired.id.as_str(), 2));
    assert!(again.token > expired.token);
    assert!(store::runs::reap_expired(&db, 0).await.unwrap().is_empty());
}

/// A failure goes back to the queue after its backoff until the attempts are used up; a
/// permanent one fails at once; a release does not count the attempt.
async fn failures_retry_after_a_backoff_and_end_when_attempts_run_out(db: Db) {
    with_jobs(&db, &[job("j", 1, false)]).await;
    let first = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    store::runs::fail(&db, &first.id, first.token, "flaky", false, 3_600_000)
        .await
        .unwrap();
    assert!(
        store::runs::claim_next(&db, "w", 60_000, "test")
            .await
            .unwrap()
            .is_none(),
        "not before its backoff"
    );
    crate::helpers::execute(
        &db,
        "UPDATE runs SET run_at = 0 WHERE id = $1",
        &[&first.id],
    )
    .await;
    let second = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.attempt, 2);
    store::runs::release(&db, &second.id, second.token, 0, None)
        .await
        .unwrap();
    let third = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.attempt, 2, "a release does not count");
    store::runs::fail(&db, &third.id, third.token, "out of attempts", false, 0)
        .await
        .unwrap();
    let runs = store::run_data::runs_of_job(&db, "j", Detail::Full)
        .await
        .unwrap();
    assert_eq!(runs[0].state, RunState::Failed);
    assert_eq!(runs[0].error.as_deref(), Some("out of attempts"));
}

/// An epoch written again (a resumed run replays it) overwrites; members and the checkpoint
/// read back byte for byte.
async fn epochs_are_kept_once_and_blobs_read_back_unchanged(db: Db) {
    with_jobs(&db, &[job("j", 1, false)]).await;
    let c = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    let blob: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let members = [(0usize, blob[..1000].to_vec()), (1, blob[1000..].to_vec())];
    for loss in [0.9, 0.4] {
        let records = [epoch(1, loss), epoch(2, loss / 2.0)];
        let written =
            store::runs::append_epochs(&db, &c.id, c.token, &records, Some(&blob), &members)
                .await
                .unwrap();
        assert_eq!(written, Appended::Written { cancel: false });
    }
    let history = store::run_data::epoch_history(&db, &c.id)
        .await
        .unwrap()
        .unwrap();
    let losses: Vec<f64> = history.iter().map(|r| r.train_loss).collect();
    assert_eq!(losses, [0.4, 0.2]);
    let members_read = store::run_data::members(&db, &c.id).await.unwrap();
    assert_eq!(members_read, [members[0].1.clone(), members[1].1.clone()]);
    let (state, checkpoint) = store::run_data::checkpoint(&db, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((state, checkpoint), (RunState::Running, Some(blob)));
}

/// With an object store, a checkpoint and members are objects under keys of the attempt and the
/// database holds their keys, committed under the lease: a writer that lost its lease writes no
/// object and no key; a replaced checkpoint is collected by `gc`; a new attempt resumes from the
/// committed key.
async fn artifacts_commit_under_the_lease_and_orphans_are_collected(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let db = db.with_artifacts(store::artifacts::Artifacts::open(&url).unwrap());
    with_jobs(&db, &[job("a", 1, false)]).await;
    let c = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    let members = [(0usize, b"member 0".to_vec())];
    let epochs = [epoch(1, 0.5), epoch(2, 0.4), epoch(3, 0.3)];
    for (n, ck) in [(0, &b"ck 1"[..]), (1, b"ck 2")] {
        let m = if n == 0 { &members[..] } else { &[] };
        let written =
            store::runs::append_epochs(&db, &c.id, c.token, &epochs[n..=n], Some(ck), m).await;
        assert_eq!(written.unwrap(), Appended::Written { cancel: false });
    }
    let keys = async |db: &Db| {
        crate::with_pool!(db, p => sqlx::query_as::<_, (Option<Vec<u8>>, Option<String>)>(
            "SELECT c.checkpoint, r.checkpoint_key
             FROM runs r LEFT JOIN run_checkpoints c ON c.run_id = r.id WHERE r.id = 'a_run0'"
        ).fetch_one(p).await.unwrap())
    };
    let (bytes, committed) = keys(&db).await;
    let committed = committed.expect("a key, not bytes");
    assert_eq!(bytes, None);
    let prefix = format!("runs/a_run0/{}/checkpoint", c.token);
    assert!(committed.starts_with(&prefix), "{committed}");
    // The lease moves on (another worker's claim): the old holder writes nothing, no object.
    let bump = "UPDATE runs SET lease_token = lease_token + 1 WHERE id = $1";
    crate::helpers::execute(&db, bump, &[&c.id]).await;
    let late =
        store::runs::append_epochs(&db, &c.id, c.token, &epochs[2..], Some(b"ck 3"), &[]).await;
    assert_eq!(late.unwrap(), Appended::Lost);
    assert_eq!(keys(&db).await.1.as_deref(), Some(committed.as_str()));
    let store_ = db.artifacts().unwrap();
    assert_eq!(
        store_.list("runs").await.unwrap().len(),
        3,
        "ck 1, ck 2, member 0"
    );
    let (_, checkpoint) = store::run_data::checkpoint(&db, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.as_deref(), Some(&b"ck 2"[..]));
    let read = store::run_data::members(&db, &c.id).await.unwrap();
    assert_eq!(read, [members[0].1.clone()]);
    // The replaced checkpoint has no pointer: kept while young, deleted once old enough.
    let hour = std::time::Duration::from_secs(3600);
    let young = store::gc::collect(&db, hour).await.unwrap();
    assert_eq!((young.listed, young.deleted, young.young), (3, 0, 1));
    let collected = store::gc::collect(&db, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        (collected.listed, collected.deleted, collected.young),
        (3, 1, 0)
    );
    assert!(collected.dangling.is_empty(), "{collected:?}");
    assert_eq!(store::gc::check_pointers(&db).await.unwrap(), 2);
    // A resumed attempt starts from the committed checkpoint.
    let requeue = "UPDATE runs SET state = 'queued', run_at = 0 WHERE id = $1";
    crate::helpers::execute(&db, requeue, &[&c.id]).await;
    let again = store::runs::claim_next(&db, "w2", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.checkpoint,
        Some(store::artifacts::Blob::Object(committed))
    );
}

/// A job settles once; a cancel of a queued job is immediate, of a running one a request.
async fn jobs_settle_once_and_cancel_by_state(db: Db) {
    with_jobs(
        &db,
        &[job("s", 1, false), job("q", 1, false), job("r", 1, false)],
    )
    .await;
    let cancelled = Settled::Cancelled;
    assert_eq!(
        store::jobs::settle(&db, "s", &cancelled).await.unwrap(),
        Some(JobStatus::Cancelled)
    );
    assert_eq!(
        store::jobs::settle(&db, "s", &cancelled).await.unwrap(),
        None
    );
    // "s" was settled without its run; claim the next two: q's and r's.
    crate::helpers::execute(
        &db,
        "UPDATE runs SET state = 'cancelled' WHERE job_id = 's'",
        &[],
    )
    .await;
    let q = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.job_id, "q");
    store::runs::cancelled(&db, &q.id, q.token).await.unwrap();
    let r = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.job_id, "r");
    assert_eq!(
        store::jobs::cancel_job(&db, "q").await.unwrap(),
        Cancel::Cancelled
    );
    assert_eq!(
        store::jobs::cancel_job(&db, "r").await.unwrap(),
        Cancel::Cancelling
    );
    assert!(store::runs::cancel_requested(&db, &r.id).await.unwrap());
    assert_eq!(
        store::jobs::cancel_job(&db, "nope").await.unwrap(),
        Cancel::NotFound
    );
}

/// An idempotency key used twice creates once; a page of jobs is newest first with a cursor.
async fn keys_create_once_and_pages_follow_their_cursor(db: Db) {
    with_jobs(&db, &[]).await;
    for n in 0..5 {
        let j = job(&format!("p{n}"), 1, false);
        let key = format!("key{}", n.min(3));
        let created = store::jobs::insert_job(&db, &j, Some((&key, "hash")))
            .await
            .unwrap();
        match (n, created) {
            (0..=3, Created::Created) => {}
            (4, Created::KeyUsed(used)) => assert_eq!(used.resource_id, "p3"),
            (n, other) => panic!("job {n}: {other:?}"),
        }
    }
    let (first, next) = store::jobs::list_jobs(&db, &Default::default(), 3, None)
        .await
        .unwrap();
    let ids: Vec<&str> = first.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["p3", "p2", "p1"]);
    let (rest, end) = store::jobs::list_jobs(&db, &Default::default(), 3, next)
        .await
        .unwrap();
    let ids: Vec<&str> = rest.iter().map(|j| j.id.as_str()).collect();
    assert_eq!((ids, end), (vec!["p0"], None));
    let queued = listed(&db, "status = 'queued'", "", 10).await;
    assert_eq!(queued.len(), 4);
}

/// The ids of the jobs `filter` keeps in `order_by`'s order, following every cursor with pages
/// of `limit`.
async fn listed(db: &Db, filter: &str, order_by: &str, limit: u32) -> Vec<String> {
    let query = JobQuery {
        filter: JobFilter::parse(filter).unwrap(),
        order: JobOrder::parse(order_by).unwrap(),
    };
    let (mut ids, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = store::jobs::list_jobs(db, &query, limit, cursor)
            .await
            .unwrap();
        assert!(page.len() <= limit as usize);
        ids.extend(page.into_iter().map(|j| j.id));
        match next {
            Some(n) => cursor = Some(n),
            None => return ids,
        }
    }
}

/// Jobs are found by name (`like` minds case, `ilike` does not), tag, family, dataset and
/// metric, sorted by a metric with the unscored last; a patch renames and retags.
async fn jobs_are_found_by_their_names_tags_families_and_scores(db: Db) {
    let named = |id: &str, name: &str, team: &str, model: serde_json::Value| {
        let mut j = job(id, 1, false);
        j.spec = JobSpec::from_json(json!({"dataset_id": "ds", "model": model})).unwrap();
        j.meta.name = Some(name.into());
        j.meta.tags.insert("team".into(), team.into());
        j
    };
    let jobs = [
        named("a", "churn baseline", "risk", json!({"kind": "mlp"})),
        named("b", "Churn GRU", "risk", json!({"kind": "gru"})),
        named(
            "c",
            "fraud [v2]",
            "ops",
            json!([{"kind": "mlp"}, {"kind": "fcn"}]),
        ),
        job("d", 1, false),
    ];
    with_jobs(&db, &jobs).await;
    for (id, score) in [("a", 0.9), ("b", 0.8), ("c", 0.95)] {
        let stat = Stat {
            mean: score,
            std: 0.01,
            min: score,
            max: score,
        };
        let summary = [("balanced_accuracy".to_string(), stat)]
            .into_iter()
            .collect();
        let settled = Settled::Succeeded {
            summary: Some(summary),
            results: Default::default(),
        };
        store::jobs::settle(&db, id, &settled).await.unwrap();
    }
    assert_eq!(
        listed(&db, "name ilike '%churn%'", "", 10).await,
        ["b", "a"]
    );
    assert_eq!(listed(&db, "name like 'churn%'", "", 10).await, ["a"]);
    assert_eq!(listed(&db, "name like '%[v_]'", "", 10).await, ["c"]);
    assert_eq!(
        listed(&db, "tags.team = 'risk'", "created_at asc", 1).await,
        ["a", "b"]
    );
    assert_eq!(listed(&db, "family = 'fcn'", "", 10).await, ["c"]);
    assert_eq!(listed(&db, "family != 'mlp'", "", 10).await, ["b"]);
    assert_eq!(
        listed(&db, "dataset = 'tiny' and status = 'succeeded'", "", 10)
            .await
            .len(),
        3
    );
    assert_eq!(
        listed(&db, "metrics.balanced_accuracy > 0.85", "name", 10).await,
        ["a", "c"]
    );
    let best_first = listed(&db, "", "metrics.balanced_accuracy", 3).await;
    assert_eq!(best_first, ["c", "a", "b", "d"]);
    let worst_first = listed(&db, "", "metrics.balanced_accuracy asc", 3).await;
    assert_eq!(worst_first, ["b", "a", "c", "d"]);
    let patch = MetaPatch::from_json(json!({"name": "churn v2", "tags": {"team": "ops"}})).unwrap();
    let meta = store::job_meta::update_meta(&db, "b", patch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.name.as_deref(), Some("churn v2"));
    assert_eq!(
        listed(&db, "tags.team = 'ops'", "name", 10).await,
        ["b", "c"]
    );
    let shown = store::jobs::get_job(&db, "b").await.unwrap().unwrap();
    assert_eq!(
        (shown.meta, shown.dataset_name.as_deref()),
        (meta, Some("tiny"))
    );
    let gone = MetaPatch::from_json(json!({"name": null})).unwrap();
    assert!(
        store::job_meta::update_meta(&db, "zz", gone)
            .await
            .unwrap()
            .is_none()
    );
}

/// A dataset reads back as stored: summary, columns, labels, one column; pages; delete.
async fn datasets_read_back_as_stored(db: Db) {
    super::fencing::store_dataset(&db, "d1").await;
    super::fencing::store_dataset(&db, "d2").await;
    let summary = store::datasets::get_dataset(&db, "d1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.rows, 4);
    let columns = store::datasets::load_columns(&db, "d1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(columns.len(), 2);
    let x = store::datasets::load_numeric_column(&db, "d1", "x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x, [1.0, 2.0, 3.0, 4.0]);
    let (codes, classes) = store::datasets::load_labels(&db, "d1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((codes, classes), (vec![0, 1, 0, 1], 2));
    let (page, next) = store::datasets::list_datasets(&db, 1, None).await.unwrap();
    assert_eq!(page[0].id, "d2");
    let (page, _) = store::datasets::list_datasets(&db, 1, next).await.unwrap();
    assert_eq!(page[0].id, "d1");
    assert_eq!(
        store::datasets::delete_dataset(&db, "d1").await.unwrap(),
        store::datasets::Deleted::Deleted
    );
    assert!(
        store::datasets::load_columns(&db, "d1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store::is_ready(&db).await.unwrap());
}

/// One write of more epochs than one statement carries, an epoch twice among them and
/// pretraining epochs beside: every epoch is kept once, with the last record given for it.
async fn a_write_of_many_epochs_keeps_the_last_record_of_each(db: Db) {
    with_jobs(&db, &[job("m", 1, false)]).await;
    let c = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    let mut records: Vec<EpochRecord> = (1..=1200).map(|n| epoch(n, 1.0 / n as f64)).collect();
    records.push(epoch(5, 9.0));
    for (layer, n, loss) in [(0, 1, 1.0), (0, 2, 2.0), (1, 1, 3.0), (0, 2, 7.0)] {
        let mut pre = epoch(n, loss);
        pre.phase = crossfold::engine::train::Phase::Pretrain;
        pre.layer = Some(layer);
        records.push(pre);
    }
    let written = store::runs::append_epochs(&db, &c.id, c.token, &records, None, &[]).await;
    assert_eq!(written.unwrap(), Appended::Written { cancel: false });
    let history = store::run_data::epoch_history(&db, &c.id)
        .await
        .unwrap()
        .unwrap();
    let epochs: Vec<u64> = history.iter().map(|r| r.epoch).collect();
    assert_eq!(epochs, (1..=1200).collect::<Vec<u64>>());
    assert_eq!(history[4].train_loss, 9.0);
    assert_eq!(history[1199].train_loss, 1.0 / 1200.0);
    let pretrain = store::run_data::pretrain_history(&db, &c.id).await.unwrap();
    let keys: Vec<(Option<u64>, u64, f64)> = pretrain
        .iter()
        .map(|r| (r.layer, r.epoch, r.train_loss))
        .collect();
    assert_eq!(
        keys,
        [(Some(0), 1, 1.0), (Some(0), 2, 7.0), (Some(1), 1, 3.0)]
    );
}

/// A run's completion writes its last epochs and findings with its result, and counts them;
/// with no epochs left to write, it completes all the same.
async fn a_completion_writes_the_runs_last_epochs_and_findings(db: Db) {
    with_jobs(&db, &[job("t", 2, false)]).await;
    let result: RunResult = serde_json::from_value(json!({"strategy": "none", "best_epoch": 2,
        "stop": "completed", "epochs_run": 2, "metrics": null, "train_class_counts": [2, 2],
        "validation_class_counts": [], "resampled_class_counts": [2, 2],
        "member_class_counts": null, "class_weights": [1.0, 1.0]}))
    .unwrap();
    let diagnosis = RunDiagnosis {
        train_loss: Some(0.25),
        epochs: 2,
        ..Default::default()
    };
    let tails = [
        RunTail {
            epochs: vec![epoch(1, 0.5), epoch(2, 0.25)],
            diagnosis: Some(diagnosis.clone()),
            losses: Vec::new(),
        },
        RunTail::default(),
    ];
    for tail in &tails {
        let c = store::runs::claim_next(&db, "w", 60_000, "test")
            .await
            .unwrap()
            .unwrap();
        let done = store::runs::complete(&db, (&c.id, c.token), &result, (None, b"ck"), tail);
        assert!(done.await.unwrap());
    }
    let runs = store::run_data::runs_of_job(&db, "t", Detail::Summary)
        .await
        .unwrap();
    let seen: Vec<_> = runs
        .iter()
        .map(|r| (r.state, r.epochs_done, r.diagnosis.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (RunState::Succeeded, 2, diagnosis),
            (RunState::Succeeded, 0, RunDiagnosis::default())
        ]
    );
    let history = store::run_data::epoch_history(&db, &runs[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history, tails[0].epochs);
}

/// A search's rungs: a run paused at its rung waits, unclaimable (and the final run with it),
/// until the search promotes it (claimed again, to pause at the next rung, resuming from its
/// checkpoint) or halts it (claimed to end where it stands); a stale lease parks nothing.
async fn a_paused_run_waits_until_its_search_promotes_or_halts_it(db: Db) {
    let mut searching = job("r", 2, true);
    for run in searching
        .runs
        .iter_mut()
        .filter(|r| r.kind == RunKind::Fold)
    {
        run.pause_at = Some(1);
    }
    with_jobs(&db, &[searching]).await;
    for (id, loss) in [("r_run0", 0.4), ("r_run1", 0.3)] {
        let c = store::runs::claim_next(&db, "w", 60_000, "test")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.id.as_str(), c.leg), (id, Leg::PauseAt(1)));
        store::runs::append_epochs(&db, &c.id, c.token, &[epoch(1, 0.5)], Some(b"ck"), &[])
            .await
            .unwrap();
        let tail = RunTail {
            losses: vec![loss],
            ..Default::default()
        };
        assert!(
            !store::rungs::park(&db, &c.id, c.token + 1, &tail)
                .await
                .unwrap(),
            "a stale lease"
        );
        assert!(
            store::rungs::park(&db, &c.id, c.token, &tail)
                .await
                .unwrap()
        );
    }
    assert!(
        store::runs::claim_next(&db, "w", 60_000, "test")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store::rungs::waiting_jobs(&db).await.unwrap(), ["r"]);
    let rungs = store::rungs::job_rungs(&db, "r").await.unwrap();
    let seen: Vec<_> = rungs
        .iter()
        .map(|r| (r.waits(), r.pause_at, r.losses.clone()))
        .collect();
    assert_eq!(
        seen,
        [(true, Some(1), vec![0.4]), (true, Some(1), vec![0.3])]
    );
    store::rungs::promote(&db, "r", &["r_run1".into()], 3)
        .await
        .unwrap();
    let c = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.id.as_str(), c.leg), ("r_run1", Leg::PauseAt(3)));
    assert!(
        c.checkpoint.is_some(),
        "a promoted run resumes from its checkpoint"
    );
    store::rungs::halt(&db, "r", &["r_run0".into()])
        .await
        .unwrap();
    let c = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.id.as_str(), c.leg), ("r_run0", Leg::Halt));
    assert!(store::rungs::waiting_jobs(&db).await.unwrap().is_empty());
}

crate::on_both_backends!(
    a_paused_run_waits_until_its_search_promotes_or_halts_it,
    a_completion_writes_the_runs_last_epochs_and_findings,
    a_write_of_many_epochs_keeps_the_last_record_of_each,
    concurrent_claims_take_each_run_once,
    claims_are_in_order_and_a_final_run_waits_for_its_folds,
    leases_expire_and_are_reaped_on_the_database_clock,
    failures_retry_after_a_backoff_and_end_when_attempts_run_out,
    epochs_are_kept_once_and_blobs_read_back_unchanged,
    jobs_settle_once_and_cancel_by_state,
    keys_create_once_and_pages_follow_their_cursor,
    jobs_are_found_by_their_names_tags_families_and_scores,
    datasets_read_back_as_stored,
    artifacts_commit_under_the_lease_and_orphans_are_collected,
);

/// On PostgreSQL a submit, a cancel and a run's end each notify the queue's channel with the
/// job's id (what wakes idle workers on other machines); an epoch write does not, but tells the
/// events channel (what API processes' event streams follow).
#[tokio::test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv (CI does)"]
async fn on_postgres_queue_changes_and_epoch_writes_notify_their_own_channels() {
    let (_guard, _url, db) = crate::helpers::fresh_store("postgres").await;
    let store::Backend::Postgres(pool) = db.pool() else {
        unreachable!()
    };
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    listener.listen("crossfold_queue").await.unwrap();
    let mut events = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    events.listen("crossfold_events").await.unwrap();
    with_jobs(&db, &[job("n", 1, false)]).await;
    let next = async |listener: &mut sqlx::postgres::PgListener| {
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv());
        got.await
            .expect("a notification")
            .unwrap()
            .payload()
            .to_owned()
    };
    assert_eq!(next(&mut listener).await, "n", "the submit");
    let c = store::runs::claim_next(&db, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut events).await, "n", "the job's first claim");
    store::runs::append_epochs(&db, &c.id, c.token, &[epoch(1, 0.3)], None, &[])
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, "n", "the epoch write");
    store::runs::release(&db, &c.id, c.token, 0, None)
        .await
        .unwrap();
    assert_eq!(next(&mut listener).await, "n", "the release, not the epoch");
    store::jobs::cancel_job(&db, "n").await.unwrap();
    assert_eq!(next(&mut listener).await, "n", "the cancel");
}

/// `sslmode` in the URL decides TLS to PostgreSQL (the throwaway cluster has a certificate):
/// `require` connects encrypted, `disable` in the clear.
#[tokio::test]
#[ignore = "needs PostgreSQL: run under pg_virtualenv (CI does)"]
async fn on_postgres_sslmode_in_the_url_decides_tls() {
    let _share = crate::helpers::share_postgres().await;
    let url = crate::helpers::fresh_postgres_database().await;
    for (mode, encrypted) in [("require", true), ("disable", false)] {
        let db = store::connect(&format!("{url}?sslmode={mode}"))
            .await
            .unwrap();
        let store::Backend::Postgres(pool) = db.pool() else {
            unreachable!()
        };
        let ssl: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(ssl, encrypted, "sslmode={mode}");
        db.close().await;
    }
}
