//! `GET /v1/jobs/{id}/attention.svg`: where a GRU's attention looks. The final model's weight
//! on each step of the first `?sequences=` (default 5, at most 20) sequences of the job's
//! dataset, one line each, with their class in the legend. `?format=json` gives the weights.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::extract::QueryParams;
use super::plot_inputs::plot_request;
use super::plot_response::{plot_routes, respond};
use super::state::{AppState, Route};
use crate::domain::results::{RunKind, RunState};
use crate::error::ApiError;
use crate::jobs::predict;
use crate::plots::{Axis, Figure, LinePlot, Plot, Series, Stroke};

pub fn routes() -> Vec<Route> {
    plot_routes(
        "/v1/jobs/{id}/attention.svg",
        "/v1/jobs/{id}/attention.json",
        get(attention),
    )
}

/// Most sequences drawn.
const MAX_SEQUENCES: usize = 20;

async fn attention(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> Result<Response, ApiError> {
    let wanted = query.take_count("sequences", MAX_SEQUENCES)?.unwrap_or(5);
    let (format, job, runs) = plot_request(&state, &id, query, &["sequences"]).await?;
    let run = runs
        .iter()
        .find(|r| r.kind == RunKind::Final && r.state == RunState::Succeeded)
        .ok_or_else(|| ApiError::Conflict(format!("job {id} has no finished final model")))?;
    let on = (&state.pool, &state.predict_pool);
    let (scored, labels, names) = predict::dataset_attention(on, &job, &run.id, wanted)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "job {id}'s model has no attention (a GRU with model.attention other than none), \
                 or its dataset is gone"
            ))
        })?;
    let series = scored
        .attention
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, weights)| {
            let class = labels
                .get(i)
                .and_then(|&c| names.get(c as usize))
                .map_or(String::new(), |c| format!(", class {c}"));
            Series {
                name: format!("sequence {i}{class}"),
                colour: i,
                stroke: Stroke::Solid,
                points: weights
                    .into_iter()
                    .enumerate()
                    .map(|(t, w)| ((t + 1) as f64, w))
                    .collect(),
            }
        })
        .collect();
    let figure = Figure {
        title: "Attention weight per step of the final model".into(),
        subtitle: format!(
            "job {id}: the first sequences of dataset {}, each weight the share of the context \
             the step gives",
            job.dataset_id
        ),
        plot: Plot::Lines(LinePlot {
            x: Axis::linear("step"),
            y: Axis::linear("attention weight"),
            series,
            markers: Vec::new(),
            dots: Vec::new(),
        }),
    };
    respond(figure, format).await
}
