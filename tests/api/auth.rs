//! Bearer tokens: every route but /healthz, /readyz and the dashboard's static files needs one when
//! tokens are configured.

use crate::helpers::{TestApp, json, problem};

async fn app_with_token() -> TestApp {
    TestApp::spawn_with(|s| s.api_tokens = vec!["s3cret".into(), "other".into()]).await
}

#[tokio::test]
async fn a_protected_route_needs_a_configured_token() {
    let app = app_with_token().await;
    let res = app.get("/v1/datasets").send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    problem(res, 401).await;
    let res = app
        .get("/v1/datasets")
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    let res = app
        .get("/v1/datasets")
        .header("authorization", "s3cret")
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    json(
        app.get("/v1/datasets")
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    json(
        app.get("/v1/datasets")
            .bearer_auth("other")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
}

#[tokio::test]
async fn uploads_limits_and_metrics_are_protected_too() {
    let app = app_with_token().await;
    problem(app.upload_csv("label=y", "x,y\n1,a\n2,b\n").await, 401).await;
    problem(app.get("/v1/limits").send().await.unwrap(), 401).await;
    problem(app.get("/metrics").send().await.unwrap(), 401).await;
    let res = app
        .get("/metrics")
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn health_and_readiness_stay_open() {
    let app = app_with_token().await;
    app.get_json("/healthz").await;
    app.get_json("/readyz").await;
}

/// The dashboard's files are open, and are the same bytes with or without a token: they hold
/// no data (the page asks for the token and sends it with each API call), as docs/api.md says.
#[tokio::test]
async fn the_dashboards_static_files_stay_open_and_hold_no_data() {
    let app = app_with_token().await;
    for path in ["/", "/ui/app.js", "/ui/app.css"] {
        let open = app.get(path).send().await.unwrap();
        assert_eq!(open.status(), 200, "{path}");
        let open = open.bytes().await.unwrap();
        let with = app.get(path).bearer_auth("s3cret").send().await.unwrap();
        assert_eq!(with.bytes().await.unwrap(), open, "{path}");
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    assert!(
        readme.contains("dashboard's three files") && readme.contains("hold no data"),
        "docs/api.md says why the dashboard's files are open"
    );
}
