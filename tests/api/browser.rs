//! The dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`, which
//! `.ci/run` installs) through WebDriver: upload through the form, start a job from the form
//! after its dry run, live progress, the leaderboard and every plot drawn, a diagnosis's
//! remedy started, with no page errors; and with tokens on, the token asked for once and
//! never put in a URL. Screenshots of each page go to `target/ui-screenshots/`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::TestApp;

const DRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process and a session in it.
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Fails when Chromium is not installed here (the tests using it are ignored unless
    /// asked for, and `.ci/run` installs it).
    async fn start() -> Self {
        assert!(
            Path::new(DRIVER).exists() && Path::new(CHROMIUM).exists(),
            "needs chromium and chromium-driver (apt-get install chromium chromium-driver; \
             .ci/run installs them)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own process group, so that Chromium and its helpers go with it even when a test
        // panics before closing the session (see `Drop`).
        let driver = Command::new(DRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        // The flags this machine's closed network needs (no background connections).
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1800",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"goog:chromeOptions": {"binary": CHROMIUM, "args": args}});
        let caps: serde_json::Map<String, Value> = caps.as_object().unwrap().clone();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("WebDriver session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Self {
            driver,
            client,
            _profile: profile,
        }
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Kills chromedriver's whole process group: Chromium, its GPU and renderer processes.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

/// Waits up to `secs` for `selector` (on a timeout, a screenshot `failed.png` and the page's
/// text say where it stood).
async fn element(c: &Client, selector: &str, secs: u64) -> fantoccini::elements::Element {
    let found = c
        .wait()
        .at_most(Duration::from_secs(secs))
        .for_element(Locator::Css(selector))
        .await;
    match found {
        Ok(e) => e,
        Err(e) => {
            screenshot(c, "failed").await;
            let text = c.execute("return document.body.innerText", vec![]).await;
            panic!("{selector}: {e}; the page: {text:?}")
        }
    }
}

/// Runs `script` until it returns something truthy, up to `secs`; returns that.
async fn until(c: &Client, script: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        let truthy =
            !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
        if truthy {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "still false after {secs} s: {script}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.png")),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
}

/// No page error, script error, CSP violation or failed API request (but 401s) so far.
async fn no_errors(c: &Client) {
    let errors = c.execute("return window.__errors", vec![]).await.unwrap();
    assert_eq!(errors, json!([]), "page errors");
    let failed = c.execute("return window.__failed", vec![]).await.unwrap();
    assert_eq!(failed, json!([]), "failed API requests");
}

async fn set(c: &Client, selector: &str, value: &str) {
    let e = element(c, selector, 5).await;
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn the_dashboard_uploads_trains_shows_every_plot_and_starts_a_remedy_in_chromium() {
    let browser = Browser::start().await;
    let app = TestApp::spawn().await;
    let c = &browser.client;
    c.goto(&format!("{}/", app.address)).await.unwrap();
    // Upload through the form: the label list fills from the file's header.
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/breast_cancer.csv");
    element(c, "#upload-file", 10)
        .await
        .send_keys(&csv.display().to_string())
        .await
        .unwrap();
    until(
        c,
        "return document.getElementById('upload-label').value === 'label'",
        10,
    )
    .await;
    element(c, "#upload-submit", 5).await.click().await.unwrap();
    element(c, "#class-bars .bar", 20).await;
    let bars = c
        .execute(
            "return [...document.querySelectorAll('#class-bars .bar')].map(b => b.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(bars, json!(["0: 357", "1: 212"]));
    screenshot(c, "dataset").await;

    // A job from the form: the vanishing-gradient case (10 sigmoid layers, SGD), two strategies.
    element(c, "#new-job-link", 5).await.click().await.unwrap();
    element(c, "#job-form", 10).await;
    // The server's defaults, and only the family's own fields (before, `64, 32`, 30 epochs and
    // every family's fields at once).
    let form = c
        .execute(
            "return [document.getElementById('job-hidden').value, document.getElementById('job-epochs').value, \
             document.getElementById('job-hidden-size').parentElement.hidden, \
             document.getElementById('job-hidden').parentElement.hidden]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(form, json!(["64, 64", "50", true, false]));
    set(c, "#job-hidden", "32, 32, 32, 32, 32, 32, 32, 32, 32, 32").await;
    element(c, "#job-activation", 5)
        .await
        .select_by_value("sigmoid")
        .await
        .unwrap();
    element(c, "#job-optimizer", 5)
        .await
        .select_by_value("sgd")
        .await
        .unwrap();
    set(c, "#job-lr", "0.01").await;
    set(c, "#job-epochs", "12").await;
    set(c, "#job-folds", "3").await;
    set(c, "#job-seed", "1").await;
    element(c, "#job-early", 5).await.click().await.unwrap();
    element(c, "#strategy-class_weight", 5)
        .await
        .click()
        .await
        .unwrap();
    element(c, "#dry-run", 5).await.click().await.unwrap();
    let resolved = until(
        c,
        "return document.getElementById('dry-run-result').textContent",
        10,
    )
    .await;
    let resolved = resolved.as_str().unwrap();
    assert!(
        resolved.starts_with("7 runs"),
        "2 strategies × 3 folds and the final model: {resolved}"
    );
    assert!(
        resolved.contains("\"activation\": \"sigmoid\""),
        "{resolved}"
    );
    screenshot(c, "new-job").await;
    element(c, "#start-job", 5).await.click().await.unwrap();

    // Live progress, by what the page received rather than by how long training took: the
    // stream sends every epoch of every run (what happened before the page joined, then each
    // new one), and the page renders each; then the status turns to succeeded.
    element(c, "#job-status", 10).await;
    let job_url = c.current_url().await.unwrap();
    let job_id = job_url
        .fragment()
        .unwrap()
        .trim_start_matches("/jobs/")
        .to_owned();
    until(
        c,
        "return document.getElementById('job-status').textContent === 'succeeded'",
        180,
    )
    .await;
    let runs = app.get_json(&format!("/v1/jobs/{job_id}/runs")).await;
    let trained: u64 = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["epochs_done"].as_u64().unwrap())
        .sum();
    assert_eq!(trained, 7 * 12, "7 runs of 12 epochs, no early stopping");
    let rendered = until(
        c,
        &format!(
            "const n = Number(document.getElementById('job-last-epoch').dataset.events); \
             return n === {trained} && n"
        ),
        10,
    )
    .await;
    assert_eq!(rendered, json!(trained), "every epoch event was rendered");
    // The live curves: one line per run (7: three folds of each of two strategies and the
    // final model), drawn from the same events.
    let lines = until(
        c,
        "const n = document.querySelectorAll('#live-curves svg path').length; return n === 7 && n",
        10,
    )
    .await;
    assert_eq!(lines, json!(7));
    let progress = c
        .execute(
            "return document.getElementById('job-progress-text').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(progress, json!("runs 7/7"));
    // The leaderboard and every plot, drawn as SVG in the page.
    element(c, "#leaderboard-table", 30).await;
    let drawn = until(
        c,
        "const p = [...document.querySelectorAll('#plots .plot')]; \
         return p.length === 7 && p.every(d => d.querySelector('svg') && \
         d.querySelector('svg').querySelectorAll('text').length > 5) && p.map(d => d.id)",
        30,
    )
    .await;
    assert_eq!(
        drawn,
        json!([
            "plot-curves",
            "plot-gradients",
            "plot-leaderboard",
            "plot-confusion",
            "plot-roc",
            "plot-pr",
            "plot-calibration"
        ])
    );
    // A plot's numbers behind its toggle.
    element(c, "#plot-leaderboard + figcaption + details summary", 5)
        .await
        .click()
        .await
        .unwrap();
    until(c, "return document.querySelectorAll('#plot-leaderboard ~ details table tbody tr').length === 2", 10).await;
    screenshot(c, "job").await;

    // The diagnosis and its remedy, run from its button.
    element(c, "#job-findings .remedy-button", 30).await;
    let findings = c
        .execute("return [...document.querySelectorAll('#job-findings .finding strong')].map(s => s.textContent)", vec![])
        .await
        .unwrap();
    assert!(
        findings.to_string().contains("vanishing_gradients"),
        "{findings}"
    );
    c.execute(
        "document.getElementById('job-findings').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    screenshot(c, "diagnostics").await;
    // Its candidates verified from their button: a row per candidate, then the verdict.
    element(c, "#job-findings .verify-button", 5)
        .await
        .click()
        .await
        .unwrap();
    until(
        c,
        "return [...document.querySelectorAll('#job-findings .verification .verdict')]\
         .some(p => p.textContent.startsWith('verified'))",
        240,
    )
    .await;
    let d = app
        .get_json(&format!("/v1/jobs/{job_id}/diagnostics"))
        .await;
    let v = &d["verifications"][0];
    let rows = c
        .execute(
            &format!(
                "return document.querySelectorAll('#verification-{} tbody tr').length",
                v["finding"]
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(rows, v["candidates"].as_array().unwrap().len(), "{v}");
    screenshot(c, "verification").await;
    let button = element(c, "#job-findings .remedy-button", 5).await;
    button.click().await.unwrap();
    until(
        c,
        &format!(
            "return location.hash.startsWith('#/jobs/job_') && !location.hash.endsWith('{job_id}')"
        ),
        10,
    )
    .await;
    element(c, "#job-status", 10).await;
    let remedy = c.current_url().await.unwrap();
    let remedy_id = remedy
        .fragment()
        .unwrap()
        .trim_start_matches("/jobs/")
        .to_owned();
    let remedy_job = app.get_json(&format!("/v1/jobs/{remedy_id}")).await;
    assert_eq!(remedy_job["remedy_of"], job_id.as_str(), "{remedy_job}");
    // The remedied job trains live too, and learns.
    until(
        c,
        "return document.getElementById('job-status').textContent === 'succeeded'",
        180,
    )
    .await;
    until(
        c,
        "return document.querySelectorAll('#plots .plot svg').length === 7 &&          document.getElementById('summary-table')",
        30,
    )
    .await;
    let metrics = app.get_json(&format!("/v1/jobs/{remedy_id}/metrics")).await;
    let remedied = metrics["summary"]["balanced_accuracy"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        remedied > 0.6,
        "the remedy learns (chance is 0.5): {remedied}"
    );
    c.execute("document.getElementById('plots').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(c, "remedy-job").await;

    // A run's page: its epochs, and the lists.
    c.goto(job_url.as_ref()).await.unwrap();
    element(c, "#folds-table a", 30)
        .await
        .click()
        .await
        .unwrap();
    element(c, "#epochs-table tbody tr", 10).await;
    element(c, "#run-curves svg path", 10).await;
    screenshot(c, "run").await;
    c.goto(&format!("{}/#/jobs", app.address)).await.unwrap();
    element(c, "#jobs-table", 10).await;
    screenshot(c, "jobs").await;
    // A sequence dataset through the same form: a .ts file names its own classes.
    c.goto(&format!("{}/#/", app.address)).await.unwrap();
    let ts = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sequences/GunPoint_TRAIN.ts");
    element(c, "#upload-file", 10)
        .await
        .send_keys(&ts.display().to_string())
        .await
        .unwrap();
    until(
        c,
        "return document.getElementById('upload-name').value === 'GunPoint_TRAIN'",
        10,
    )
    .await;
    element(c, "#upload-submit", 5).await.click().await.unwrap();
    element(c, "#class-bars .bar", 20).await;
    let about = c
        .execute(
            "return document.querySelector('#view section p').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(about.as_str().unwrap().contains("sequence"), "{about}");
    // A GRU with attention on it: its job page adds the attention plot.
    let url = c.current_url().await.unwrap();
    let gunpoint = url
        .fragment()
        .unwrap()
        .trim_start_matches("/datasets/")
        .to_owned();
    let gru = crate::helpers::queued(
        &app,
        json!({"dataset_id": gunpoint, "model": {"kind": "gru", "hidden_size": 8, "attention": "additive"},
               "training": {"epochs": 2}, "validation": {"folds": 2}}),
    )
    .await;
    c.goto(&format!("{}/#/jobs/{gru}", app.address))
        .await
        .unwrap();
    until(
        c,
        "const p = document.querySelector('#plot-attention svg');          return p && p.querySelectorAll('text').length > 5",
        120,
    )
    .await;
    c.goto(&format!("{}/#/", app.address)).await.unwrap();
    element(c, "#datasets-table", 10).await;
    screenshot(c, "datasets").await;
    no_errors(c).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn a_search_shows_its_trials_against_their_score() {
    use crate::helpers::{queued, upload_breast_cancer, wait_until_finished};
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "name": "a search", "final_model": false,
        "validation": {"folds": 2}, "training": {"epochs": 3, "early_stopping": null},
        "search": {"method": "asha", "trials": 12, "min_epochs": 1, "space": {
            "optimizer.learning_rate": {"log_uniform": [0.0001, 0.1]},
            "model.hidden_layers": {"choice": [[8], [16, 8], [32]]},
            "model.dropout": {"uniform": [0.0, 0.5]}}}});
    let id = queued(&app, spec).await;
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/#/jobs/{id}", app.address))
        .await
        .unwrap();
    element(c, "#search-trials svg", 30).await;
    let shown = c
        .execute(
            "return [document.querySelectorAll('#search-trials polyline').length, \
                     [...document.querySelectorAll('#search-trials .axis-name')].map(t => t.textContent)]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        shown,
        json!([
            12,
            [
                "model.dropout",
                "model.hidden_layers",
                "optimizer.learning_rate",
                "balanced_accuracy"
            ]
        ])
    );
    let overlap = c
        .execute(OVERLAPS, vec![json!("#search-trials text"), json!("#none")])
        .await
        .unwrap();
    assert_eq!(overlap, json!(false), "the trials' labels overlap");
    let board = c
        .execute(
            "return document.querySelectorAll('#leaderboard-table tbody tr').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(board, json!(12));
    // Halving: each trial's loss at the rungs (epochs 1 and 3), its epochs and why it stopped;
    // ⌊12/3⌋ went on past the first rung at least, the rest were halted there.
    let rungs = c
        .execute(
            "return [document.querySelector('#rungs-table thead').textContent, \
                     [...document.querySelectorAll('#rungs-table tbody tr')].map(r => r.lastChild.textContent)]",
            vec![],
        )
        .await
        .unwrap();
    let head = rungs[0].as_str().unwrap();
    assert!(
        head.contains("loss at epoch 1") && head.contains("loss at epoch 3"),
        "{rungs}"
    );
    let stopped: Vec<&str> = rungs[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(stopped.len(), 12, "{rungs}");
    let halted = stopped
        .iter()
        .filter(|s| **s == "halted at epoch 1")
        .count();
    assert!((1..=8).contains(&halted), "{rungs}");
    c.execute(
        "document.getElementById('search-trials').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    screenshot(c, "search").await;
    no_errors(c).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn with_every_event_stream_taken_the_jobs_list_is_read_every_few_seconds() {
    use crate::helpers::{queued, upload_breast_cancer};
    let app = TestApp::spawn_with(|s| s.limits.max_event_streams = 1).await;
    let ds = upload_breast_cancer(&app).await;
    // The one stream this server allows, held open by another client.
    let held = app.get("/v1/events").send().await.unwrap();
    assert_eq!(held.status(), 200);
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/#/jobs", app.address)).await.unwrap();
    until(
        c,
        "return document.getElementById('job-list').textContent === 'No jobs yet.'",
        10,
    )
    .await;
    // The stream is refused (429); a job submitted now still shows up, and is seen to end.
    let spec = json!({"dataset_id": ds, "name": "polled", "training": {"epochs": 2},
                      "validation": {"folds": 2}, "final_model": false});
    queued(&app, spec).await;
    until(
        c,
        "const t = document.querySelector('#jobs-table tbody tr')?.textContent || ''; \
              return t.includes('polled') && t.includes('succeeded')",
        20,
    )
    .await;
    let alert = c
        .execute(
            "return document.getElementById('job-list-error').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(alert, json!(""), "no error is shown for a refused stream");
    let errors = c.execute("return window.__errors", vec![]).await.unwrap();
    assert_eq!(errors, json!([]), "page errors");
    // The refused streams are the only failed requests.
    let failed = c.execute("return window.__failed", vec![]).await.unwrap();
    assert_eq!(failed, json!(["429 /v1/events?limit=100"]));
    browser.close().await;
    drop(held);
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn with_tokens_the_dashboard_asks_once_and_never_puts_the_token_in_a_url() {
    let browser = Browser::start().await;
    let app = TestApp::spawn_with(|s| s.api_tokens = vec!["s3cret-token".into()]).await;
    let c = &browser.client;
    c.goto(&format!("{}/", app.address)).await.unwrap();
    // The page itself is open; its first API call is a 401, so it asks.
    until(c, "return document.getElementById('token-dialog').open", 10).await;
    screenshot(c, "token").await;
    set(c, "#token-input", "wrong").await;
    element(c, "#token-submit", 5).await.click().await.unwrap();
    until(
        c,
        "return document.getElementById('token-dialog').open && \
         document.getElementById('token-message').textContent.includes('refused')",
        10,
    )
    .await;
    set(c, "#token-input", "s3cret-token").await;
    element(c, "#token-submit", 5).await.click().await.unwrap();
    until(
        c,
        "return document.getElementById('dataset-list').textContent === 'No datasets yet.'",
        10,
    )
    .await;
    // Other pages reuse it without asking again.
    c.goto(&format!("{}/#/jobs", app.address)).await.unwrap();
    until(
        c,
        "return document.getElementById('job-list').textContent === 'No jobs yet.'",
        10,
    )
    .await;
    let asked = c
        .execute(
            "return document.getElementById('token-dialog').open",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(asked, json!(false));
    let url = c.current_url().await.unwrap().to_string();
    assert!(!url.contains("s3cret"), "{url}");
    // Every request the page made: none has the token in its URL.
    let urls = c
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            vec![],
        )
        .await
        .unwrap();
    assert!(urls.as_array().unwrap().len() >= 2, "{urls}");
    assert!(!urls.to_string().contains("s3cret"), "{urls}");
    no_errors(c).await;
    browser.close().await;
}

/// The pairs of the page's texts whose DOM bounding boxes overlap.
const OVERLAPPING_TEXTS: &str = "const t = [...document.querySelectorAll('text')];
    const r = t.map(e => e.getBoundingClientRect()); const out = [];
    r.forEach((a, i) => r.forEach((b, j) => { if (i < j && a.left < b.right && b.left < a.right
      && a.top < b.bottom && b.top < a.bottom) out.push([t[i].textContent, t[j].textContent]); }));
    return out;";

/// Whether an element `arguments[0]` finds overlaps another of them or one `arguments[1]` finds
/// (their DOM bounding boxes).
const OVERLAPS: &str = "const boxes = (s) => [...document.querySelectorAll(s)].map(e => e.getBoundingClientRect());
    const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    const [mine, others] = [boxes(arguments[0]), boxes(arguments[1])];
    return mine.some((a, i) => mine.some((b, j) => i < j && hit(a, b)) || others.some(b => hit(a, b)));";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn named_jobs_are_filtered_sorted_and_compared_in_the_dashboard() {
    use crate::helpers::{queued, upload_breast_cancer, wait_until_finished};
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    // 30 jobs: every third about fraud, the rest churn; even ones the risk team's.
    let mut ids = Vec::new();
    for i in 0..30 {
        let kind = if i % 3 == 0 { "fraud" } else { "churn" };
        let team = if i % 2 == 0 { "risk" } else { "ops" };
        let spec = json!({"dataset_id": ds, "name": format!("{kind} {i:02}"), "tags": {"team": team},
                          "model": {"hidden_layers": [4 + (i % 3) * 4]}, "training": {"epochs": 2, "early_stopping": null},
                          "validation": {"folds": 2}, "final_model": false});
        ids.push(queued(&app, spec).await);
    }
    for id in &ids {
        wait_until_finished(&app, id).await;
    }
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/#/jobs", app.address)).await.unwrap();
    element(c, "#jobs-table", 10).await;
    until(
        c,
        "return document.querySelectorAll('#jobs-table tbody tr').length === 30",
        10,
    )
    .await;
    // The open list follows one event stream: a job submitted now appears on top and is seen
    // to succeed, with no reload and no polling.
    let live = json!({"dataset_id": ds, "name": "live 30", "training": {"epochs": 3},
                      "validation": {"folds": 2}, "final_model": false});
    queued(&app, live).await;
    until(c, "const top = document.querySelector('#jobs-table tbody tr'); \
               return top?.textContent.includes('live 30') && top.textContent.includes('succeeded')", 20).await;
    set(
        c,
        "#job-filter",
        "tags.team = 'risk' and name ilike 'CHURN%'",
    )
    .await;
    element(c, "#job-search button[type=submit]", 5)
        .await
        .click()
        .await
        .unwrap();
    let names = "return [...document.querySelectorAll('#jobs-table tbody tr td:nth-child(2) a')].map(a => a.textContent)";
    until(
        c,
        "return document.querySelectorAll('#jobs-table tbody tr').length === 10",
        10,
    )
    .await;
    let shown = c.execute(names, vec![]).await.unwrap();
    let newest_first: Vec<String> = [28, 26, 22, 20, 16, 14, 10, 8, 4, 2]
        .iter()
        .map(|i| format!("churn {i:02}"))
        .collect();
    assert_eq!(shown, json!(newest_first));
    assert!(
        c.current_url().await.unwrap().as_str().contains("filter="),
        "the filter is in the URL"
    );
    element(c, "#job-order", 5)
        .await
        .select_by_value("name")
        .await
        .unwrap();
    until(c, "return document.querySelector('#jobs-table tbody tr td:nth-child(2) a')?.textContent === 'churn 02'", 10).await;
    screenshot(c, "jobs-filtered").await;
    // The first three by name: churn 02, 04 and 08.
    for pick in c
        .find_all(Locator::Css("#jobs-table .pick"))
        .await
        .unwrap()
        .into_iter()
        .take(3)
    {
        pick.click().await.unwrap();
    }
    element(c, "#compare-selected", 5)
        .await
        .click()
        .await
        .unwrap();
    element(c, "#compare-differences", 10).await;
    let fields = c
        .execute("return [...document.querySelectorAll('#compare-differences tbody tr td:first-child')].map(t => t.textContent)", vec![])
        .await
        .unwrap();
    assert_eq!(fields, json!(["model.hidden_layers"]));
    let paths = c
        .execute(
            "return document.querySelectorAll('#compare-plot path').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(paths, json!(3));
    let overlap = c
        .execute(
            OVERLAPS,
            vec![json!("#compare-plot .legend"), json!("#compare-plot path")],
        )
        .await
        .unwrap();
    assert_eq!(overlap, json!(false), "the legend sits beside the curves");
    // Configuration against score: an axis for the differing field and one for the score, a
    // line per job, no label over another.
    let parallel = c
        .execute(
            "return [document.querySelectorAll('#compare-parallel polyline').length, \
                     [...document.querySelectorAll('#compare-parallel .axis-name')].map(t => t.textContent)]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        parallel,
        json!([3, ["model.hidden_layers", "balanced_accuracy"]])
    );
    let overlap = c
        .execute(
            OVERLAPS,
            vec![json!("#compare-parallel text"), json!("#none")],
        )
        .await
        .unwrap();
    assert_eq!(
        overlap,
        json!(false),
        "the parallel coordinates' labels overlap"
    );
    screenshot(c, "compare").await;
    no_errors(c).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn a_sixteen_variant_leaderboard_reads_without_overlapping_text() {
    use crate::helpers::{queued, upload_breast_cancer, wait_until_finished};
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let models = json!([{"hidden_layers": [4]}, {"hidden_layers": [8, 8]}, {"hidden_layers": [16], "activation": "tanh"},
                        {"hidden_layers": [8], "batch_norm": true}]);
    let spec = json!({"dataset_id": ds, "model": models,
                      "imbalance": {"strategy": ["none", "class_weight", "oversample", "undersample"]},
                      "training": {"epochs": 2}, "validation": {"folds": 2}, "final_model": false});
    let id = queued(&app, spec).await;
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    // Labels say what each variant is, and the y axis spans the scores, not 0 to 1.
    let fig = app
        .get_json(&format!("/v1/jobs/{id}/leaderboard.svg?format=json"))
        .await;
    let text = fig.to_string();
    assert!(
        text.contains("mlp 8-8 relu · class_weight")
            && text.contains("mlp 8 relu bn · undersample"),
        "{fig}"
    );
    let board = app.get_json(&format!("/v1/jobs/{id}/metrics")).await["leaderboard"].clone();
    assert_eq!(board.as_array().unwrap().len(), 16);
    assert!(
        board[0]["description"].as_str().unwrap().contains(" · "),
        "{board}"
    );
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/v1/jobs/{id}/leaderboard.svg", app.address))
        .await
        .unwrap();
    element(c, "svg text", 10).await;
    let labels = c
        .execute(
            "return document.querySelectorAll('svg text').length",
            vec![],
        )
        .await
        .unwrap();
    assert!(labels.as_u64().unwrap() > 16, "{labels}");
    screenshot(c, "leaderboard-16").await;
    let pairs = c.execute(OVERLAPPING_TEXTS, vec![]).await.unwrap();
    assert_eq!(pairs, json!([]), "texts of the plot that overlap");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn the_curves_of_four_strategies_by_five_folds_read_without_overlapping_text() {
    use crate::helpers::{queued, upload_breast_cancer, wait_until_finished};
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "imbalance": {"strategy": ["none", "class_weight", "oversample", "smote"]},
                      "training": {"epochs": 4}, "validation": {"folds": 5}});
    let id = queued(&app, spec).await;
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    // 21 runs: each strategy's five folds faint in its colour, their mean named; the final model.
    let fig = app
        .get_json(&format!("/v1/jobs/{id}/curves.svg?format=json"))
        .await;
    let series = fig["series"].as_array().unwrap();
    let named: Vec<&str> = series
        .iter()
        .filter_map(|s| s["name"].as_str().filter(|n| !n.is_empty()))
        .collect();
    assert_eq!(
        named,
        [
            "none (mean)",
            "class_weight (mean)",
            "oversample (mean)",
            "smote (mean)",
            "final model"
        ],
        "{fig}"
    );
    assert_eq!(
        series.iter().filter(|s| s["stroke"] == "faint").count(),
        2 * 21
    );
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/v1/jobs/{id}/curves.svg", app.address))
        .await
        .unwrap();
    element(c, "svg text", 10).await;
    let pairs = c.execute(OVERLAPPING_TEXTS, vec![]).await.unwrap();
    screenshot(c, "curves-4x5").await;
    assert_eq!(pairs, json!([]), "texts of the plot that overlap");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn a_finding_whose_remedy_changes_nothing_offers_no_button() {
    use crate::helpers::{json as json_of, queued, wait_until_finished};
    let app = TestApp::spawn().await;
    let caravan = json_of(
        app.upload_csv("label=label", crate::helpers::fixture("caravan.csv"))
            .await,
        201,
    )
    .await;
    // Class weights are already among the strategies: the imbalance finding of `none` has no
    // remedy left to apply (before, a *Run the remedy* button answered 409).
    let spec = json!({"dataset_id": caravan["id"], "imbalance": {"strategy": ["none", "class_weight"]},
                      "training": {"epochs": 3}, "validation": {"folds": 2}, "final_model": false});
    let id = queued(&app, spec).await;
    let job = wait_until_finished(&app, &id).await;
    let finding = (job["diagnostics"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "class_imbalance" && f["strategy"] == "none")
        .unwrap_or_else(|| panic!("a class_imbalance finding: {job}"))
        .clone();
    assert_eq!(finding["remedy"], json!({}));
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/#/jobs/{id}", app.address))
        .await
        .unwrap();
    let at = format!("#finding-{}", finding["id"]);
    element(c, &at, 20).await;
    let shown = c
        .execute(
            "const f = document.querySelector(arguments[0]); \
             return [f.querySelectorAll('.remedy-button').length, f.querySelector('.no-remedy')?.textContent || ''];",
            vec![json!(at)],
        )
        .await
        .unwrap();
    assert_eq!(shown[0], 0, "{shown}");
    assert!(
        shown[1]
            .as_str()
            .unwrap()
            .starts_with("No automatic remedy"),
        "{shown}"
    );
    no_errors(c).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver (.ci/run installs them; run with --include-ignored)"]
async fn a_nested_job_shows_its_outer_folds_and_an_auto_rate_its_range_tests() {
    use crate::helpers::{queued, upload_breast_cancer, wait_until_finished};
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = json!({"dataset_id": ds, "name": "nested", "final_model": false,
        "model": [{"hidden_layers": [8]}, {"hidden_layers": [16]}],
        "optimizer": {"kind": "sgd", "learning_rate": "auto", "momentum": 0.9},
        "validation": {"folds": 2, "outer_folds": 2}, "training": {"epochs": 2}});
    let id = queued(&app, spec).await;
    let outer = app
        .get_json(&format!("/v1/jobs?filter=outer_of%20%3D%20'{id}'"))
        .await;
    for o in outer["items"].as_array().unwrap() {
        let o = o["id"].as_str().unwrap();
        assert_eq!(wait_until_finished(&app, o).await["status"], "succeeded");
    }
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/#/jobs/{id}", app.address))
        .await
        .unwrap();
    element(c, "#nested-table", 30).await;
    element(c, "#plot-lr_range svg", 30).await;
    let shown = c
        .execute(
            "return [document.querySelectorAll('#nested-table tbody tr').length, \
                     document.querySelector('#nested p').textContent, \
                     document.querySelector('#runs-table thead').textContent, \
                     [...document.querySelectorAll('#runs-table tbody tr')].map(r => r.lastChild.textContent)]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown[0], json!(2), "{shown}");
    assert!(shown[1].as_str().unwrap().contains("optimism"), "{shown}");
    assert!(
        shown[2].as_str().unwrap().contains("learning rate"),
        "{shown}"
    );
    let rates = shown[3].as_array().unwrap();
    assert!(
        rates.iter().all(|r| r.as_str().unwrap().contains("e-")),
        "each run's chosen rate: {shown}"
    );
    screenshot(c, "nested").await;
    no_errors(c).await;
    browser.close().await;
}
