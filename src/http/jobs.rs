//! `/v1/jobs`: submit (with `dry_run`), list (filtered, sorted), show, rename and tag, cancel,
//! and the results: runs and metrics.

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
use crate::domain::job_filter::{Clause, Field, JobFilter, JobOrder, JobQuery, Op, Value};
use crate::domain::job_meta::{JobMeta, MetaPatch};
use crate::error::{ApiError, FieldError};
use crate::jobs::views::{self, Cancel, JobView};
use crate::jobs::{
    self,
    submit::{Submission, SubmitError, Submitted},
};

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/jobs", get(list).post(create)),
        ("/v1/jobs/{id}", get(show).patch(update)),
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
    JsonBody(mut body): JsonBody,
) -> Result<Response, ApiError> {
    let dry_run = query.take_bool("dry_run")?;
    let unknown = query.unknown(&["dry_run"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let key = idempotency_key(&headers)?;
    let meta = JobMeta::take_from(&mut body);
    let spec = JobSpec::from_json(body);
    let (meta, spec) = match (meta, spec) {
        (Ok(meta), Ok(spec)) => (meta, spec),
        (meta, spec) => {
            // Every field error at once: the spec's own rules too, when it reads.
            let mut errors = meta.err().unwrap_or_default();
            errors.extend(match spec {
                Ok(spec) => spec.validate(&state.limits),
                Err(e) => e,
            });
            return Err(SubmitError::Invalid(errors).into());
        }
    };
    let submission = Submission {
        spec,
        meta,
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

/// `GET /v1/jobs`: a page of jobs, filtered and sorted.
async fn list(
    State(state): State<AppState>,
    query: QueryParams,
) -> Result<Json<Page<JobView>>, ApiError> {
    let (query, limit, cursor) = list_query(query, true)?;
    let (items, next) = views::jobs(&state.pool, &query, limit, cursor).await?;
    Ok(Json(Page {
        items,
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// The jobs list's parameters: `filter`, `order_by`, `status`, `limit` and `cursor` (a 422
/// naming each bad one, or any other parameter); `cursor` only when `paged`.
pub(super) fn list_query(
    mut query: QueryParams,
    paged: bool,
) -> Result<(JobQuery, u32, Option<i64>), ApiError> {
    let mut errors = Vec::new();
    if !paged && query.take("cursor").is_some() {
        errors.push(FieldError::new(
            "cursor",
            "not taken here: the stream follows the first page",
        ));
    }
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
    let mut filter = read_param(&mut query, "filter", JobFilter::parse, &mut errors);
    let order = read_param(&mut query, "order_by", JobOrder::parse, &mut errors);
    errors.extend(query.unknown(&["limit", "cursor", "status", "filter", "order_by"]));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    if let Some(status) = status {
        filter.0.push(Clause {
            field: Field::Status,
            op: Op::Eq,
            value: Value::Text(status.as_str().to_string()),
        });
    }
    Ok((JobQuery { filter, order }, limit, cursor))
}

/// Query parameter `name` read by `parse` (its default when absent); a problem is noted in
/// `errors` under the parameter's name.
fn read_param<T: Default, E: std::fmt::Display>(
    query: &mut QueryParams,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    errors: &mut Vec<FieldError>,
) -> T {
    match query.take(name).map(|v| parse(&v)) {
        None => T::default(),
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            errors.push(FieldError::new(name, e.to_string()));
            T::default()
        }
    }
}

/// `PATCH /v1/jobs/{id}`: changes the job's `name`, `description` or `tags` (any other field
/// is a 422: what a job trains never changes).
async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<JobView>, ApiError> {
    let patch = MetaPatch::from_json(body).map_err(SubmitError::Invalid)?;
    views::update_meta(&state.pool, &id, patch)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
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
