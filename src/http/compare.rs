//! `GET /v1/compare?jobs=a,b,c`: jobs side by side (see `jobs::compare`).

use axum::Json;
use axum::extract::State;
use axum::routing::get;

use super::extract::QueryParams;
use super::jobs::job_or_404;
use super::state::{AppState, Route};
use crate::error::{ApiError, FieldError};
use crate::jobs::compare::{self, Comparison, MAX_COMPARED};

pub fn routes() -> Vec<Route> {
    vec![("/v1/compare", get(compare))]
}

/// 2 to `MAX_COMPARED` job ids, comma-separated (a job given twice is shown twice).
fn job_ids(query: &mut QueryParams) -> Result<Vec<String>, ApiError> {
    let text = query.take("jobs").unwrap_or_default();
    let ids: Vec<String> = text.split(',').map(str::to_owned).collect();
    if !(2..=MAX_COMPARED).contains(&ids.len()) || ids.iter().any(String::is_empty) {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            "jobs",
            format!("2 to {MAX_COMPARED} job ids, comma-separated"),
        )]));
    }
    Ok(ids)
}

async fn compare(
    State(state): State<AppState>,
    mut query: QueryParams,
) -> Result<Json<Comparison>, ApiError> {
    let ids = job_ids(&mut query)?;
    let unknown = query.unknown(&["jobs"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let mut jobs = Vec::with_capacity(ids.len());
    for id in &ids {
        jobs.push(job_or_404(&state, id).await?);
    }
    Ok(Json(compare::compare(&state.pool, jobs).await?))
}
