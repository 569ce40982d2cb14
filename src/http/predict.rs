//! `POST /v1/jobs/{id}/predict`: class probabilities for new rows from the stored models.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::extract::{LimitedBytes, QueryParams, media_type, parse_json, unsupported};
use super::jobs::job_or_404;
use super::predict_sequences;
use super::state::{AppState, Route};
use super::stored_model::{class_names, load_model};
use crate::config::MAX_PREDICT_PROBABILITIES;
use crate::domain::job::JobStatus;
use crate::domain::results::{RunKind, RunResult, RunState};
use crate::engine::data::encode::Encoding;
use crate::engine::model::param::Dev;
use crate::engine::predict::Predictor;
use crate::error::{ApiError, FieldError};
use crate::ingest::rows::{PredictRows, RowError};
use crate::queue::results;
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/predict", post(predict))]
}

/// The rows to predict: `{"rows": [{…}]}` as JSON, or CSV with a header row, read as an upload
/// reads its cells.
fn rows_of(headers: &HeaderMap, body: &[u8], max_rows: usize) -> Result<PredictRows, ApiError> {
    let (content_type, essence) = media_type(headers);
    let rows = match essence.as_str() {
        "application/json" => PredictRows::from_json(&parse_json(body)?, max_rows)?,
        "text/csv" => PredictRows::from_csv(body, max_rows)?,
        _ => return Err(unsupported(content_type, "application/json or text/csv")),
    };
    if rows.is_empty() {
        return Err(ApiError::invalid_field(
            "rows",
            "at least one row to predict",
        ));
    }
    Ok(rows)
}

fn row_errors(errors: Vec<RowError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(e.field, e.message))
        .collect()
}

/// Rows scored at once: bounds the activations of a wide model.
const PREDICT_CHUNK: usize = 1024;

async fn predict(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
    headers: HeaderMap,
    LimitedBytes(body): LimitedBytes,
) -> Result<Json<Value>, ApiError> {
    let folds = match query.take("ensemble").as_deref() {
        None | Some("final") => false,
        Some("folds") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "ensemble",
                "folds, or absent for the final model",
            ));
        }
    };
    let explain = match query.take("explain").as_deref() {
        None => false,
        Some("attention") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "explain",
                "attention (each sequence's attention weights per step), or absent",
            ));
        }
    };
    let ts = match query.take("format").as_deref() {
        None => false,
        Some("ts") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "format",
                "ts (a .ts body), or absent to go by Content-Type",
            ));
        }
    };
    let unknown = query.unknown(&["ensemble", "explain", "format"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let job = job_or_404(&state, &id).await?;
    if job.status != JobStatus::Succeeded {
        return Err(ApiError::Conflict(format!(
            "job {id} is {}; it predicts once it has succeeded",
            job.status.as_str()
        )));
    }
    let runs =
        store::run_data::runs_of_job(&state.pool, &id, store::run_data::Detail::Summary).await?;
    // A comparison's fold ensemble is its leading variant's fold models.
    let fold_results: Vec<&RunResult> = results::fold_results(&runs);
    let leader = results::leader(&job.spec, &fold_results);
    let wanted: Vec<String> = runs
        .iter()
        .filter(|r| {
            r.state == RunState::Succeeded
                && (if folds {
                    r.kind == RunKind::Fold
                        && leader.is_none_or(|l| {
                            r.strategy == Some(l.strategy) && r.variant as usize == l.model
                        })
                } else {
                    r.kind == RunKind::Final
                })
        })
        .map(|r| r.id.clone())
        .collect();
    if wanted.is_empty() {
        return Err(ApiError::Conflict(if folds {
            "the job has no fold models".into()
        } else {
            "the job has no final model (it was submitted with final_model: false); use ?ensemble=folds".into()
        }));
    }
    // The first model decides the classes and checks the rows; the others load one at a time.
    let first = load_model(&state, &wanted[0]).await?;
    let classes = first.0.classes();
    let max_rows = state
        .limits
        .max_predict_rows
        .min(MAX_PREDICT_PROBABILITIES / classes.max(1) as u64) as usize;
    if let Some(scaling) = &first.1.sequence {
        let seqs = predict_sequences::sequences_of(
            &state,
            &headers,
            &body,
            ts,
            scaling.channels,
            max_rows,
        )?;
        drop(body);
        if explain && !first.0.has_attention() {
            return Err(ApiError::invalid_field(
                "explain",
                "this model has no attention (model.attention is none)",
            ));
        }
        let names = class_names(&state, &job.id, &job.spec, classes).await?;
        let scored = predict_sequences::score(&state, &id, &wanted, first, seqs, explain).await?;
        let mut out = predictions_json(&scored.sum, &names, wanted.len());
        if let Some(attention) = scored.attention {
            let count = wanted.len() as f64;
            for (p, w) in out.iter_mut().zip(attention) {
                let w: Vec<f64> = w.into_iter().map(|v| v / count).collect();
                p["attention"] = json!(w);
            }
        }
        let mut body = json!({"predictions": out, "models": wanted});
        if let Some(labels) = scored.labels {
            let right = scored
                .sum
                .chunks(classes)
                .zip(&labels)
                .filter(|(p, l)| names[best_class(p)] == **l)
                .count();
            body["accuracy"] = json!(right as f64 / labels.len().max(1) as f64);
        }
        return Ok(Json(body));
    }
    if explain {
        return Err(ApiError::invalid_field(
            "explain",
            "attention weights are for sequence models (model.kind gru)",
        ));
    }
    let rows = Arc::new(rows_of(&headers, &body, max_rows)?);
    drop(body);
    let label = job.spec.label.clone().unwrap_or_else(|| "label".into());
    let unknown = rows.unknown_columns(&first.1, &label);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(row_errors(unknown)));
    }
    // Every bad cell is reported at once, before any scoring.
    if let Err((errors, total)) = rows.check(&first.1) {
        let mut errors = row_errors(errors);
        if total > errors.len() {
            errors.push(FieldError::new(
                "rows",
                format!("{} more invalid values not listed", total - errors.len()),
            ));
        }
        return Err(ApiError::invalid_fields(errors));
    }
    let names = class_names(&state, &job.id, &job.spec, classes).await?;
    let n = rows.len();
    let mut sum = vec![0.0f64; n * classes];
    let mut model = Some(first);
    for run in &wanted {
        let (predictor, encoding) = match model.take() {
            Some(loaded) => loaded,
            None => load_model(&state, run).await?,
        };
        if predictor.classes() != classes {
            let found = predictor.classes();
            return Err(anyhow::anyhow!("run {run} has {found} classes, not {classes}").into());
        }
        let (rows_in, sum_in) = (rows.clone(), std::mem::take(&mut sum));
        let (sum_out, bad) = state
            .predict_pool
            .run(
                tracing::info_span!("predict", job_id = %id, run_id = %run, rows = n),
                move || score_into(predictor, &encoding, rows_in, sum_in, classes),
            )
            .await?;
        sum = sum_out;
        if let Some(row) = bad {
            return Err(ApiError::invalid_field(
                format!("rows[{row}]"),
                "the model's output is not finite for these values (far outside the training data)",
            ));
        }
    }
    let predictions = predictions_json(&sum, &names, wanted.len());
    Ok(Json(json!({"predictions": predictions, "models": wanted})))
}

/// Each row's label and probabilities: the mean of `models` models' summed probabilities.
fn predictions_json(sum: &[f64], names: &[String], models: usize) -> Vec<Value> {
    let (classes, count) = (names.len(), models as f64);
    sum.chunks(classes)
        .map(|p| {
            let best = best_class(p);
            let probabilities: Map<String, Value> = names
                .iter()
                .zip(p)
                .map(|(name, v)| (name.clone(), json!(v / count)))
                .collect();
            json!({"label": names[best], "probabilities": probabilities})
        })
        .collect()
}

/// The most probable class (the first of ties).
fn best_class(p: &[f64]) -> usize {
    (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b })
}

/// Adds one model's probabilities for `rows` to `sum`, a chunk at a time; also returns the first
/// row whose output is not finite, if any.
fn score_into(
    mut predictor: Predictor,
    encoding: &Encoding,
    rows: Arc<PredictRows>,
    mut sum: Vec<f64>,
    classes: usize,
) -> (Vec<f64>, Option<usize>) {
    let dev = Dev::default();
    let n = rows.len();
    for start in (0..n).step_by(PREDICT_CHUNK) {
        let end = (start + PREDICT_CHUNK).min(n);
        // Checked by the first model; another model's encoding fits the same columns.
        let Ok(x) = rows.encode(encoding, start, end) else {
            return (sum, Some(start));
        };
        let p = predictor.proba(&dev, &x, end - start);
        if let Some(bad) = p.iter().position(|v| !v.is_finite()) {
            return (sum, Some(start + bad / classes));
        }
        for (s, v) in sum[start * classes..end * classes].iter_mut().zip(p) {
            *s += v;
        }
    }
    (sum, None)
}
