//! `/v1/jobs`: submit (with `dry_run`), list, show, cancel, and the results: runs and metrics.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::datasets::{Page, idempotency_key};
use super::extract::{JsonBody, QueryParams, page_params};
use super::runs::RunView;
use super::state::{AppState, Route};
use crate::domain::job::{JobSpec, JobStatus};
use crate::error::{ApiError, FieldError};
use crate::jobs::views::{self, Cancel, JobView};
use crate::jobs::{
    self,
    submit::{Submission, SubmitError, Submitted},
};

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/jobs", get(list).post(create)),
        ("/v1/jobs/{id}", get(show)),
        ("/v1/jobs/{id}/cancel", post(cancel)),
        ("/v1/jobs/{id}/runs", get(runs)),
    ]
}

/// `POST /v1/jobs`: validates everything, then queues the job with one run per fold and
/// repeat (and the final model). `?dry_run=true` returns the resolved spec and the work.
async fn create(
    State(state): State<AppState>,
    mut query: QueryParams,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let dry_run = query.take_bool("dry_run")?;
    let unknown = query.unknown(&["dry_run"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let key = idempotency_key(&headers)?;
    let spec = JobSpec::from_json(body).map_err(SubmitError::Invalid)?;
    let submission = Submission {
        spec,
        key,
        dry_run,
        remedy_of: None,
    };
    submitted(&state, submission).await
}

/// Submits, answering 202 with the job (200 with the resolved spec and the work for a dry run).
pub(super) async fn submitted(
    state: &AppState,
    submission: Submission,
) -> Result<Response, ApiError> {
    match jobs::submit::submit(&state.pool, &state.limits, submission).await? {
        Submitted::DryRun { spec, estimate } => Ok((
            StatusCode::OK,
            Json(json!({"spec": spec, "estimate": estimate})),
        )
            .into_response()),
        Submitted::Created { id } => {
            let view = job_or_404(state, &id).await?;
            let mut res = (StatusCode::ACCEPTED, Json(view)).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{id}")) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            Ok(res)
        }
    }
}

/// The job, or a 404 naming it.
pub(super) async fn job_or_404(state: &AppState, id: &str) -> Result<JobView, ApiError> {
    views::job(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
}

async fn list(
    State(state): State<AppState>,
    mut query: QueryParams,
) -> Result<Json<Page<JobView>>, ApiError> {
    let mut errors = Vec::new();
    let (limit, cursor) = page_params(&mut query, &mut errors);
    let status = query.take("status").and_then(|s| {
        let parsed = JobStatus::parse(&s);
        if parsed.is_none() {
            errors.push(FieldError::new(
                "status",
                "queued, running, cancelling, succeeded, failed or cancelled",
            ));
        }
        parsed
    });
    errors.extend(query.unknown(&["limit", "cursor", "status"]));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let (items, next) = views::jobs(&state.pool, status, limit, cursor).await?;
    Ok(Json(Page {
        items,
        next_cursor: next.map(|n| n.to_string()),
    }))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    job_or_404(&state, &id).await.map(Json)
}

/// `POST /v1/jobs/{id}/cancel`: 202; queued work stops at once, running work within an epoch.
async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match views::cancel(&state.pool, &id).await? {
        Cancel::NotFound => Err(ApiError::NotFound(format!("no job {id}"))),
        Cancel::AlreadyFinished(s) => Err(ApiError::Conflict(format!(
            "job {id} already ended ({})",
            s.as_str()
        ))),
        Cancel::Cancelled | Cancel::Cancelling => {
            let view = job_or_404(&state, &id).await?;
            Ok((StatusCode::ACCEPTED, Json(view)).into_response())
        }
    }
}

/// `GET /v1/jobs/{id}/runs`: the job's runs in creation order, paginated like every list.
async fn runs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let (limit, cursor) = page_params(&mut query, &mut errors);
    errors.extend(query.unknown(&["limit", "cursor"]));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    job_or_404(&state, &id).await?;
    let (runs, next) = views::runs_page(&state.pool, &id, cursor.unwrap_or(0), limit).await?;
    Ok(Json(Page {
        items: runs.iter().map(RunView::of).collect(),
        next_cursor: next.map(|n| n.to_string()),
    })
    .into_response())
}
