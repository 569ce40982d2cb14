//! The HTTP API: one file per resource, each with its own `routes()`, assembled here with the
//! cross-cutting layers (auth, metrics, request ids, tracing) and the problem+json fallbacks.

pub mod auth;
pub mod compute;
pub mod curves;
pub mod datasets;
pub mod events;
pub mod extract;
pub mod job_metrics;
pub mod jobs;
pub mod metrics;
pub mod predict;
pub mod predictions;
pub mod problems;
pub mod runs;
pub mod serve;
pub mod service;
pub mod upload;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, header};
use axum::middleware;
use axum::routing::MethodRouter;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::SqlitePool;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::config::Limits;
use crate::error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub limits: Arc<Limits>,
    pub tokens: Arc<auth::Tokens>,
    pub metrics: PrometheusHandle,
    /// Where predict scores rows (bounded, off the async runtime).
    pub predict_pool: compute::ComputePool,
    /// The pollers behind `/events` streams, one per watched job.
    pub events: Arc<events::Hub>,
}

/// A route: its path pattern and what each method does there.
pub type Route = (&'static str, MethodRouter<AppState>);

/// Routes open without a token.
fn open_routes() -> Vec<Route> {
    service::open_routes()
}

/// Routes behind the token check (when tokens are configured).
fn protected_routes() -> Vec<Route> {
    let mut routes = service::protected_routes();
    routes.extend(datasets::routes());
    routes.extend(jobs::routes());
    routes.extend(events::routes());
    routes.extend(curves::routes());
    routes.extend(runs::routes());
    routes.extend(predict::routes());
    routes.extend(predictions::routes());
    routes
}

/// Every path the router serves, for the OpenAPI consistency test.
pub fn paths() -> Vec<&'static str> {
    open_routes()
        .into_iter()
        .chain(protected_routes())
        .map(|(p, _)| p)
        .collect()
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let routes = open_routes()
        .into_iter()
        .chain(protected_routes())
        .fold(Router::new(), |r, (path, m)| r.route(path, m))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    let json_limit = usize::try_from(state.limits.max_json_body_bytes).unwrap_or(usize::MAX);
    routes
        .route_layer(middleware::from_fn(metrics::remember_route))
        .layer(DefaultBodyLimit::max(json_limit))
        // Before routing: with tokens set, an unknown path or method is a 401 too.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn(metrics::track_requests))
        .layer(middleware::from_fn(problems::problem_json))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION]))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
        .with_state(state)
}

/// A failed write as the client sees it: a full disk or an I/O error is a 503 (nothing was
/// stored; try again later), anything else a 500.
pub fn write_failed(e: anyhow::Error) -> ApiError {
    match crate::store::health::classify(&e) {
        crate::store::health::Fault::Storage(reason) => ApiError::Unavailable(format!(
            "the database cannot be written ({reason}); nothing was stored"
        )),
        _ => ApiError::Internal(e),
    }
}

/// Paths open without a token (probes carry none).
pub fn is_open_path(path: &str) -> bool {
    service::OPEN_PATHS.contains(&path)
}
