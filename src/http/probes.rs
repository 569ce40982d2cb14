//! What a worker process serves on its optional `--addr`: `/healthz`, `/readyz` and
//! `/metrics`, nothing else. No API and no auth: the answers hold no user data, and load
//! balancers and Prometheus carry no token.

use crate::Db;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Probes {
    pool: Db,
    metrics: PrometheusHandle,
}

/// The probe routes over `pool`.
pub fn router(pool: Db, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(render))
        .with_state(Probes { pool, metrics })
}

/// Serves the probes on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the probe server stopped");
    }
}

async fn readyz(State(p): State<Probes>) -> impl IntoResponse {
    match crate::health::not_ready(&p.pool).await {
        None => (StatusCode::OK, axum::Json(json!({"status": "ready"}))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unavailable", "detail": reason})),
        ),
    }
}

async fn render(State(p): State<Probes>) -> impl IntoResponse {
    super::metrics::refresh_queue_gauges(&p.pool).await;
    super::metrics::text(&p.metrics)
}
