//! Diagnostics against `../shared/diagnostics/cases.json`, through the API of the release
//! binary: every case's job, its warning and error kinds against `expect` and `allow` (a
//! table), precision and recall of those kinds over the file, and for each case with a
//! `remedy_check`, `POST /v1/jobs/{id}/remedy` with the first warning's finding and the
//! remedied job's metric against the original's; then the same checks with `"verify": true`
//! (every candidate remedy trains; the winner the diagnostics name must pass the check).
//! Ends with a JSON line.
//!
//! Run: `cargo bench --bench diagnostics` (`-- <name>…` runs only those cases;
//! `-- --cases=tests/fixtures/verify_cases.json` the cases built in this repo, whose datasets
//! sit beside that file).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Value, json};

#[path = "support/server.rs"]
mod server;
use server::Server;

/// A case with a remedy check: the case, its job, the check and its first warning.
type Remedy = (Value, Value, Value, Option<Value>);

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");

async fn post(c: &reqwest::Client, s: &Server, path: &str, body: &Value) -> Value {
    let res = c.post(s.url(path)).json(body).send().await.unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// Warning and error kinds of a job's findings.
fn warned(job: &Value) -> BTreeSet<String> {
    job["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The case's metric for `variant`: the leaderboard row of a comparison, else the summary;
/// `None` when the job has no scores (it failed).
async fn metric(
    c: &reqwest::Client,
    s: &Server,
    job: &Value,
    name: &str,
    variant: Option<u64>,
) -> Option<f64> {
    let id = job["id"].as_str().unwrap();
    let m = s.get_json(c, &format!("/v1/jobs/{id}/metrics")).await;
    if let (Some(v), Some(board)) = (variant, m["leaderboard"].as_array()) {
        let row = board.iter().find(|r| r["variant"] == v)?;
        return row["summary"][name]["mean"].as_f64();
    }
    m["summary"][name]["mean"].as_f64()
}

#[tokio::main]
async fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let path = (std::env::args().find_map(|a| a.strip_prefix("--cases=").map(str::to_owned)))
        .unwrap_or_else(|| format!("{SHARED}/diagnostics/cases.json"));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // A dataset beside the cases file, else a shared one.
    let folder = std::path::Path::new(&path).parent().unwrap().to_owned();
    let cases: Vec<&Value> = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| c["name"] == o.as_str()))
        .collect();
    let s = Server::start(&["--workers", "2"]);
    let c = reqwest::Client::new();
    let started = Instant::now();
    let mut datasets: BTreeMap<String, String> = BTreeMap::new();
    let mut jobs = Vec::new();
    // Every case's job is queued at once; the two workers take them in turn.
    for case in &cases {
        let file = case["dataset"].as_str().unwrap();
        let ds = match folder.join(file).is_file() {
            true => s.local_dataset(&c, &folder.join(file), &mut datasets).await,
            false => s.shared_dataset(&c, file, &mut datasets).await,
        };
        let mut spec = case["spec"].clone();
        spec["dataset_id"] = json!(ds);
        jobs.push(
            post(&c, &s, "/v1/jobs", &spec).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut passed = 0;
    let mut remedies: Vec<Remedy> = Vec::new();
    println!(
        "| case | status | warnings and errors | expect | allow | verdict |\n|---|---|---|---|---|---|"
    );
    for (case, id) in cases.iter().zip(&jobs) {
        let job = s.wait_job(&c, id).await;
        let found = warned(&job);
        let set = |k: &str| -> BTreeSet<String> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let (expect, allow) = (set("expect"), set("allow"));
        let ok = expect.is_subset(&found)
            && found
                .iter()
                .all(|k| expect.contains(k) || allow.contains(k));
        passed += usize::from(ok);
        // Precision and recall over expected kinds; allowed kinds are neither hits nor misses.
        tp += found.intersection(&expect).count();
        fp += found
            .iter()
            .filter(|k| !expect.contains(*k) && !allow.contains(*k))
            .count();
        fn_ += expect.difference(&found).count();
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            case["name"].as_str().unwrap(),
            job["status"].as_str().unwrap(),
            list(&found),
            list(&expect),
            list(&allow),
            if ok { "ok" } else { "WRONG" }
        );
        if let Some(check) = case.get("remedy_check").filter(|v| !v.is_null()) {
            let first = job["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["severity"] != "info")
                .cloned();
            remedies.push(((*case).clone(), job.clone(), check.clone(), first));
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    println!(
        "\n{passed} of {} cases right; precision {precision:.3}, recall {recall:.3} ({tp} hits, {fp} false, {fn_} missed)\n",
        cases.len()
    );
    println!(
        "| case | remedy | metric | before | after | needed | kind gone | verdict |\n|---|---|---|---|---|---|---|---|"
    );
    let mut remedied_ok = 0;
    let mut queued = Vec::new();
    for (_, job, _, first) in &remedies {
        let Some(first) = first else {
            queued.push(None);
            continue;
        };
        let id = job["id"].as_str().unwrap();
        let body = json!({"finding": first["id"]});
        let new = post(&c, &s, &format!("/v1/jobs/{id}/remedy"), &body).await;
        assert_eq!(new["remedy_of"], json!(id));
        queued.push(Some(new["id"].as_str().unwrap().to_owned()));
    }
    for ((case, job, check, first), new) in remedies.iter().zip(queued) {
        let name = case["name"].as_str().unwrap();
        let (Some(first), Some(new)) = (first, new) else {
            println!("| {name} | no warning to remedy | | | | | | WRONG |");
            continue;
        };
        let after_job = s.wait_job(&c, &new).await;
        let kind = first["kind"].as_str().unwrap();
        let (metric_name, (before, after), needed, gone, improved) =
            checked(&c, &s, (job, &after_job), check, kind).await;
        let ok = gone && improved;
        remedied_ok += usize::from(ok);
        let show = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.3}"));
        // A model list's patch repeats the whole list: the table shows its start.
        let mut remedy = first["remedy"].to_string();
        if remedy.len() > 120 {
            remedy = format!("{}…", &remedy[..remedy.floor_char_boundary(117)]);
        }
        println!(
            "| {name} | `{remedy}` | {metric_name} | {} | {} | {needed} | {} | {} |",
            show(before),
            show(after),
            if gone { "yes" } else { "no" },
            if ok { "ok" } else { "WRONG" }
        );
    }
    println!("\n{remedied_ok} of {} remedies right\n", remedies.len());
    let verified_ok = verified(&c, &s, &remedies).await;
    println!(
        "\n{verified_ok} of {} verified winners right; {:.0} s in all",
        remedies.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{}",
        json!({"bench": "diagnostics", "cases": cases.len(), "cases_right": passed,
               "precision": precision, "recall": recall, "remedies": remedies.len(),
               "remedies_right": remedied_ok, "verified_right": verified_ok,
               "seconds": started.elapsed().as_secs_f64()})
    );
}

/// Each remedy check again with `"verify": true`: every candidate of the first warning trains,
/// and the winner the diagnostics name must pass the check. Prints a table; the count right.
async fn verified(c: &reqwest::Client, s: &Server, remedies: &[Remedy]) -> usize {
    println!(
        "| case | candidates (resolved) | winner | metric | after | needed | verdict |\n|---|---|---|---|---|---|---|"
    );
    let mut right = 0;
    for (case, job, check, first) in remedies {
        let (name, Some(first)) = (case["name"].as_str().unwrap(), first) else {
            continue;
        };
        let id = job["id"].as_str().unwrap();
        let body = json!({"finding": first["id"], "verify": true});
        let started = post(c, s, &format!("/v1/jobs/{id}/remedy"), &body).await;
        for cand in started["candidates"].as_array().unwrap() {
            if let Some(j) = cand["job_id"].as_str() {
                s.wait_job(c, j).await;
            }
        }
        let d = s.get_json(c, &format!("/v1/jobs/{id}/diagnostics")).await;
        let v = (d["verifications"].as_array().unwrap().iter())
            .find(|v| v["finding"] == first["id"])
            .cloned()
            .unwrap_or_default();
        let tried: Vec<String> = (v["candidates"].as_array().into_iter().flatten())
            .map(|t| format!("{} ({})", t["name"].as_str().unwrap(), t["resolved"]))
            .collect();
        let winner = v["winner"]["job_id"].as_str().map(str::to_owned);
        let kind = first["kind"].as_str().unwrap();
        let (metric, after, needed, ok) = match &winner {
            Some(w) => {
                let after_job = s.wait_job(c, w).await;
                let (m, (_, a), n, gone, better) =
                    checked(c, s, (job, &after_job), check, kind).await;
                (m, a, n, gone && better)
            }
            None => (String::new(), None, String::new(), false),
        };
        right += usize::from(ok);
        println!(
            "| {name} | {} | {} | {metric} | {} | {needed} | {} |",
            tried.join(", "),
            v["winner"]["name"].as_str().unwrap_or("none"),
            after.map_or("—".to_owned(), |a| format!("{a:.3}")),
            if ok { "ok" } else { "WRONG" }
        );
    }
    right
}

/// A remedy check on the job `after` made from `job`: the metric, its value before and after,
/// what was needed, whether the finding's `kind` is gone and whether the metric moved enough.
async fn checked(
    c: &reqwest::Client,
    s: &Server,
    (job, after_job): (&Value, &Value),
    check: &Value,
    kind: &str,
) -> (String, (Option<f64>, Option<f64>), String, bool, bool) {
    let metric_name = check["metric"].as_str().unwrap();
    let variant = check["variant"].as_u64();
    let before = metric(c, s, job, metric_name, variant).await;
    let after = metric(c, s, after_job, metric_name, variant).await;
    let gone = !warned(after_job).contains(kind);
    let (needed, improved) = if let Some(min) = check["at_least"].as_f64() {
        (format!("≥ {min}"), after.is_some_and(|a| a >= min))
    } else if let Some(by) = check["improves_by"].as_f64() {
        let need = before.map(|b| b + by);
        (
            need.map_or(format!("+{by}"), |n| format!("≥ {n:.3}")),
            matches!((before, after), (Some(b), Some(a)) if a >= b + by),
        )
    } else {
        let by = check["decreases_by"].as_f64().unwrap();
        let need = before.map(|b| b - by);
        (
            need.map_or(format!("−{by}"), |n| format!("≤ {n:.3}")),
            matches!((before, after), (Some(b), Some(a)) if a <= b - by),
        )
    };
    (
        metric_name.to_owned(),
        (before, after),
        needed,
        gone,
        improved,
    )
}
