//! Durability: the real binary is SIGKILLed mid-run and restarted; the job completes from its
//! last epoch checkpoint with metrics bit-identical to an uninterrupted run.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::fixture;

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A failing assertion must not leave the binary running.
impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The binary on `db`, one worker, writing every epoch so a kill lands mid-run (batched
/// writes would let a short run finish between the poll that sees it and the kill), and
/// pausing 30 ms after each epoch: however fast the machine trains, a run stays at each epoch
/// long enough for the test's poll to see it.
fn start(db: &Path) -> Server {
    start_with(db, &["--workers", "1"])
}

/// As `start`, with `args` (the workers and cores).
fn start_with(db: &Path, args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossfold"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .args(["--checkpoint-every-ms", "0", "--test-epoch-pause-ms", "30"])
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .env_remove("CROSSFOLD_API_TOKENS")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server logs its address").unwrap();
        if let Some(i) = line.find("addr=") {
            break line[i + 5..].split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// `POST /v1/jobs` of `spec`: the new job's id.
async fn post_job(client: &reqwest::Client, server: &Server, spec: &Value) -> String {
    let url = format!("{}/v1/jobs", server.base);
    let job: Value = client
        .post(url)
        .json(spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    job["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no job id: {job}"))
        .to_owned()
}

/// Polls job `id`'s runs every 5 ms until `hit` holds of them (their `items`); after `secs`
/// seconds the test fails, saying it waited for `what`.
async fn until_runs(
    client: &reqwest::Client,
    server: &Server,
    (id, what, secs): (&str, &str, u64),
    hit: impl Fn(&[Value]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let runs = get(client, format!("{}/v1/jobs/{id}/runs", server.base)).await;
        if hit(runs["items"].as_array().unwrap()) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {runs}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a crash test trains: an MLP on breast_cancer, or a GRU or an LSTM on JapaneseVowels
/// sequences.
#[derive(Clone, Copy, PartialEq)]
enum Data {
    Table,
    /// Layers wide enough that their products are cut into tiles shared among cores.
    WideTable,
    Sequences,
    LstmSequences,
}

/// Uploads the data; returns the dataset resource.
async fn upload(client: &reqwest::Client, server: &Server, data: Data) -> Value {
    let (query, content_type, body) = match data {
        Data::Table | Data::WideTable => ("label=label", "text/csv", fixture("breast_cancer.csv")),
        Data::Sequences | Data::LstmSequences => (
            "",
            "text/x-ts",
            fixture("sequences/JapaneseVowels_TRAIN.ts"),
        ),
    };
    client
        .post(format!("{}/v1/datasets?{query}", server.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A 3-fold job with `epochs` per model and the given imbalance settings.
async fn run_job(
    client: &reqwest::Client,
    server: &Server,
    epochs: u64,
    imbalance: &Value,
    data: Data,
) -> String {
    let ds = upload(client, server, data).await;
    let model = match data {
        Data::Table => json!({"hidden_layers": [128, 128], "dropout": 0.1}),
        Data::WideTable => json!({"hidden_layers": [512, 256], "dropout": 0.1, "batch_norm": true}),
        Data::Sequences => json!({"kind": "gru", "hidden_size": 32, "attention": "multiplicative"}),
        Data::LstmSequences => json!({"kind": "lstm", "hidden_size": 16, "layers": 2,
                                      "bidirectional": true, "dropout": 0.2,
                                      "attention": "additive", "unit_forget_bias": true}),
    };
    let spec = json!({
        "dataset_id": ds["id"], "seed": 3, "final_model": false,
        "model": model,
        "training": {"epochs": epochs, "early_stopping": null,
                     "batch_size": if data == Data::WideTable { 128 } else { 64 }},
        "validation": {"folds": 3},
        "imbalance": imbalance,
    });
    post_job(client, server, &spec).await
}

async fn wait_done(client: &reqwest::Client, base: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = get(client, format!("{base}/v1/jobs/{id}")).await;
        if job["status"] == "succeeded" || job["status"] == "failed" {
            return job;
        }
        assert!(Instant::now() < deadline, "job stuck: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each run's checkpoint (fold order): its header, with the wall time of each epoch taken out of
/// its history (the one thing two processes cannot share), and its tensors' bytes.
async fn checkpoints(client: &reqwest::Client, base: &str, id: &str) -> Vec<(Value, Vec<u8>)> {
    let runs = get(client, format!("{base}/v1/jobs/{id}/runs")).await;
    let mut runs: Vec<Value> = runs["items"].as_array().unwrap().clone();
    runs.sort_by_key(|r| (r["fold"].as_u64(), r["strategy"].to_string()));
    let mut out = Vec::new();
    for run in runs {
        let url = format!("{base}/v1/runs/{}/checkpoint", run["id"].as_str().unwrap());
        let bytes = client.get(url).send().await.unwrap().bytes().await.unwrap();
        let size = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header: Value = serde_json::from_slice(&bytes[8..8 + size]).unwrap();
        let history = header["__metadata__"]["history"].as_str().unwrap();
        let mut history: Value = serde_json::from_str(history).unwrap();
        for epoch in history.as_array_mut().unwrap() {
            epoch.as_object_mut().unwrap().remove("seconds");
        }
        header["__metadata__"]["history"] = history;
        out.push((header, bytes[8 + size..].to_vec()));
    }
    out
}

/// The parts of the job's results that must not depend on a crash.
async fn results(client: &reqwest::Client, base: &str, id: &str) -> Value {
    let m = get(client, format!("{base}/v1/jobs/{id}/metrics")).await;
    let folds: Vec<Value> = m["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            json!([
                f["fold"],
                f["metrics"],
                f["best_epoch"],
                f["member_class_counts"]
            ])
        })
        .collect();
    json!({"folds": folds, "summary": m["summary"], "pooled": m["pooled"]})
}

#[tokio::test]
async fn a_job_killed_mid_run_resumes_after_restart_with_bit_identical_metrics() {
    killed_mid_run_resumes_bit_identical(12, json!({"strategy": "none"}), 3, 12, Data::Table).await;
}

/// The thread count changes nothing: a job whose products are shared among cores trains the
/// same on one worker and one core as on two workers and two cores (a run alone widens to both),
/// killed there and resumed on one core.
#[tokio::test]
async fn a_wide_job_is_the_same_to_the_bit_on_one_core_or_two_and_resumed_on_another() {
    let servers: Servers = [
        &["--workers", "1", "--cores", "1"],
        &["--workers", "2", "--cores", "2"],
        &["--workers", "1", "--cores", "1"],
    ];
    let imbalance = json!({"strategy": "none"});
    killed_mid_run_resumes_bit_identical_on(servers, 8, imbalance, 3, 8, Data::WideTable).await;
}

/// The arguments of the uninterrupted, the killed and the resumed server.
type Servers = [&'static [&'static str]; 3];

/// A GRU's run (with random over-sampling of its packed sequences) killed mid-run.
#[tokio::test]
async fn a_sequence_job_killed_mid_run_resumes_with_bit_identical_metrics() {
    let imbalance = json!({"strategy": "oversample"});
    killed_mid_run_resumes_bit_identical(8, imbalance, 3, 8, Data::Sequences).await;
}

/// A stacked bidirectional LSTM's run (dropout between its layers draws from the run's RNG)
/// killed mid-run.
#[tokio::test]
async fn an_lstm_job_killed_mid_run_resumes_with_bit_identical_metrics() {
    let imbalance = json!({"strategy": "none"});
    killed_mid_run_resumes_bit_identical(8, imbalance, 3, 8, Data::LstmSequences).await;
}

/// A cascade's run holds three members of 8 epochs (epochs 1–24); it is killed inside the
/// second member, whose pool depends on the first: the resumed run replays that pool.
#[tokio::test]
async fn an_ensemble_killed_inside_a_member_resumes_with_bit_identical_metrics() {
    let imbalance = json!({"strategy": "balance_cascade", "n_subsets": 3});
    killed_mid_run_resumes_bit_identical(8, imbalance, 10, 24, Data::Table).await;
}

/// Runs the job uninterrupted, then again killed (SIGKILL) while a run of the second fold or
/// later has `kill_after` epochs done, and compares. Every run has `run_epochs` epochs
/// (`epochs` per model, times the members of an ensemble).
async fn killed_mid_run_resumes_bit_identical(
    epochs: u64,
    imbalance: Value,
    kill_after: u64,
    run_epochs: u64,
    data: Data,
) {
    let one: &[&str] = &["--workers", "1"];
    let servers = [one; 3];
    killed_mid_run_resumes_bit_identical_on(
        servers, epochs, imbalance, kill_after, run_epochs, data,
    )
    .await;
}

async fn killed_mid_run_resumes_bit_identical_on(
    servers: Servers,
    epochs: u64,
    imbalance: Value,
    kill_after: u64,
    run_epochs: u64,
    data: Data,
) {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();

    // Uninterrupted, on its own database.
    let mut clean = start_with(&dir.path().join("clean.db"), servers[0]);
    let clean_id = run_job(&client, &clean, epochs, &imbalance, data).await;
    let job = wait_done(&client, &clean.base, &clean_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let want = results(&client, &clean.base, &clean_id).await;
    let want_checkpoints = checkpoints(&client, &clean.base, &clean_id).await;
    clean.kill();

    // Killed while the second fold (fold index ≥ 1) is at epoch ≥ kill_after.
    let db = dir.path().join("crash.db");
    let mut server = start_with(&db, servers[1]);
    let id = run_job(&client, &server, epochs, &imbalance, data).await;
    let what = format!("never reached fold 2, epoch {kill_after}");
    until_runs(&client, &server, (&id, &what, 120), |runs| {
        runs.iter().any(|r| {
            r["fold"].as_u64().unwrap_or(0) >= 1
                && r["status"] == "running"
                && r["epochs_done"].as_u64().unwrap_or(0) >= kill_after
        })
    })
    .await;
    server.kill();

    let server = start_with(&db, servers[2]);
    let job = wait_done(&client, &server.base, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["attempts"].as_u64().unwrap() >= 2,
        "the killed run was retried: {job}"
    );
    let got = results(&client, &server.base, &id).await;
    assert_eq!(
        got, want,
        "metrics after a crash equal an uninterrupted run's, to the bit"
    );
    assert!(
        checkpoints(&client, &server.base, &id).await == want_checkpoints,
        "each run's checkpoint is an uninterrupted run's, to the bit"
    );
    // No epoch row is duplicated: each run has epochs 1..=run_epochs exactly once.
    let runs = get(&client, format!("{}/v1/jobs/{id}/runs", server.base)).await;
    for run in runs["items"].as_array().unwrap() {
        let history = get(
            &client,
            format!(
                "{}/v1/runs/{}/metrics",
                server.base,
                run["id"].as_str().unwrap()
            ),
        )
        .await;
        let epochs: Vec<u64> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["epoch"].as_u64().unwrap())
            .collect();
        assert_eq!(epochs, (1..=run_epochs).collect::<Vec<_>>());
    }
}

/// A halving search on `server`: 6 trials, 2 folds, rungs at epochs 1, 3 and 9.
async fn search_job(client: &reqwest::Client, server: &Server) -> String {
    let ds = upload(client, server, Data::Table).await;
    let spec = json!({
        "dataset_id": ds["id"], "seed": 11, "final_model": false,
        "model": {"hidden_layers": [32]},
        "training": {"epochs": 9, "early_stopping": null},
        "validation": {"folds": 2},
        "search": {"method": "asha", "trials": 6, "reduction_factor": 3, "min_epochs": 1,
                   "space": {"optimizer.learning_rate": {"log_uniform": [1e-4, 3e-2]},
                             "model.dropout": {"uniform": [0.0, 0.5]}}},
    });
    post_job(client, server, &spec).await
}

/// A search killed while a promoted trial trains (past its first rung), and restarted, ends
/// with the leaderboard of an uninterrupted search: the same promotions, halts and scores.
#[tokio::test]
async fn a_search_killed_mid_run_resumes_to_the_same_leaderboard() {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let mut clean = start(&dir.path().join("clean.db"));
    let clean_id = search_job(&client, &clean).await;
    let job = wait_done(&client, &clean.base, &clean_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let board = |m: Value| m["leaderboard"].clone();
    let want = board(
        get(
            &client,
            format!("{}/v1/jobs/{clean_id}/metrics", clean.base),
        )
        .await,
    );
    clean.kill();
    assert!(
        want.as_array()
            .unwrap()
            .iter()
            .any(|r| r.get("halted_at").is_some()),
        "{want}"
    );

    let db = dir.path().join("crash.db");
    let mut server = start(&db);
    let id = search_job(&client, &server).await;
    let what = "no trial trained past its first rung";
    until_runs(&client, &server, (&id, what, 120), |runs| {
        (runs.iter())
            .any(|r| r["status"] == "running" && r["epochs_done"].as_u64().unwrap_or(0) >= 2)
    })
    .await;
    server.kill();
    let server = start(&db);
    let job = wait_done(&client, &server.base, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["attempts"].as_u64().unwrap() >= 2,
        "the killed run was retried: {job}"
    );
    let got = board(get(&client, format!("{}/v1/jobs/{id}/metrics", server.base)).await);
    assert_eq!(got, want, "the same leaderboard as an uninterrupted search");
}

#[tokio::test]
async fn a_run_whose_worker_always_crashes_fails_after_max_attempts_and_other_jobs_still_run() {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("poison.db");
    let mut server = start(&db);
    let poison = run_job(
        &client,
        &server,
        12,
        &json!({"strategy": "none"}),
        Data::Table,
    )
    .await;
    // A second, small job queued behind it.
    let ds = get(&client, format!("{}/v1/datasets", server.base)).await["items"][0]["id"].clone();
    let other = post_job(&client, &server, &json!({"dataset_id": ds, "training": {"epochs": 2}, "validation": {"folds": 2}, "final_model": false})).await;
    // Kill the process each time the poison job's first run is training: 3 attempts.
    for _ in 0..3 {
        until_runs(
            &client,
            &server,
            (&poison, "the run never started", 60),
            |runs| {
                runs[0]["status"] == "running" && runs[0]["epochs_done"].as_u64().unwrap_or(0) >= 1
            },
        )
        .await;
        server.kill();
        server = start(&db);
    }
    let job = wait_done(&client, &server.base, &poison).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("crashed or killed"),
        "{job}"
    );
    let runs = get(&client, format!("{}/v1/jobs/{poison}/runs", server.base)).await;
    assert_eq!(runs["items"][0]["status"], "failed");
    assert_eq!(runs["items"][0]["attempt"], 3);
    let job = wait_done(&client, &server.base, &other).await;
    assert_eq!(job["status"], "succeeded", "the other job still ran: {job}");
}

#[tokio::test]
async fn sigterm_checkpoints_hands_the_run_back_without_counting_an_attempt_and_exits_0() {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let mut server = start(&db);
    let ds = upload(&client, &server, Data::Table).await;
    let spec = json!({"dataset_id": ds["id"], "model": {"hidden_layers": [128, 128]}, "training": {"epochs": 10000, "early_stopping": null}});
    let id = post_job(&client, &server, &spec).await;
    until_runs(&client, &server, (&id, "two epochs", 60), |runs| {
        runs[0]["epochs_done"].as_u64().unwrap_or(0) >= 2
    })
    .await;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");

    let pool = crossfold::store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let runs = crossfold::store::run_data::runs_of_job(
        &pool,
        &id,
        crossfold::store::run_data::Detail::Full,
    )
    .await
    .unwrap();
    let run = &runs[0];
    assert_eq!(
        run.state,
        crossfold::domain::results::RunState::Queued,
        "handed back to the queue"
    );
    assert_eq!(run.attempt, 0, "a clean stop does not count as an attempt");
    let done = run.epochs_done;
    assert!(done >= 2);
    assert!(
        crossfold::store::run_data::checkpoint(&pool, &run.id)
            .await
            .unwrap()
            .unwrap()
            .1
            .is_some()
    );
    pool.close().await;

    // After a restart it continues from its checkpoint, not from epoch 1.
    let server = start(&db);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = get(&client, format!("{}/v1/jobs/{id}/runs", server.base)).await;
        let r = &runs["items"][0];
        if r["status"] == "running" && r["epochs_done"].as_u64().unwrap_or(0) > done {
            break;
        }
        assert!(Instant::now() < deadline, "{runs}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let history = get(
        &client,
        format!("{}/v1/runs/{}/metrics", server.base, runs[0].id),
    )
    .await;
    let epochs: Vec<u64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(
        epochs,
        (1..=epochs.len() as u64).collect::<Vec<_>>(),
        "no epoch repeated or skipped"
    );
}

/// What a `{"epochs": "cv"}` final model is: the epochs it was given, its history's training
/// losses and its checkpoint's tensors (name and bytes; the metadata holds timings).
async fn final_model_of(
    client: &reqwest::Client,
    base: &str,
    id: &str,
) -> (Value, Value, Vec<(String, Vec<u8>)>) {
    let metrics = get(client, format!("{base}/v1/jobs/{id}/metrics")).await;
    let runs = get(client, format!("{base}/v1/jobs/{id}/runs")).await;
    let last = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "final")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let history = get(client, format!("{base}/v1/runs/{last}/metrics")).await;
    let losses: Vec<Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!([e["epoch"], e["train_loss"]]))
        .collect();
    let checkpoint = client
        .get(format!("{base}/v1/runs/{last}/checkpoint"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&checkpoint).unwrap();
    let mut tensors: Vec<(String, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, t.data().to_vec()))
        .collect();
    tensors.sort();
    (metrics["final_epochs"].clone(), json!(losses), tensors)
}

/// A final model trained for the folds' mean best epoch, killed while it trains: resumed, it
/// trains the same epochs from its checkpoint and ends bit-identical.
#[tokio::test]
async fn a_final_model_trained_for_the_folds_epochs_resumes_after_a_kill_to_the_bit() {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let spec = |ds: Value| {
        json!({"dataset_id": ds["id"], "seed": 5,
            "model": {"hidden_layers": [32, 32]},
            "training": {"epochs": 40, "early_stopping": {"patience": 100}},
            "validation": {"folds": 2}, "final_model": {"epochs": "cv"}})
    };
    let mut clean = start(&dir.path().join("clean.db"));
    let ds = upload(&client, &clean, Data::Table).await;
    let clean_id = post_job(&client, &clean, &spec(ds)).await;
    assert_eq!(
        wait_done(&client, &clean.base, &clean_id).await["status"],
        "succeeded"
    );
    let want = final_model_of(&client, &clean.base, &clean_id).await;
    let epochs = want.0["epochs"].as_u64().unwrap();
    assert!(
        epochs >= 5,
        "the folds' epochs leave room to kill mid-run: {}",
        want.0
    );
    clean.kill();

    let db = dir.path().join("crash.db");
    let mut server = start(&db);
    let ds = upload(&client, &server, Data::Table).await;
    let id = post_job(&client, &server, &spec(ds)).await;
    let what = "the final run never reached epoch 3";
    until_runs(&client, &server, (&id, what, 120), |runs| {
        runs.iter().any(|r| {
            r["kind"] == "final"
                && r["status"] == "running"
                && r["epochs_done"].as_u64().unwrap_or(0) >= 3
        })
    })
    .await;
    server.kill();
    let server = start(&db);
    let job = wait_done(&client, &server.base, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let got = final_model_of(&client, &server.base, &id).await;
    assert_eq!(got.0, want.0, "the same epochs, from the same folds");
    assert_eq!(got.1, want.1, "the same history, epoch by epoch");
    assert!(got.2 == want.2, "the same weights, to the bit");
}
