//! Service routes and the problem+json shape of routing errors.

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = TestApp::spawn().await;
    let body = app.get_json("/healthz").await;
    assert_eq!(body["status"], "ok");
    app.get_json("/readyz").await;
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_not_migrated() {
    let app = TestApp::spawn().await;
    let pool = app.database().await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&pool)
        .await
        .unwrap();
    problem(app.get("/readyz").send().await.unwrap(), 503).await;
}

#[tokio::test]
async fn limits_reports_the_limits_in_force() {
    let app = TestApp::spawn_with(|s| s.limits.max_rows = 1234).await;
    let body = app.get_json("/v1/limits").await;
    assert_eq!(body["max_rows"], 1234);
    assert_eq!(body["max_body_bytes"], 512 * 1024 * 1024);
    for key in [
        "max_json_body_bytes",
        "max_columns",
        "max_cells",
        "max_classes",
        "max_sequence_steps",
        "max_categories",
        "max_layer_width",
        "max_hidden_layers",
        "max_epochs",
        "max_folds",
        "max_concurrent_runs",
        "max_job_memory_bytes",
        "max_encoded_width",
        "max_predict_rows",
        "max_event_streams",
        "max_checkpoint_bytes",
        "max_attempts",
    ] {
        assert!(body[key].is_u64(), "{key} missing from {body}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.get("/healthz").send().await.unwrap();
    app.get("/v1/datasets/ds_missing").send().await.unwrap();
    let res = app.get("/metrics").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/v1/datasets/{id}",status="404"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_problem_json() {
    let app = TestApp::spawn().await;
    problem(app.get("/v1/nothing-here").send().await.unwrap(), 404).await;
    let res = app
        .client
        .put(format!("{}/v1/datasets", app.address))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("allow"));
    problem(res, 405).await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").send().await.unwrap();
    assert!(!res.headers()["x-request-id"].is_empty());
    let res = app
        .get("/healthz")
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me");
}
