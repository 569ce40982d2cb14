//! `GET /v1/jobs/{id}/metrics`: per fold, the summary across folds, the pooled out-of-fold
//! score, the test set, a comparison's leaderboard (`jobs::metrics`) and a nested job's outer
//! folds (`jobs::nested`).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::state::{AppState, Route};
use crate::error::ApiError;
use crate::jobs;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/metrics", get(show))]
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let mut metrics = jobs::metrics::metrics(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
    metrics.nested = jobs::nested::report(&state.pool, &id).await?;
    Ok(Json(metrics).into_response())
}
