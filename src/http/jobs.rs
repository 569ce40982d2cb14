//! `/v1/jobs`: submit (with `dry_run`), list, show, cancel, and the results: runs and metrics.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::datasets::{Page, idempotency_key};
use super::extract::{JsonBody, QueryParams, page_params};
use super::job_inputs;
use super::runs::RunView;
use super::state::{AppState, Route};
use crate::domain::job::{InitSpec, JobSpec, JobStatus};

use crate::domain::spec::SpecError;
use crate::error::{ApiError, FieldError};
use crate::queue::plan;
use crate::store::{self, jobs::Cancel, jobs::Created};

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/jobs", get(list).post(create)),
        ("/v1/jobs/{id}", get(show)),
        ("/v1/jobs/{id}/cancel", post(cancel)),
        ("/v1/jobs/{id}/runs", get(runs)),
    ]
}

fn spec_errors(errors: Vec<SpecError>) -> ApiError {
    ApiError::invalid_fields(
        errors
            .into_iter()
            .map(|e| FieldError::new(e.field, e.message))
            .collect(),
    )
}

/// `POST /v1/jobs`: validates everything, then queues the job with one run per fold and
/// repeat (and the final model). `?dry_run=true` returns the resolved spec and the work.
async fn create(
    State(state): State<AppState>,
    mut query: QueryParams,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let dry_run = match query.take("dry_run").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid_field("dry_run", "true or false")),
    };
    let unknown = query.unknown(&["dry_run"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let key = idempotency_key(&headers)?;
    let spec = JobSpec::from_json(body).map_err(spec_errors)?;
    submit(&state, spec, key, dry_run, None).await
}

/// Plans, checks and stores a parsed job spec (a 422 naming every bad field), answering 202
/// with the job; `dry_run` answers the resolved spec and the work instead. `remedy_of`: the
/// job and findings a remedy job comes from.
pub(super) async fn submit(
    state: &AppState,
    spec: JobSpec,
    key: Option<String>,
    dry_run: bool,
    remedy_of: Option<(String, Vec<crate::domain::finding::AppliedRemedy>)>,
) -> Result<Response, ApiError> {
    let mut errors = spec.validate(&state.limits);
    let Some(ds) = store::datasets::get_dataset(&state.pool, &spec.dataset_id).await? else {
        let missing = SpecError::new("dataset_id", format!("no dataset {}", spec.dataset_id));
        errors.insert(0, missing);
        return Err(spec_errors(errors));
    };
    // Another label: the dataset as the job sees it, and its rows' classes.
    let (ds, relabeled) = match job_inputs::relabel(state, &spec, ds).await? {
        Ok(found) => found,
        Err(e) => {
            errors.push(e);
            return Err(spec_errors(errors));
        }
    };
    errors.extend(plan::check(&spec, &ds, &state.limits));
    let (others, other_errors) = job_inputs::other_datasets(state, &spec, &ds).await?;
    errors.extend(other_errors);
    let mut spec = spec;
    if errors.is_empty()
        && let Some(init) = spec.init.clone()
    {
        match job_inputs::resolve_init(state, &spec, &ds, &init).await? {
            Ok(run) => spec.init = Some(InitSpec { run, ..init }),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(spec_errors(errors));
    }
    let accepted =
        plan::accept(spec, &ds, &others, &state.limits).map_err(|e| spec_errors(vec![e]))?;
    // A dry run plans the folds too, so a column that cannot make them is its 422 as well.
    let dry =
        dry_run.then(|| json!({"spec": accepted.spec, "estimate": plan::estimate(&accepted, &ds)}));
    let (labels, n_classes) = job_inputs::labels(state, &ds, relabeled).await?;
    let classes: Vec<String> = ds.classes.iter().map(|c| c.value.clone()).collect();
    if classes.len() != n_classes {
        return Err(anyhow::anyhow!(
            "dataset {} lists {} classes for {n_classes}",
            ds.id,
            classes.len()
        )
        .into());
    }
    let max_attempts = u32::try_from(state.limits.max_attempts).unwrap_or(u32::MAX);
    let columns = job_inputs::FoldColumns::load(state, &accepted.spec, &ds).await?;
    let mut job = plan::job(accepted, (&labels, classes), max_attempts, columns.source())
        .map_err(|e| spec_errors(vec![e]))?;
    if let Some(dry) = dry {
        return Ok((StatusCode::OK, Json(dry)).into_response());
    }
    job.remedy_of = remedy_of;
    // A remedy job's request is its spec and what it remedies.
    let identity = match &job.remedy_of {
        None => serde_json::to_string(&job.spec),
        Some(of) => serde_json::to_string(&(&job.spec, of)),
    };
    let hash = hex::encode(Sha256::digest(identity.map_err(anyhow::Error::from)?));
    let id = match store::jobs::insert_job(
        &state.pool,
        &job,
        key.as_deref().map(|k| (k, hash.as_str())),
    )
    .await
    .map_err(crate::error::write_failed)?
    {
        Created::Created => job.id,
        Created::KeyUsed(used) if used.request_hash == hash => used.resource_id,
        Created::KeyUsed(_) => {
            return Err(ApiError::Conflict(
                "this Idempotency-Key was already used with a different request".into(),
            ));
        }
        Created::DatasetGone(field) => {
            return Err(ApiError::invalid_field(
                field,
                "no such dataset (it was just deleted)",
            ));
        }
    };
    let view = job_or_404(state, &id).await?;
    let mut res = (StatusCode::ACCEPTED, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{id}")) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// The job, or a 404 naming it.
pub(super) async fn job_or_404(
    state: &AppState,
    id: &str,
) -> Result<store::jobs::JobView, ApiError> {
    store::jobs::get_job(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
}

async fn list(
    State(state): State<AppState>,
    mut query: QueryParams,
) -> Result<Json<Page<store::jobs::JobView>>, ApiError> {
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
    let (items, next) = store::jobs::list_jobs(&state.pool, status, limit, cursor).await?;
    Ok(Json(Page {
        items,
        next_cursor: next.map(|n| n.to_string()),
    }))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<store::jobs::JobView>, ApiError> {
    job_or_404(&state, &id).await.map(Json)
}

/// `POST /v1/jobs/{id}/cancel`: 202; queued work stops at once, running work within an epoch.
async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match store::jobs::cancel_job(&state.pool, &id).await? {
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
    let (runs, next) = store::run_data::runs_page(
        &state.pool,
        &id,
        store::run_data::Detail::Full,
        cursor.unwrap_or(0),
        limit,
    )
    .await?;
    Ok(Json(Page {
        items: runs.iter().map(RunView::of).collect(),
        next_cursor: next.map(|n| n.to_string()),
    })
    .into_response())
}
