use std::sync::atomic::{AtomicUsize, Ordering};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::*;
use crate::domain::dataset::UploadFormat;
use crate::ingest::{IngestOptions, parse_upload};

/// Statements sqlx ran on the `jobs` or `runs` tables (counted process-wide: no other unit
/// test of this binary touches a database).
static JOB_QUERIES: AtomicUsize = AtomicUsize::new(0);

struct CountJobQueries;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountJobQueries {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, _: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{v:?} "));
            }
        }
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        if text.0.contains("jobs") || text.0.contains("runs") {
            JOB_QUERIES.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn store_with_jobs(n: usize) -> (tempfile::TempDir, SqlitePool) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let pool = crate::store::connect(&url).await.unwrap();
    crate::store::migrate(&pool).await.unwrap();
    let opts = IngestOptions {
        format: UploadFormat::Csv,
        label: "label".into(),
        delimiter: b',',
        max_rows: 100,
        max_columns: 10,
        max_cells: 1000,
        max_classes: 10,
        max_sequence_steps: 10_000,
        sequence: None,
        size_hint: None,
        text_columns: Vec::new(),
    };
    let parsed = parse_upload(&b"x,label\n1,a\n2,b\n3,a\n4,b\n"[..], &opts).unwrap();
    let summary = parsed.summary("ds_q".into(), "q".into(), ids::now_rfc3339());
    crate::store::datasets::insert_dataset(&pool, summary, &parsed, None)
        .await
        .unwrap();
    for j in 0..n {
        let spec = JobSpec::from_json(serde_json::json!({"dataset_id": "ds_q"})).unwrap();
        let runs = (0..3)
            .map(|f| NewRun {
                id: format!("run_{j}_{f}"),
                kind: RunKind::Fold,
                fold: Some(f),
                repeat: Some(0),
                seed: 1,
                max_attempts: 3,
                strategy: Some(Strategy::None),
                variant: 0,
            })
            .collect();
        let job = NewJob {
            id: format!("job_{j}"),
            dataset_id: "ds_q".into(),
            spec,
            folds: vec![vec![0, 1, 2, 0]],
            runs,
            created_at: ids::now_rfc3339(),
            remedy_of: None,
            classes: vec!["a".into(), "b".into()],
        };
        insert_job(&pool, &job, None).await.unwrap();
    }
    (dir, pool)
}

#[tokio::test]
async fn a_page_of_jobs_is_one_query_however_many_jobs_it_holds() {
    let _ = tracing_subscriber::registry()
        .with(CountJobQueries)
        .try_init();
    let (_dir, pool) = store_with_jobs(6).await;
    // A claimed run shows in its job's progress, from the same query.
    crate::store::runs::claim_next(&pool, "w", 60_000)
        .await
        .unwrap()
        .unwrap();
    JOB_QUERIES.store(0, Ordering::SeqCst);
    let (page, next) = list_jobs(&pool, None, 10, None).await.unwrap();
    assert_eq!(JOB_QUERIES.load(Ordering::SeqCst), 1);
    assert_eq!((page.len(), next), (6, None));
    let claimed = page.iter().find(|j| j.id == "job_0").unwrap();
    assert_eq!(claimed.progress.runs_total, 3);
    assert_eq!(claimed.status, JobStatus::Running);
    assert!(page.iter().all(|j| j.progress.runs_done == 0));
    JOB_QUERIES.store(0, Ordering::SeqCst);
    assert!(get_job(&pool, "job_3").await.unwrap().is_some());
    assert_eq!(JOB_QUERIES.load(Ordering::SeqCst), 1);
}
