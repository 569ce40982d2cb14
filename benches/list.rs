//! The jobs list at 10,000 jobs: latency of a page (50 jobs) through the release binary's HTTP
//! API, filtered and sorted as a user would, p50 and p99 over 200 requests each. On SQLite, and
//! on PostgreSQL too when the `PG*` variables name a server (`pg_virtualenv cargo bench --bench
//! list`). The goal: p99 ≤ 50 ms for a filtered, sorted page. Ends with JSON lines.
//!
//! Run: `cargo bench --bench list`.

use std::time::Instant;

use crossfold::domain::job::JobSpec;
use crossfold::domain::results::{RunKind, Settled};
use crossfold::engine::eval::summary::Stat;
use crossfold::ingest::{IngestOptions, parse_upload};
use crossfold::store::jobs::{NewJob, NewRun};
use crossfold::store::{self, Db};
use rand::{Rng, SeedableRng};
use serde_json::json;

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/server.rs"]
mod server;
use server::Server;

const JOBS: usize = 10_000;
const REQUESTS: usize = 200;
const TEAMS: [&str; 4] = ["risk", "ops", "growth", "search"];
const FAMILIES: [&str; 3] = ["mlp", "gru", "fcn"];

/// What a user asks the list for: a label, the query string.
const QUERIES: [(&str, &str); 5] = [
    ("newest first", "limit=50"),
    (
        "tag and score range, by score",
        "limit=50&filter=tags.team%20%3D%20'risk'%20and%20metrics.balanced_accuracy%20%3E%200.8&order_by=metrics.balanced_accuracy",
    ),
    (
        "name text, by name",
        "limit=50&filter=name%20ilike%20'%25churn-12%25'&order_by=name",
    ),
    (
        "family and status",
        "limit=50&filter=family%20%3D%20'gru'%20and%20status%20%3D%20'succeeded'",
    ),
    (
        "page 101 by roc_auc",
        "limit=50&order_by=metrics.roc_auc&cursor=5000",
    ),
];

fn job(i: usize, rng: &mut rand::rngs::StdRng) -> NewJob {
    let family = FAMILIES[i % FAMILIES.len()];
    let spec = JobSpec::from_json(json!({"dataset_id": "ds_list", "model": {"kind": family}}));
    let mut runs: Vec<NewRun> = (0..5)
        .map(|f| NewRun {
            id: format!("run_{i}_{f}"),
            kind: RunKind::Fold,
            fold: Some(f),
            repeat: Some(0),
            seed: 1,
            max_attempts: 3,
            strategy: Some(crossfold::domain::job::Strategy::None),
            variant: 0,
            pause_at: None,
        })
        .collect();
    runs.push(NewRun {
        id: format!("run_{i}_final"),
        kind: RunKind::Final,
        fold: None,
        repeat: None,
        ..runs[0].clone()
    });
    let mut job = NewJob {
        id: format!("job_{i:05}"),
        dataset_id: "ds_list".into(),
        spec: spec.unwrap(),
        folds: vec![vec![0, 1, 2, 3, 4]],
        runs,
        created_at: crossfold::domain::ids::now_rfc3339(),
        remedy_of: None,
        classes: vec!["a".into(), "b".into()],
        meta: Default::default(),
        outer_of: None,
        outer_jobs: Vec::new(),
    };
    job.meta.name = Some(format!("churn-{i}"));
    let team = TEAMS[rng.gen_range(0..TEAMS.len())];
    job.meta.tags.insert("team".into(), team.into());
    job.meta
        .tags
        .insert("owner".into(), format!("user{}", i % 37));
    job
}

/// A summary of the scalar metrics around `level`.
fn summary(level: f64, rng: &mut rand::rngs::StdRng) -> crossfold::domain::results::Summary {
    let names = [
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "roc_auc",
        "log_loss",
    ];
    names
        .iter()
        .map(|n| {
            let mean = (level + rng.gen_range(-0.05..0.05)).clamp(0.0, 1.0);
            let stat = Stat {
                mean,
                std: 0.01,
                min: mean - 0.01,
                max: mean + 0.01,
            };
            (n.to_string(), stat)
        })
        .collect()
}

/// A database of `JOBS` jobs (9 in 10 settled with scores), as the store writes them.
async fn fill(db: &Db) {
    store::migrate(db).await.unwrap();
    let parsed = parse_upload(
        &b"x,label\n1,a\n2,b\n3,a\n4,b\n5,a\n"[..],
        &IngestOptions::csv("label"),
    );
    let parsed = parsed.unwrap();
    let summary_ds = parsed.summary(
        "ds_list".into(),
        "churn.csv".into(),
        "2026-12-05T00:00:00Z".into(),
    );
    store::datasets::insert_dataset(db, summary_ds, &parsed, None)
        .await
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..JOBS {
        let job = job(i, &mut rng);
        store::jobs::insert_job(db, &job, None).await.unwrap();
        if i % 10 != 0 {
            let level = rng.gen_range(0.6..0.97);
            let settled = Settled::Succeeded {
                summary: Some(summary(level, &mut rng)),
                results: Default::default(),
            };
            store::jobs::settle(db, &job.id, &settled).await.unwrap();
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Times every query against the server over `backend`, printing a table row each.
async fn measure(backend: &str, database: &str) {
    let db = store::connect(database).await.unwrap();
    let started = Instant::now();
    fill(&db).await;
    println!(
        "{backend}: {JOBS} jobs stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    db.close().await;
    let server = Server::start_on(Some(database), &["--workers", "0"]);
    let client = reqwest::Client::new();
    for (label, query) in QUERIES {
        let url = server.url(&format!("/v1/jobs?{query}"));
        let mut ms = Vec::with_capacity(REQUESTS);
        let mut items = 0;
        for _ in 0..REQUESTS {
            let t = Instant::now();
            let res = client.get(&url).send().await.unwrap();
            assert!(res.status().is_success(), "{label}: {}", res.status());
            let page: serde_json::Value = res.json().await.unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            items = page["items"].as_array().unwrap().len();
        }
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
        println!("| {backend} | {label} | {items} | {p50:.2} | {p99:.2} |");
        let line = json!({"bench": "list", "backend": backend, "query": label, "jobs": JOBS,
                          "items": items, "p50_ms": p50, "p99_ms": p99, "goal_p99_ms": 50.0});
        println!("{line}");
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("list.db").display());
    println!("| backend | query | jobs on the page | p50 ms | p99 ms |\n|---|---|---|---|---|");
    measure("sqlite", &sqlite).await;
    if std::env::var_os("PGHOST").is_some() || std::env::var_os("PGDATABASE").is_some() {
        measure("postgres", &postgres::fresh_database().await).await;
    } else {
        println!("(PostgreSQL skipped: no PG* variables; run under pg_virtualenv to include it)");
    }
}
