//! The contract at its edges: every error is problem+json (also those the framework and the
//! request-head limits shape), auth comes before routing, and slow clients are timed out.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, json, problem};

#[tokio::test]
async fn framework_errors_a_long_uri_and_large_headers_are_problem_json() {
    let app = TestApp::spawn().await;
    // A path id that is not UTF-8.
    let res = app.get("/v1/datasets/%FF").send().await.unwrap();
    let status = res.status().as_u16();
    assert!([400, 404].contains(&status), "{status}");
    problem(res, status).await;
    let res = app.get("/v1/jobs/%FF%FE/metrics").send().await.unwrap();
    let status = res.status().as_u16();
    problem(res, status).await;

    let long = "a".repeat(10_000);
    problem(
        app.get(&format!("/v1/datasets?x={long}"))
            .send()
            .await
            .unwrap(),
        414,
    )
    .await;
    let big = "b".repeat(70_000);
    problem(
        app.get("/v1/datasets")
            .header("x-big", big)
            .send()
            .await
            .unwrap(),
        431,
    )
    .await;
    // Method not allowed keeps its Allow header.
    let res = app.delete("/v1/limits").send().await.unwrap();
    assert!(res.headers().contains_key("allow"));
    problem(res, 405).await;
    // An empty cursor is the first page.
    json(app.get("/v1/datasets?cursor=").send().await.unwrap(), 200).await;
}

#[tokio::test]
async fn with_tokens_unknown_routes_and_methods_are_401_before_routing() {
    let app = TestApp::spawn_with(|s| s.api_tokens = vec!["t0ken".into()]).await;
    problem(app.get("/v1/no-such-thing").send().await.unwrap(), 401).await;
    problem(app.delete("/v1/limits").send().await.unwrap(), 401).await;
    problem(app.get("/v1/datasets").send().await.unwrap(), 401).await;
    let open = app.get("/healthz").send().await.unwrap();
    assert_eq!(open.status(), 200);
    let ok = app
        .get("/v1/no-such-thing")
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    problem(ok, 404).await;
}

/// Reads from `stream` until it closes or `within` passes; returns what came.
async fn read_all(stream: &mut TcpStream, within: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => break,
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_body_shorter_than_its_length_is_a_408_and_slow_headers_are_cut_off() {
    let app = TestApp::spawn_with(|s| {
        s.http.body_idle = Duration::from_millis(300);
        s.http.header_read = Duration::from_millis(500);
    })
    .await;
    let addr = format!("127.0.0.1:{}", app.port);
    for (path, ct) in [
        ("/v1/jobs", "application/json"),
        ("/v1/datasets", "text/csv"),
    ] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: 1000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"{\"dataset_id\"").await.unwrap();
        let started = Instant::now();
        let answer = read_all(&mut stream, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer:?}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }
    // Headers that never end: the connection is closed.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_all(&mut stream, Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(4), "{answer:?}");
    assert!(!answer.contains("200 OK"), "{answer:?}");
    // The server still answers.
    json(app.get("/healthz").send().await.unwrap(), 200).await;
}

/// A two-fold, two-epoch job on breast_cancer, finished; its id.
async fn finished_small_job(app: &TestApp) -> String {
    let ds = crate::helpers::upload_breast_cancer(app).await;
    let spec = serde_json::json!({"dataset_id": ds, "training": {"epochs": 2},
                                  "validation": {"folds": 2}, "final_model": false});
    let id = crate::helpers::queued(app, spec).await;
    crate::helpers::wait_until_finished(app, &id).await;
    id
}

/// `Accept` is read by its q-values: CSV only when the client prefers it to JSON.
#[tokio::test]
async fn csv_is_returned_only_when_the_accept_header_prefers_it() {
    let app = TestApp::spawn().await;
    let id = finished_small_job(&app).await;
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let run = runs["items"][0]["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/v1/runs/{run}/metrics"),
        format!("/v1/jobs/{id}/predictions"),
    ] {
        for (accept, csv) in [
            ("text/csv;q=0, application/json", false),
            ("application/json, text/csv", false),
            ("text/csv, application/json", true),
            ("text/csv", true),
        ] {
            let res = app
                .get(&path)
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            let media = res.headers()["content-type"].to_str().unwrap().to_owned();
            assert_eq!(
                media.starts_with("text/csv"),
                csv,
                "{path}, {accept}: {media}"
            );
        }
    }
}

/// A query parameter given twice is a 422 naming it: which value was meant is not guessed.
#[tokio::test]
async fn a_query_parameter_given_twice_is_a_422_naming_it() {
    let app = TestApp::spawn().await;
    let id = finished_small_job(&app).await;
    for path in [
        format!("/v1/jobs/{id}/curves.svg?format=svg&format=json"),
        "/v1/jobs?limit=5&limit=6".to_owned(),
        "/v1/datasets?limit=1&cursor=2&limit=1".to_owned(),
    ] {
        let p = problem(app.get(&path).send().await.unwrap(), 422).await;
        let fields = crate::helpers::error_fields(&p);
        assert_eq!(fields.len(), 1, "{path}: {p}");
        assert!(
            ["format", "limit"].contains(&fields[0].as_str()),
            "{path}: {p}"
        );
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("2 times"),
            "{p}"
        );
    }
}
