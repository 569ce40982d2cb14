//! `GET /v1/jobs/{id}/calibration.svg`: the reliability diagram of the pooled out-of-fold
//! predictions (the leading variant's in a comparison): per bin of the top probability, the
//! share predicted right against the mean probability, beside the diagonal of a calibrated
//! model, with the expected calibration error in the subtitle.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::jobs::job_or_404;
use super::state::{AppState, Route};
use super::svg::{Chart, Line};
use crate::domain::results::RunKind;
use crate::engine::eval::scores::{reliability, score};
use crate::error::ApiError;
use crate::queue::results::{self, Variant};
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/calibration.svg", get(calibration))]
}

async fn calibration(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_or_404(&state, &id).await?;
    let runs =
        store::run_data::runs_of_job(&state.pool, &id, store::run_data::Detail::Summary).await?;
    let leader = results::leader(&job.spec, &results::fold_results(&runs));
    let (mut labels, mut proba, mut classes) = (Vec::new(), Vec::new(), 0);
    for run in &runs {
        let pooled = run.kind == RunKind::Fold
            && run
                .result
                .as_ref()
                .is_some_and(|r| leader.is_none_or(|l| Variant::of(r) == l));
        if !pooled {
            continue;
        }
        let Some(h) = store::run_data::heldout(&state.pool, &run.id).await? else {
            continue;
        };
        if classes != 0 && h.classes != classes {
            continue;
        }
        classes = h.classes;
        labels.extend_from_slice(&h.labels);
        proba.extend(h.proba.iter().map(|&p| f64::from(p)));
    }
    // Binning sorts nothing but reads every prediction: off the async runtime.
    let (bins, ece) = tokio::task::spawn_blocking(move || {
        let ece = (!labels.is_empty()).then(|| score(&labels, &proba, classes).ece);
        (reliability(&labels, &proba, classes.max(1)), ece.flatten())
    })
    .await
    .map_err(|e| anyhow::anyhow!("binning the pooled predictions: {e}"))?;
    let points: Vec<(f64, f64)> = bins
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.confidence, b.accuracy))
        .collect();
    let subtitle = match ece {
        Some(e) => format!("{id}: pooled out-of-fold predictions, ECE {e:.4} (15 bins)"),
        None => format!("{id}: no finished fold yet"),
    };
    let chart = Chart {
        title: "Reliability: share right against the top probability, per bin",
        subtitle: &subtitle,
        x_label: "top probability",
        y_label: "share predicted right",
        log_y: false,
        lines: vec![
            Line {
                name: "model".into(),
                colour: 0,
                dashed: false,
                points,
            },
            Line {
                name: "calibrated".into(),
                colour: 7,
                dashed: true,
                points: vec![(0.0, 0.0), (1.0, 1.0)],
            },
        ],
        markers: Vec::new(),
        x_range: Some((0.0, 1.0)),
    };
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], chart.render()).into_response())
}
