//! `/v1/jobs`: submit (with `dry_run`), list, show, cancel, and the results: runs and metrics.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::datasets::{Page, idempotency_key};
use super::extract::{JsonBody, QueryParams, page_params};
use super::{AppState, Route};
use crate::domain::dataset::{ColumnRole, ColumnType, DatasetSummary};
use crate::domain::ids;
use crate::domain::job::{ClassWeights, JobSpec, JobStatus, Strategy};
use crate::engine::memory::{self, MemoryEstimate, MemoryInputs};
use crate::engine::{cv, folds};
use crate::error::{ApiError, FieldError};
use crate::store::{self, jobs::Cancel, jobs::Created, jobs::NewJob, jobs::NewRun};

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/jobs", get(list).post(create)),
        ("/v1/jobs/{id}", get(show)),
        ("/v1/jobs/{id}/cancel", post(cancel)),
        ("/v1/jobs/{id}/runs", get(runs)),
        ("/v1/jobs/{id}/metrics", get(super::job_metrics::show)),
    ]
}

fn spec_errors(errors: Vec<crate::domain::spec::SpecError>) -> ApiError {
    ApiError::invalid_fields(
        errors
            .into_iter()
            .map(|e| FieldError::new(e.field, e.message))
            .collect(),
    )
}

/// The dataset's class counts outside the test set, times `share` (a fold's training part).
fn scaled_counts(spec: &JobSpec, ds: &DatasetSummary, share: f64) -> Vec<u64> {
    let outside_test = 1.0 - spec.validation.test_fraction;
    ds.classes
        .iter()
        .map(|c| (c.count as f64 * outside_test * share).round() as u64)
        .collect()
}

/// The work a job will do, at most (no early stopping): runs, epochs (ensembles train
/// `n_subsets` models per run), and the rows each model trains on per epoch after resampling,
/// from the dataset's class counts scaled to a fold's training part.
fn estimate(spec: &JobSpec, ds: &DatasetSummary, strategies: &[Strategy], runs: usize) -> Value {
    let im = &spec.imbalance;
    let folds = spec.validation.folds;
    let fold_counts = scaled_counts(spec, ds, (folds - 1) as f64 / folds as f64);
    let all_counts = scaled_counts(spec, ds, 1.0);
    let per_strategy: Vec<Value> = strategies
        .iter()
        .map(|&s| {
            json!({
                "strategy": s.as_str(),
                "runs": folds * spec.validation.repeats,
                "models_per_run": im.members(s),
                "samples_per_epoch": cv::trained_rows(s, im, &fold_counts),
            })
        })
        .collect();
    let fold_epochs: u64 = strategies
        .iter()
        .map(|&s| im.members(s) * folds * spec.validation.repeats * spec.training.epochs)
        .sum();
    let final_epochs = u64::from(spec.final_model) * im.max_members() * spec.training.epochs;
    let first = strategies[0];
    json!({
        "runs": runs,
        "epochs_per_run": spec.training.epochs * im.members(first),
        "epochs": fold_epochs + final_epochs,
        "samples_per_epoch": cv::trained_rows(first, im, &fold_counts),
        "samples_per_epoch_final": cv::trained_rows(first, im, &all_counts),
        "strategies": per_strategy,
    })
}

/// The model's inputs after one-hot encoding, at most (a fold may see fewer categories).
fn encoded_width(ds: &DatasetSummary) -> u64 {
    ds.columns
        .iter()
        .filter(|c| c.role == ColumnRole::Feature)
        .map(|c| match c.column_type {
            ColumnType::Numeric => 1,
            ColumnType::Categorical => c.cardinality.unwrap_or(1),
        })
        .sum()
}

/// The memory the job needs at its peak, from its spec and the dataset's shape.
fn memory(
    spec: &JobSpec,
    ds: &DatasetSummary,
    strategies: &[Strategy],
    runs: usize,
    limits: &crate::config::Limits,
) -> MemoryEstimate {
    let im = &spec.imbalance;
    let folds = spec.validation.folds as f64;
    let all = scaled_counts(spec, ds, 1.0);
    let train_rows = strategies
        .iter()
        .map(|&s| cv::trained_rows(s, im, &all))
        .max()
        .unwrap_or(ds.rows);
    let holdout_rows = ((ds.rows as f64) / folds)
        .max(ds.rows as f64 * spec.validation.test_fraction)
        .ceil() as u64;
    let training = spec.training_spec();
    memory::estimate(&MemoryInputs {
        spec: &training,
        inputs: encoded_width(ds),
        classes: ds.classes.len() as u64,
        dataset_rows: ds.rows,
        dataset_columns: ds.columns.len() as u64,
        train_rows,
        holdout_rows,
        members: im.max_members(),
        reconstruct: strategies.contains(&Strategy::OneClass),
        concurrent_runs: limits.max_concurrent_runs.min(runs as u64),
    })
}

/// A 422 when a run's checkpoint would be more than the database stores.
fn check_checkpoint(estimate: &MemoryEstimate, max_checkpoint: u64) -> Result<(), ApiError> {
    if estimate.checkpoint_bytes > max_checkpoint {
        return Err(ApiError::invalid_field(
            "model.hidden_layers",
            format!(
                "a checkpoint of this model would be about {} MiB, more than \
                 max_checkpoint_bytes ({} MiB)",
                estimate.checkpoint_bytes >> 20,
                max_checkpoint >> 20
            ),
        ));
    }
    Ok(())
}

/// A 422 when the job needs more memory than `max_job_memory_bytes`, naming the field behind
/// the biggest term (or when its checkpoint would be too large to store).
fn check_memory(
    estimate: &MemoryEstimate,
    limit: u64,
    max_checkpoint: u64,
) -> Result<(), ApiError> {
    if estimate.bytes <= limit {
        return check_checkpoint(estimate, max_checkpoint);
    }
    let biggest = estimate.biggest();
    let field = match biggest.name {
        n if n.starts_with("model") => "model.hidden_layers",
        n if n.starts_with("ensemble") => "imbalance.n_subsets",
        n if n.starts_with("batch") => "training.batch_size",
        _ => "dataset_id",
    };
    Err(ApiError::invalid_field(
        field,
        format!(
            "the job would need about {} MiB ({} concurrent runs × {} MiB), more than \
             max_job_memory_bytes ({} MiB); the biggest part is {}: {} MiB per run",
            estimate.bytes >> 20,
            estimate.concurrent_runs,
            estimate.per_run_bytes >> 20,
            limit >> 20,
            biggest.name,
            biggest.bytes >> 20
        ),
    ))
}

/// Checks the spec against its dataset: label, features, folds against the smallest class,
/// the one-hot width of categorical features.
fn check_against_dataset(
    spec: &JobSpec,
    ds: &DatasetSummary,
    max_categories: u64,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(label) = &spec.label
        && *label != ds.label
    {
        errors.push(FieldError::new(
            "label",
            format!(
                "this version trains on the label the dataset was uploaded with ({:?})",
                ds.label
            ),
        ));
    }
    if let Some(features) = &spec.features {
        errors.push(FieldError::new(
            "features",
            format!(
                "choosing features is not offered yet; use null (all {} features)",
                features.len().max(ds.feature_count as usize)
            ),
        ));
    }
    if ds.feature_count == 0 {
        errors.push(FieldError::new(
            "features",
            format!("dataset {} has no feature columns, only its label", ds.id),
        ));
    }
    if spec.imbalance.strategy.list().contains(&Strategy::OneClass) && ds.classes.len() != 2 {
        errors.push(FieldError::new(
            "imbalance.strategy",
            format!(
                "one_class needs exactly two classes; dataset {} has {}",
                ds.id,
                ds.classes.len()
            ),
        ));
    }
    if spec.imbalance.rank_by == "pr_auc" && ds.classes.len() != 2 {
        errors.push(FieldError::new(
            "imbalance.rank_by",
            "pr_auc (average precision) is defined for two classes; use roc_auc (one-vs-rest)",
        ));
    }
    if let ClassWeights::Map(m) = &spec.imbalance.class_weights {
        for class in m.keys() {
            if !ds.classes.iter().any(|c| c.value == *class) {
                errors.push(FieldError::new(
                    format!("imbalance.class_weights.{class}"),
                    format!("not a class of dataset {}", ds.id),
                ));
            }
        }
    }
    let counts: Vec<u64> = ds.classes.iter().map(|c| c.count).collect();
    if let Err(e) = folds::check(&counts, spec.validation.folds as usize) {
        errors.push(FieldError::new("validation.folds", e.0));
    }
    for c in &ds.columns {
        if c.role == ColumnRole::Feature
            && c.column_type == ColumnType::Categorical
            && c.cardinality.unwrap_or(0) > max_categories
        {
            errors.push(FieldError::new(
                "features",
                format!(
                    "column {:?} has {} categories, more than max_categories ({max_categories})",
                    c.name,
                    c.cardinality.unwrap_or(0)
                ),
            ));
        }
    }
    errors
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
    let mut spec = JobSpec::from_json(body).map_err(spec_errors)?;
    let errors: Vec<FieldError> = spec
        .validate(&state.limits)
        .into_iter()
        .map(|e| FieldError::new(e.field, e.message))
        .collect();
    let Some(ds) = store::datasets::get_dataset(&state.pool, &spec.dataset_id).await? else {
        let mut errors = errors;
        errors.insert(
            0,
            FieldError::new("dataset_id", format!("no dataset {}", spec.dataset_id)),
        );
        return Err(ApiError::invalid_fields(errors));
    };
    let mut errors = errors;
    errors.extend(check_against_dataset(
        &spec,
        &ds,
        state.limits.max_categories,
    ));
    let width = encoded_width(&ds);
    if width > state.limits.max_encoded_width {
        errors.push(FieldError::new(
            "features",
            format!(
                "dataset {} encodes to {width} model inputs (numeric columns plus one per \
                 category), more than max_encoded_width ({})",
                ds.id, state.limits.max_encoded_width
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    spec.label = Some(ds.label.clone());
    // The test set is scored with the final model.
    spec.final_model |= spec.validation.test_fraction > 0.0;
    let resolved = serde_json::to_value(&spec).map_err(anyhow::Error::from)?;
    let folds_n = spec.validation.folds as usize;
    let repeats = spec.validation.repeats as usize;
    let strategies = spec.imbalance.strategy.list();
    let comparison = spec.imbalance.strategy.is_comparison();
    let runs_total = strategies.len() * folds_n * repeats + usize::from(spec.final_model);
    let needs = memory(&spec, &ds, &strategies, runs_total, &state.limits);
    check_memory(
        &needs,
        state.limits.max_job_memory_bytes,
        state.limits.max_checkpoint_bytes,
    )?;
    if dry_run {
        let mut estimate = estimate(&spec, &ds, &strategies, runs_total);
        estimate["memory_bytes"] = json!(needs.bytes);
        estimate["memory"] = json!(needs);
        return Ok((
            StatusCode::OK,
            Json(json!({"spec": resolved, "estimate": estimate})),
        )
            .into_response());
    }
    // The fold assignment is derived from the seed once and recorded with the job.
    let (labels, n_classes) = store::datasets::load_labels(&state.pool, &ds.id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dataset {}", ds.id)))?;
    // The test set is drawn once, before the folds, and is the same for every repeat.
    let mut in_test = vec![false; labels.len()];
    if spec.validation.test_fraction > 0.0 {
        let seed = cv::derive_seed(spec.seed, u64::MAX, u64::MAX);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        let fraction = spec.validation.test_fraction;
        let (_, test) =
            crate::engine::batch::stratified_split(&labels, n_classes, fraction, &mut rng);
        for i in test {
            in_test[i] = true;
        }
        let mut rest_counts = vec![0u64; n_classes];
        for (i, &y) in labels.iter().enumerate() {
            if !in_test[i] {
                rest_counts[y as usize] += 1;
            }
        }
        if let Err(e) = folds::check(&rest_counts, folds_n) {
            let message = format!("{} (after holding out the test set)", e.0);
            return Err(ApiError::invalid_field("validation.folds", message));
        }
    }
    let assignments: Vec<Vec<u32>> = (0..repeats)
        .map(|r| {
            let seed = cv::derive_seed(spec.seed, r as u64, u64::MAX);
            folds::assign_outside_test(&labels, &in_test, n_classes, folds_n, seed)
        })
        .collect();
    let max_attempts = u32::try_from(state.limits.max_attempts).unwrap_or(u32::MAX);
    // Every strategy trains on the same recorded folds, from the same seeds.
    let mut runs = Vec::new();
    for strategy in &strategies {
        for r in 0..repeats {
            for f in 0..folds_n {
                runs.push(NewRun {
                    id: ids::new_id("run"),
                    kind: "fold",
                    fold: Some(f as u32),
                    repeat: Some(r as u32),
                    seed: cv::derive_seed(spec.seed, r as u64, f as u64),
                    max_attempts,
                    strategy: Some(strategy.as_str()),
                });
            }
        }
    }
    if spec.final_model {
        runs.push(NewRun {
            id: ids::new_id("run"),
            kind: "final",
            fold: None,
            repeat: None,
            seed: cv::derive_seed(spec.seed, u64::MAX, 0),
            max_attempts,
            // A comparison's final model trains the leaderboard's winner.
            strategy: (!comparison).then(|| strategies[0].as_str()),
        });
    }
    let job = NewJob {
        id: ids::new_id("job"),
        dataset_id: ds.id.clone(),
        spec: resolved.clone(),
        folds: assignments,
        runs,
        created_at: ids::now_rfc3339(),
    };
    let hash = hex::encode(Sha256::digest(resolved.to_string()));
    let id = match store::jobs::insert_job(
        &state.pool,
        &job,
        key.as_deref().map(|k| (k, hash.as_str())),
    )
    .await
    .map_err(super::write_failed)?
    {
        Created::Created => job.id,
        Created::KeyUsed(used) if used.request_hash == hash => used.resource_id,
        Created::KeyUsed(_) => {
            return Err(ApiError::Conflict(
                "this Idempotency-Key was already used with a different request".into(),
            ));
        }
        Created::DatasetGone => {
            return Err(ApiError::invalid_field(
                "dataset_id",
                format!("no dataset {} (it was just deleted)", job.dataset_id),
            ));
        }
    };
    let view = job_or_404(&state, &id).await?;
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
) -> Result<Json<Page<store::runs::RunView>>, ApiError> {
    let mut errors = Vec::new();
    let (limit, cursor) = page_params(&mut query, &mut errors);
    errors.extend(query.unknown(&["limit", "cursor"]));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    job_or_404(&state, &id).await?;
    let (runs, next) = store::runs::runs_page(
        &state.pool,
        &id,
        store::runs::Detail::Full,
        cursor.unwrap_or(0),
        limit,
    )
    .await?;
    Ok(Json(Page {
        items: runs.into_iter().map(|r| r.0).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}
