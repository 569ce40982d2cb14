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
    let (listed, queries) = query_count::of_jobs(list_jobs(&pool, None, 10, None)).await;
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
