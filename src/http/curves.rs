//! `GET /v1/jobs/{id}/curves.svg`: learning curves, training loss (solid) and validation loss
//! (dashed: the inner early-stopping split, or else the held-out fold) per epoch, one colour
//! per fold, with a marker where an overfitting finding says it starts.

use crate::engine::train::EpochRecord;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::jobs::job_or_404;
use super::state::{AppState, Route};
use super::svg::{Chart, Line, Marker};
use crate::domain::finding::Kind;
use crate::error::ApiError;
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/curves.svg", get(curves))]
}

async fn curves(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_or_404(&state, &id).await?;
    let mut lines = Vec::new();
    let runs =
        store::run_data::runs_of_job(&state.pool, &id, store::run_data::Detail::Summary).await?;
    for (i, run) in runs.iter().enumerate() {
        let history = store::run_data::epoch_history(&state.pool, &run.id)
            .await?
            .unwrap_or_default();
        let point = |r: &EpochRecord, loss: Option<f64>| {
            Some((r.epoch as f64, loss.filter(|v| v.is_finite())?))
        };
        let train: Vec<(f64, f64)> = history
            .iter()
            .filter_map(|r| point(r, Some(r.train_loss)))
            .collect();
        let val: Vec<(f64, f64)> = history
            .iter()
            .filter_map(|r| point(r, r.val_loss).or_else(|| point(r, r.holdout_loss)))
            .collect();
        let name = match run.fold {
            Some(f) => format!(
                "fold {f}{}",
                run.repeat
                    .filter(|&r| r > 0)
                    .map(|r| format!(" (repeat {r})"))
                    .unwrap_or_default()
            ),
            None => run.kind.as_str().to_owned(),
        };
        lines.push(Line {
            name,
            colour: i,
            dashed: false,
            points: train,
        });
        lines.push(Line {
            name: String::new(),
            colour: i,
            dashed: true,
            points: val,
        });
    }
    // Where overfitting starts: the epoch of the lowest held-out loss.
    let markers = job
        .diagnostics
        .iter()
        .filter(|f| f.kind == Kind::Overfitting)
        .filter_map(|f| {
            Some(Marker {
                x: f.first_epoch? as f64,
                label: format!("overfitting from epoch {}", f.first_epoch?),
            })
        })
        .collect();
    let chart = Chart {
        title: "Learning curves: training loss (solid), validation loss (dashed)",
        subtitle: &id,
        x_label: "epoch",
        y_label: "loss",
        log_y: false,
        lines,
        markers,
        x_range: None,
    };
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], chart.render()).into_response())
}
