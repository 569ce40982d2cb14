use super::super::job_view::{get_job, list_jobs};
use super::*;
use crate::ingest::{IngestOptions, parse_upload};
use crate::store::jobs::NewRun;
use crate::store::query_count;

async fn store_with_jobs(n: usize) -> (impl Sized, Pool) {
    let (guard, pool) = super::super::test_pool().await;
    let opts = IngestOptions::csv("label");
    let parsed = parse_upload(&b"x,label\n1,a\n2,b\n3,a\n4,b\n"[..], &opts).unwrap();
    let summary = parsed.summary("ds_q".into(), "q".into(), ids::now_rfc3339());
    super::super::datasets::insert_dataset(&pool, summary, &parsed, None)
        .await
        .unwrap();
    for j in 0..n {
        let spec = JobSpec::from_json(serde_json::json!({"dataset_id": "ds_q"})).unwrap();
        let runs = (0..3)
            .map(|f| NewRun::test_fold(format!("run_{j}_{f}"), f))
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
            meta: Default::default(),
            outer_of: None,
            outer_jobs: Vec::new(),
        };
        insert_job(&pool, &job, None).await.unwrap();
    }
    (guard, pool)
}

store_test! {
async fn a_page_of_jobs_is_one_query_however_many_jobs_it_holds() {
    let (_guard, pool) = store_with_jobs(6).await;
    // A claimed run shows in its job's progress, from the same query.
    super::super::runs::claim_next(&pool, "w", 60_000, "test")
        .await
        .unwrap()
        .unwrap();
    let (listed, queries) = query_count::of_jobs(list_jobs(&pool, &Default::default(), 10, None)).await;
    let (page, next) = listed.unwrap();
    assert_eq!(queries, 1);
    assert_eq!((page.len(), next), (6, None));
    let claimed = page.iter().find(|j| j.id == "job_0").unwrap();
    assert_eq!(claimed.progress.runs_total, 3);
    assert_eq!(claimed.status, JobStatus::Running);
    assert!(page.iter().all(|j| j.progress.runs_done == 0));
    let (job, queries) = query_count::of_jobs(get_job(&pool, "job_3")).await;
    assert!(job.unwrap().is_some());
    assert_eq!(queries, 1);
}
}

store_test! {
async fn jobs_stored_before_names_gain_their_families_and_scores_when_migrated() {
    let (_guard, pool) = super::super::test_pool_unmigrated().await;
    let meta = super::super::super::MIGRATOR.iter().find(|m| m.description == "job meta");
    super::super::migrate_until(&pool, meta.unwrap().version - 1).await;
    let spec = |model: serde_json::Value| {
        let spec = JobSpec::from_json(serde_json::json!({"dataset_id": "d", "model": model}));
        serde_json::to_string(&spec.unwrap()).unwrap()
    };
    let summary = r#"{"balanced_accuracy": {"mean": 0.875, "std": 0.01, "min": 0.86, "max": 0.89},
                      "log_loss": {"mean": 0.3, "std": 0.02, "min": 0.28, "max": 0.33}}"#;
    let rows = [
        ("old_a", spec(serde_json::json!([{"kind": "mlp"}, {"kind": "gru"}])), Some(summary)),
        ("old_b", spec(serde_json::json!({"kind": "lstm"})), None),
    ];
    for (id, spec, summary) in rows {
        sqlx::query(
            "INSERT INTO jobs (id, dataset_id, status, spec_json, folds_json, created_at, summary_json)
             VALUES ($1, 'd', 'succeeded', $2, '[]', '2026-01-01T00:00:00Z', $3)",
        )
        .bind(id)
        .bind(spec)
        .bind(summary)
        .execute(&pool)
        .await
        .unwrap();
    }
    super::super::super::MIGRATOR.run(&pool).await.unwrap();
    let families: Vec<(String, String)> =
        sqlx::query_as("SELECT id, families FROM jobs ORDER BY id").fetch_all(&pool).await.unwrap();
    assert_eq!(families, [("old_a".into(), ",mlp,gru,".into()), ("old_b".into(), ",lstm,".into())]);
    let scores: Vec<(String, String, f64)> =
        sqlx::query_as("SELECT job_id, metric, mean FROM job_scores ORDER BY metric").fetch_all(&pool).await.unwrap();
    assert_eq!(
        scores,
        [("old_a".into(), "balanced_accuracy".into(), 0.875), ("old_a".into(), "log_loss".into(), 0.3)]
    );
}
}
