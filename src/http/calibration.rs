//! `GET /v1/jobs/{id}/calibration.svg`: the reliability diagram of the pooled out-of-fold
//! predictions (the leading variant's in a comparison): per bin of the top probability, the
//! share predicted right against the mean probability, beside the diagonal of a calibrated
//! model, with the expected calibration error in the legend. `?format=json` gives the points.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::extract::QueryParams;
use super::plot_inputs::{leader_sets, plot_request};
use super::plot_response::{plot_routes, respond};
use super::state::{AppState, Route};
use crate::engine::eval::scores::{reliability, score};
use crate::error::ApiError;
use crate::plots::{Axis, Figure, LinePlot, Plot, Series, Stroke};

pub fn routes() -> Vec<Route> {
    plot_routes(
        "/v1/jobs/{id}/calibration.svg",
        "/v1/jobs/{id}/calibration.json",
        get(calibration),
    )
}

async fn calibration(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let (format, job, runs) = plot_request(&state, &id, query, &[]).await?;
    let sets = leader_sets(&state, &job, &runs).await?;
    let classes = sets.first().map_or(1, |s| s.heldout.classes);
    let labels: Vec<u32> = sets.iter().flat_map(|s| s.heldout.labels.clone()).collect();
    let proba: Vec<f64> = sets
        .iter()
        .flat_map(|s| s.heldout.proba.iter().map(|&p| f64::from(p)))
        .collect();
    // Binning reads every prediction: off the async runtime.
    let (bins, ece) = tokio::task::spawn_blocking(move || {
        let ece = (!labels.is_empty()).then(|| score(&labels, &proba, classes).ece);
        (reliability(&labels, &proba, classes), ece.flatten())
    })
    .await
    .map_err(|e| anyhow::anyhow!("binning the pooled predictions: {e}"))?;
    let points: Vec<(f64, f64)> = bins
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.confidence, b.accuracy))
        .collect();
    let model = match ece {
        Some(e) => format!("model (ECE {e:.4}, 15 bins)"),
        None => "model (no finished fold yet)".into(),
    };
    let figure = Figure {
        title: "Reliability: share right against the top probability, per bin".into(),
        subtitle: format!("job {id}: pooled out-of-fold predictions"),
        plot: Plot::Lines(LinePlot {
            x: Axis::unit("mean top probability in the bin"),
            y: Axis::unit("share predicted right"),
            series: vec![
                Series {
                    name: model,
                    colour: 0,
                    stroke: Stroke::Solid,
                    points,
                },
                Series {
                    name: "calibrated".into(),
                    colour: 7,
                    stroke: Stroke::Dashed,
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                },
            ],
            markers: Vec::new(),
            dots: Vec::new(),
        }),
    };
    respond(figure, format).await
}
