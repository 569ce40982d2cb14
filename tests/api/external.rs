//! The contract checked by outside tools against the real app: a client generated from
//! `openapi.yaml` by openapi-python-client runs the whole flow, and schemathesis fuzzes every
//! operation with a token and finds no failure. `.ci/run` installs both; in CI (`CI` set) a
//! missing tool fails the test, elsewhere the test says it did not run.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::helpers::{TestApp, fixture, json};

const TOKEN: &str = "contract-token";

/// Fails unless `tool --version` runs.
async fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "needs {tool} (pip install -r tests/python/requirements.txt; .ci/run installs it)"
    );
}

fn manifest(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs openapi-python-client (.ci/run installs it; run with --include-ignored)"]
async fn a_client_generated_from_openapi_yaml_runs_the_whole_flow_without_warnings() {
    require("openapi-python-client").await;
    let app = TestApp::spawn_with(|s| s.api_tokens = vec![TOKEN.into()]).await;
    let out = tempfile::tempdir().unwrap();
    let generated = Command::new("openapi-python-client")
        .args(["generate", "--meta", "none", "--path"])
        .arg(manifest("openapi.yaml"))
        .arg("--config")
        .arg(manifest("tests/python/openapi-python-client.yaml"))
        .arg("--output-path")
        .arg(out.path().join("crossfold_client"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&generated.stdout).into_owned()
        + &String::from_utf8_lossy(&generated.stderr);
    assert!(generated.status.success(), "{text}");
    assert!(
        !text.to_lowercase().contains("warning"),
        "the generator warned about our schema:\n{text}"
    );
    let flow = Command::new("python3")
        .arg(manifest("tests/python/generated_client_flow.py"))
        .arg(out.path())
        .arg(&app.address)
        .arg(TOKEN)
        .arg(manifest("tests/fixtures"))
        .output()
        .await
        .unwrap();
    assert!(
        flow.status.success(),
        "{}{}",
        String::from_utf8_lossy(&flow.stdout),
        String::from_utf8_lossy(&flow.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis (.ci/run installs it; run with --include-ignored)"]
async fn schemathesis_finds_no_failure_in_a_short_run() {
    require("st").await;
    let app = TestApp::spawn_with(|s| s.api_tokens = vec![TOKEN.into()]).await;
    json(
        app.post("/v1/datasets?label=label")
            .bearer_auth(TOKEN)
            .header("content-type", "text/csv")
            .body(fixture("breast_cancer.csv"))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let seconds = std::env::var("CROSSFOLD_SCHEMATHESIS_SECONDS").unwrap_or_else(|_| "45".into());
    let reports = tempfile::tempdir().unwrap();
    let run = Command::new("st")
        .current_dir(reports.path())
        .args(["--config-file", &manifest("schemathesis.toml")])
        .args(["run", &manifest("openapi.yaml"), "--checks", "all"])
        .args(["--url", &app.address, "--max-time", &seconds, "--seed", "1"])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found failures:\n{}",
        &text[text.len().saturating_sub(12_000)..]
    );
}
