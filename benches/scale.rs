//! Scale-out on PostgreSQL, each case on a fresh database of the server the `PG*` variables name
//! (`pg_virtualenv cargo bench --bench scale`), with the release binary as separate processes:
//! (1) a 60-run job (4 models × 5 folds × 3 repeats on caravan) queued by an API alone
//!     (`serve --workers 0`) and trained by 1, 2 and 4 `crossfold worker` processes of one worker
//!     each, three times in turn: median wall time and speed-up over one (target: 2 processes
//!     ≥ 1.8× one on a 2-core machine);
//! (2) claims per second: 16 workers (4 processes × 4) on 480 one-epoch runs of a 20-row
//!     dataset, from the first submit to the last run's end (target ≥ 500);
//! (3) a caravan job (5 folds, 20 epochs) on one `serve --workers 2` process: PostgreSQL's
//!     median wall time over five jobs next to SQLite's, in turn in the same run (target:
//!     within 10%).
//! Each case ends with a JSON line (`{"bench": "scale", "case": …}`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/server.rs"]
mod server;
use postgres::fresh_database;
use server::{Server, Workers};

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        if crossfold::store::connect("postgres://").await.is_err() {
            eprintln!("scale: no PostgreSQL server (run under pg_virtualenv); nothing measured");
            std::process::exit(2);
        }
        println!("cpu: {}", cpu_model());
        sixty_runs().await;
        claims_per_second().await;
        caravan_on_both().await;
    });
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find(|l| l.starts_with("model name"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{} × {cores}",
        model
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("?")
            .trim()
    )
}

fn caravan() -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/caravan.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn upload(c: &reqwest::Client, s: &Server, csv: Vec<u8>) -> String {
    let ds = s.upload_csv(c, "label=label", csv).await;
    ds["id"].as_str().unwrap().to_owned()
}

/// Waits for every job in `ids` to succeed.
async fn all_succeed(c: &reqwest::Client, s: &Server, ids: &[String]) {
    for id in ids {
        let job = s.wait_job(c, id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
}

/// Each process count timed `REPEATS` times, the counts in turn (1, 2, 4, 1, 2, 4, …) so a
/// machine's drift touches each alike; speed-ups are of medians.
async fn sixty_runs() {
    const REPEATS: usize = 3;
    const PROCESSES: [usize; 3] = [1, 2, 4];
    let mut seconds = vec![Vec::new(); PROCESSES.len()];
    for _ in 0..REPEATS {
        for (i, processes) in PROCESSES.into_iter().enumerate() {
            seconds[i].push(sixty_runs_on(processes).await);
        }
    }
    let one = median(&seconds[0]);
    for (i, processes) in PROCESSES.into_iter().enumerate() {
        let (s, list) = (median(&seconds[i]), listed(&seconds[i]));
        let speedup = one / s;
        println!(
            "60 runs, {processes} worker process(es): {list} s, median {s:.2} s, {speedup:.2}× one"
        );
        println!(
            "{}",
            json!({"bench": "scale", "case": "sixty_runs", "processes": processes,
                   "repeats": REPEATS, "seconds": s, "speedup": speedup})
        );
    }
}

/// The 60-run job's wall time with `processes` worker processes, on a fresh database.
async fn sixty_runs_on(processes: usize) -> f64 {
    let c = reqwest::Client::new();
    let db = fresh_database().await;
    let api = Server::start_on(Some(&db), &["--workers", "0"]);
    let ds = upload(&c, &api, caravan()).await;
    let spec = json!({"dataset_id": ds, "seed": 0, "final_model": false,
        "model": [{"hidden_layers": [32]}, {"hidden_layers": [64]},
                  {"hidden_layers": [32, 32]}, {"hidden_layers": [64, 64]}],
        "training": {"epochs": 10, "batch_size": 64, "early_stopping": null},
        "validation": {"folds": 5, "repeats": 3}});
    let id = api.submit(&c, &spec).await;
    let start = Instant::now();
    let workers = Workers::start(&db, processes, 1);
    all_succeed(&c, &api, std::slice::from_ref(&id)).await;
    let s = start.elapsed().as_secs_f64();
    drop(workers);
    s
}

async fn claims_per_second() {
    let c = reqwest::Client::new();
    let db = fresh_database().await;
    let api = Server::start_on(Some(&db), &["--workers", "0"]);
    let mut csv = String::from("x,y,label\n");
    for i in 0..20 {
        csv.push_str(&format!("{i},{},{}\n", (i * 7) % 5, i % 2));
    }
    let ds = upload(&c, &api, csv.into_bytes()).await;
    let workers = Workers::start(&db, 4, 4);
    // Let every worker connect and listen before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let models: Vec<Value> = (1..=8).map(|w| json!({"hidden_layers": [w]})).collect();
    let start = Instant::now();
    let mut ids = Vec::new();
    for seed in 0..4 {
        let spec = json!({"dataset_id": ds, "seed": seed, "final_model": false, "model": models,
            "training": {"epochs": 1, "early_stopping": null},
            "validation": {"folds": 5, "repeats": 3}});
        ids.push(api.submit(&c, &spec).await);
    }
    all_succeed(&c, &api, &ids).await;
    let s = start.elapsed().as_secs_f64();
    drop(workers);
    let per_second = 480.0 / s;
    println!("480 one-epoch runs, 16 workers: {s:.2} s, {per_second:.0} claims/s");
    println!(
        "{}",
        json!({"bench": "scale", "case": "claims_per_second", "workers": 16, "runs": 480,
               "seconds": s, "per_second": per_second})
    );
}

/// Each backend's job timed `REPEATS` times, in turn, on the same two servers: a job takes
/// under half a second here, so one timing of each is mostly noise. The ratio is of medians.
async fn caravan_on_both() {
    const REPEATS: usize = 5;
    let c = reqwest::Client::new();
    let postgres = fresh_database().await;
    let mut servers = Vec::new();
    for db in [None, Some(postgres.as_str())] {
        let s = Server::start_on(db, &["--workers", "2"]);
        let ds = upload(&c, &s, caravan()).await;
        servers.push((s, ds, Vec::new()));
    }
    for _ in 0..REPEATS {
        for (s, ds, seconds) in &mut servers {
            let spec = json!({"dataset_id": ds, "seed": 0, "final_model": false,
                "model": {"hidden_layers": [64, 64]},
                "training": {"epochs": 20, "batch_size": 64, "early_stopping": null},
                "validation": {"folds": 5}});
            let start = Instant::now();
            let id = s.submit(&c, &spec).await;
            all_succeed(&c, s, &[id]).await;
            seconds.push(start.elapsed().as_secs_f64());
        }
    }
    let medians: Vec<f64> = servers.iter_mut().map(|(_, _, s)| median(s)).collect();
    for (name, (_, _, seconds)) in ["sqlite", "postgres"].iter().zip(&servers) {
        let list: Vec<String> = seconds.iter().map(|s| format!("{s:.2}")).collect();
        println!(
            "caravan on {name}: {} s (median {:.2})",
            list.join(", "),
            median(seconds)
        );
    }
    let ratio = medians[1] / medians[0];
    println!("caravan: PostgreSQL / SQLite = {ratio:.3} (medians of {REPEATS})");
    println!(
        "{}",
        json!({"bench": "scale", "case": "caravan", "repeats": REPEATS,
               "sqlite_seconds": medians[0], "postgres_seconds": medians[1], "ratio": ratio})
    );
}

fn listed(seconds: &[f64]) -> String {
    let list: Vec<String> = seconds.iter().map(|s| format!("{s:.2}")).collect();
    list.join(", ")
}

fn median(seconds: &[f64]) -> f64 {
    let mut sorted = seconds.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
