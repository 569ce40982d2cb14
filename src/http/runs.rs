//! `/v1/runs/{id}`: a run's per-epoch history (JSON or CSV) and its checkpoint; and a run as
//! the job's run list shows it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::Value;

use super::state::{AppState, Route};
use crate::domain::job::Strategy;
use crate::domain::results::{RunKind, RunState};
use crate::engine::eval::scores::Scores;
use crate::engine::train::{EpochRecord, Stop};
use crate::error::ApiError;
use crate::jobs::views::{self, RunRow};

/// A run as `GET /v1/jobs/{id}/runs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView<'a> {
    pub id: &'a str,
    pub kind: RunKind,
    /// The imbalance strategy (a comparison's final run: once it has chosen the winner).
    pub strategy: Option<Strategy>,
    /// The model variant (index into a `model` list).
    pub variant: u32,
    pub fold: Option<u32>,
    pub repeat: Option<u32>,
    pub status: RunState,
    pub attempt: u32,
    pub epochs_done: u64,
    pub best_epoch: Option<u64>,
    pub metrics: Option<&'a Scores>,
    pub error: Option<&'a str>,
    /// The kernel set it trained on: bit-identical resume is promised per set.
    pub kernels: Option<&'a str>,
    /// Other kernel sets later attempts resumed on.
    pub resumed_on_kernels: &'a [String],
    /// `optimizer.learning_rate: "auto"`: the rate the run's range test chose.
    pub learning_rate: Option<f64>,
    /// How a finished run's training ended.
    pub stop: Option<Stop>,
    /// A `{"epochs": "fold_loss"}` final model: the training loss it trained to.
    pub loss_target: Option<f64>,
}

impl<'a> RunView<'a> {
    pub fn of(run: &'a RunRow) -> Self {
        let result = run.result.as_ref();
        Self {
            id: &run.id,
            kind: run.kind,
            strategy: run.strategy,
            variant: run.variant,
            fold: run.fold,
            repeat: run.repeat,
            status: run.state,
            attempt: run.attempt,
            epochs_done: run.epochs_done,
            best_epoch: result.map(|r| r.best_epoch),
            metrics: result.and_then(|r| r.metrics.as_ref()),
            error: run.error.as_deref(),
            kernels: run.kernels.as_deref(),
            resumed_on_kernels: &run.resumed_on_kernels,
            learning_rate: result.and_then(|r| r.rate_range.as_ref()).map(|r| r.chosen),
            stop: result.map(|r| r.stop),
            loss_target: result.and_then(|r| r.loss_target),
        }
    }
}

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/runs/{id}/metrics", get(history)),
        ("/v1/runs/{id}/checkpoint", get(checkpoint)),
    ]
}

/// Per-epoch history, pretraining's epochs first; `Accept: text/csv` gives one row per epoch.
async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let records = views::history(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no run {id}")))?;
    let wants_csv = super::extract::prefers_csv(&headers);
    if !wants_csv {
        return Ok(Json(records).into_response());
    }
    const COLUMNS: [&str; 18] = [
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
        "layer_weight_norms",
        "layer_update_ratios",
        "dead_unit_fractions",
        "saturated_fractions",
        "phase",
        "layer",
    ];
    // Lists (per-layer norms) go in one cell, `;`-separated; csv::Writer quotes as needed.
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(COLUMNS).map_err(anyhow::Error::from)?;
    for r in &records {
        out.write_record(csv_cells(r))
            .map_err(anyhow::Error::from)?;
    }
    let csv = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing CSV: {e}"))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// One epoch's CSV cells, in `COLUMNS` order; numbers as JSON writes them.
fn csv_cells(r: &EpochRecord) -> [String; 18] {
    let num = |v: f64| Value::from(v).to_string();
    let opt = |v: Option<f64>| v.map(num).unwrap_or_default();
    let list = |v: &[f64]| v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(";");
    [
        r.epoch.to_string(),
        num(r.train_loss),
        opt(r.val_loss),
        opt(r.val_accuracy),
        opt(r.holdout_loss),
        opt(r.holdout_accuracy),
        num(r.learning_rate),
        num(r.grad_norm),
        list(&r.layer_grad_norms),
        num(r.seconds),
        r.member.map(|m| m.to_string()).unwrap_or_default(),
        r.samples.to_string(),
        list(&r.layer_weight_norms),
        list(&r.layer_update_ratios),
        list(&r.dead_unit_fractions),
        list(&r.saturated_fractions),
        r.phase.as_str().to_owned(),
        r.layer.map(|l| l.to_string()).unwrap_or_default(),
    ]
}

/// The run's final weights as safetensors (the spec and feature encoding in the metadata).
async fn checkpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match views::checkpoint(&state.pool, &id).await? {
        None => Err(ApiError::NotFound(format!("no run {id}"))),
        Some((RunState::Succeeded, Some(bytes))) => Ok((
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
            "run {id} is {}; its checkpoint is served once it has succeeded",
            status.as_str()
        ))),
    }
}
