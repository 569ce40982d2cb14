//! `/v1/runs/{id}`: a run's per-epoch history (JSON or CSV) and its checkpoint.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use super::{AppState, Route};
use crate::error::ApiError;
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/runs/{id}/metrics", get(history)),
        ("/v1/runs/{id}/checkpoint", get(checkpoint)),
    ]
}

/// Per-epoch history; `Accept: text/csv` gives one row per epoch.
async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let records = store::runs::epoch_history(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no run {id}")))?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(records).into_response());
    }
    const COLUMNS: [&str; 12] = [
        "epoch",
        "train_loss",
        "val_loss",
        "val_accuracy",
        "holdout_loss",
        "holdout_accuracy",
        "learning_rate",
        "grad_norm",
        "layer_grad_norms",
        "seconds",
        "member",
        "samples",
    ];
    // Lists (per-layer norms) go in one cell, `;`-separated; csv::Writer quotes as needed.
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(COLUMNS).map_err(anyhow::Error::from)?;
    for r in &records {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| match &r[*c] {
                Value::Null => String::new(),
                Value::Array(a) => a
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(";"),
                v => v.to_string(),
            })
            .collect();
        out.write_record(&cells).map_err(anyhow::Error::from)?;
    }
    let csv = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing CSV: {e}"))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// The run's final weights as safetensors (the spec and feature encoding in the metadata).
async fn checkpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match store::runs::checkpoint(&state.pool, &id).await? {
        None => Err(ApiError::NotFound(format!("no run {id}"))),
        Some((status, Some(bytes))) if status == "succeeded" => Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{id}.safetensors\""),
                ),
            ],
            bytes,
        )
            .into_response()),
        Some((status, _)) => Err(ApiError::Conflict(format!(
            "run {id} is {status}; its checkpoint is served once it has succeeded"
        ))),
    }
}
