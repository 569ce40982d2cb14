//! Service routes: liveness, readiness, the limits in force and the Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::state::{AppState, Route};
use crate::config::Limits;
use crate::error::ApiError;

/// Open even when tokens are configured (probes carry none).
pub fn open_routes() -> Vec<Route> {
    let mut routes = vec![(OPEN_PATHS[0], get(healthz)), (OPEN_PATHS[1], get(readyz))];
    routes.extend(super::web_ui::routes());
    routes
}

/// The paths of `open_routes`, for the auth check that runs before routing.
pub const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

pub fn protected_routes() -> Vec<Route> {
    vec![
        ("/v1/limits", get(limits)),
        ("/metrics", get(super::metrics::render)),
    ]
}

/// 200 while the process runs.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database answers, is migrated and its last write did not fail for lack of
/// space or an I/O error; else 503 with the reason.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match crate::health::not_ready(&state.pool).await {
        None => Ok(Json(json!({"status": "ready"}))),
        Some(reason) => Err(ApiError::Unavailable(reason)),
    }
}

async fn limits(State(state): State<AppState>) -> Json<Limits> {
    Json((*state.limits).clone())
}

/// Paths open without a token (probes carry none).
pub fn is_open_path(path: &str) -> bool {
    OPEN_PATHS.contains(&path) || super::web_ui::UI_PATHS.contains(&path)
}
