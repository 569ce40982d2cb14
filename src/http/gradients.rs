//! `GET /v1/jobs/{id}/gradients.svg`: per-layer gradient norm per epoch on a log scale, one
//! line per layer: the classic picture of vanishing (lines fanning apart by decades) and
//! exploding gradients. One run: `?run_id=`, else the job's first run with epochs;
//! `?format=json` gives the points.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::curves::run_name;
use super::extract::QueryParams;
use super::plot_inputs::plot_request;
use super::plot_response::{plot_routes, respond};
use super::state::{AppState, Route};
use crate::domain::finding::Kind;
use crate::error::ApiError;
use crate::plots::{Axis, Figure, LinePlot, Marker, Plot, Series, Stroke};

pub fn routes() -> Vec<Route> {
    plot_routes(
        "/v1/jobs/{id}/gradients.svg",
        "/v1/jobs/{id}/gradients.json",
        get(gradients),
    )
}

async fn gradients(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> Result<Response, ApiError> {
    let wanted = query.take("run_id");
    let (format, job, runs) = plot_request(&state, &id, query, &["run_id"]).await?;
    let run = match &wanted {
        Some(w) => runs
            .iter()
            .find(|r| r.id == *w)
            .ok_or_else(|| ApiError::NotFound(format!("job {id} has no run {w:?}")))?,
        None => match runs.iter().find(|r| r.epochs_done > 0) {
            Some(r) => r,
            None => runs
                .first()
                .ok_or_else(|| ApiError::Conflict(format!("job {id} has no runs")))?,
        },
    };
    let history = crate::jobs::views::epochs(&state.pool, &run.id)
        .await?
        .unwrap_or_default();
    let layers = history
        .iter()
        .map(|r| r.layer_grad_norms.len())
        .max()
        .unwrap_or(0);
    let series = (0..layers)
        .map(|l| Series {
            name: if l + 1 == layers {
                "output layer".into()
            } else {
                format!("layer {l}")
            },
            colour: l,
            stroke: Stroke::Solid,
            points: history
                .iter()
                .filter_map(|r| Some((r.epoch as f64, *r.layer_grad_norms.get(l)?)))
                .collect(),
        })
        .collect();
    let markers = job
        .diagnostics
        .iter()
        .filter(|f| {
            matches!(f.kind, Kind::VanishingGradients | Kind::ExplodingGradients)
                && f.run_ids.contains(&run.id)
        })
        .filter_map(|f| {
            Some(Marker {
                x: f.first_epoch? as f64,
                label: format!("{} from epoch {}", f.kind.as_str(), f.first_epoch?),
            })
        })
        .collect();
    let figure = Figure {
        title: "Gradient norm per layer and epoch".into(),
        subtitle: format!("job {id}, run {} ({})", run.id, run_name(run, &job.spec)),
        plot: Plot::Lines(LinePlot {
            x: Axis::linear("epoch"),
            y: Axis::log("mean gradient norm"),
            series,
            markers,
            dots: Vec::new(),
        }),
    };
    respond(figure, format).await
}
