//! Body limits: 413 decided from Content-Length before the body is read, and as soon as a
//! chunked body crosses the limit.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, json, problem};

#[tokio::test]
async fn a_declared_length_over_the_limit_is_a_413_before_any_body_is_sent() {
    let app = TestApp::spawn().await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    // Declares 10 GiB and sends no body at all: the answer cannot depend on reading it.
    let head = "POST /v1/datasets?label=y HTTP/1.1\r\nhost: localhost\r\n\
                content-type: text/csv\r\ncontent-length: 10737418240\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("536870912"), "the limit is named: {text}");
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_once_it_crosses_the_limit() {
    let app = TestApp::spawn_with(|s| s.limits.max_body_bytes = 64 * 1024).await;
    // An endless chunked body: only the limit can end this request.
    let chunk = Bytes::from("1,a\n".repeat(1024));
    let mut sent = 0usize;
    let stream = futures_util::stream::iter(std::iter::from_fn(move || {
        sent += 1;
        (sent < 100_000).then(|| Ok::<_, std::io::Error>(chunk.clone()))
    }));
    let body = reqwest::Body::wrap_stream(futures_util::stream::StreamExt::chain(
        futures_util::stream::once(async { Ok(Bytes::from("x,y\n")) }),
        stream,
    ));
    let res = tokio::time::timeout(
        Duration::from_secs(20),
        app.post("/v1/datasets?label=y")
            .header("content-type", "text/csv")
            .body(body)
            .send(),
    )
    .await
    .expect("answered while the body was still coming");
    match res {
        Ok(res) => {
            let body = problem(res, 413).await;
            assert!(body["detail"].as_str().unwrap().contains("65536"), "{body}");
        }
        // The server may close the connection before the client finishes sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // Nothing was stored.
    let list = app.get_json("/v1/datasets").await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_accepted() {
    let app = TestApp::spawn_with(|s| s.limits.max_body_bytes = 1024).await;
    let mut csv = String::from("x,y\n");
    while csv.len() < 1000 {
        csv.push_str("1,a\n2,b\n");
    }
    json(app.upload_csv("label=y", csv.clone()).await, 201).await;
    csv.push_str(&"3,c\n".repeat(10));
    problem(app.upload_csv("label=y", csv).await, 413).await;
}
