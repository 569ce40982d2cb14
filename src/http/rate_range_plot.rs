//! `GET /v1/jobs/{id}/lr_range.svg`: the learning-rate range tests of a job with
//! `optimizer.learning_rate: "auto"`. Per finished run, the smoothed training loss against the
//! rate (log scale) as the rate grew step by step, and a dot at the rate it chose.
//! `?format=json` gives the points.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::curves::run_name;
use super::extract::QueryParams;
use super::plot_inputs::plot_request;
use super::plot_response::{plot_routes, respond};
use super::state::{AppState, Route};
use crate::domain::learning_rate::LearningRate;
use crate::error::ApiError;
use crate::jobs::views;
use crate::plots::{Axis, Dot, Figure, LinePlot, Plot, Series, Stroke};

pub fn routes() -> Vec<Route> {
    plot_routes(
        "/v1/jobs/{id}/lr_range.svg",
        "/v1/jobs/{id}/lr_range.json",
        get(rate_range),
    )
}

async fn rate_range(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let (format, job, _) = plot_request(&state, &id, query, &[]).await?;
    if job.spec.optimizer.learning_rate() != LearningRate::Auto {
        return Err(ApiError::Conflict(format!(
            "job {id} has a fixed learning rate: a range test runs with \
             optimizer.learning_rate \"auto\""
        )));
    }
    let ranges = views::rate_ranges(&state.pool, &id).await?;
    let mut series = Vec::with_capacity(ranges.len());
    let mut dots = Vec::with_capacity(ranges.len());
    for (colour, (run, range)) in ranges.iter().enumerate() {
        let name = format!("{} (chose {:.3e})", run_name(run, &job.spec), range.chosen);
        // The choice lies between two points of the curve: the dot sits at the nearer one's loss.
        let off = |r: f64| (r.ln() - range.chosen.ln()).abs();
        let nearest = (range.points.iter())
            .min_by(|a, b| off(a.learning_rate).total_cmp(&off(b.learning_rate)));
        if let Some(p) = nearest {
            dots.push(Dot {
                x: range.chosen,
                y: p.smoothed_loss,
                colour,
                name: "chosen rate".into(),
            });
        }
        series.push(Series {
            name,
            colour,
            stroke: Stroke::Solid,
            points: (range.points.iter())
                .map(|p| (p.learning_rate, p.smoothed_loss))
                .collect(),
        });
    }
    let subtitle = match ranges.len() {
        0 => format!("job {id}: no run has finished yet"),
        n => format!(
            "job {id}: {n} runs, each on its own training rows; the rate between fastai's \
             valley and minimum/10"
        ),
    };
    let figure = Figure {
        title: "Learning-rate range test: smoothed loss as the rate grows".into(),
        subtitle,
        plot: Plot::Lines(LinePlot {
            x: Axis::log("learning rate"),
            y: Axis::linear("smoothed training loss"),
            series,
            markers: Vec::new(),
            dots,
        }),
    };
    respond(figure, format).await
}
