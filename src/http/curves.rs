//! `GET /v1/jobs/{id}/curves.svg`: learning curves per run (each fold, and the final model),
//! one colour per run: training loss (solid), held-out loss (dashed) and the inner
//! early-stopping split's loss (dotted), a dot at each run's best epoch, and a marker where
//! an overfitting finding says it starts. `?format=json` gives the points.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::extract::QueryParams;
use super::plot_inputs::plot_request;
use super::plot_response::respond;
use super::state::{AppState, Route};
use crate::domain::finding::Kind;
use crate::domain::job::JobSpec;
use crate::engine::train::EpochRecord;
use crate::error::ApiError;
use crate::jobs::views::RunRow;
use crate::plots::{Axis, Dot, Figure, LinePlot, Marker, Plot, Series, Stroke};

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/curves.svg", get(curves))]
}

/// `fold 2` (`, repeat 1`), or the run's kind; in a comparison, with its strategy (and model).
pub(super) fn run_name(run: &RunRow, spec: &JobSpec) -> String {
    let mut name = match run.fold {
        Some(f) => match run.repeat.filter(|&r| r > 0) {
            Some(r) => format!("fold {f}, repeat {r}"),
            None => format!("fold {f}"),
        },
        None => run.kind.as_str().to_owned(),
    };
    if spec.model.is_comparison() {
        name.push_str(&format!(" · model {}", run.variant));
    }
    if let Some(s) = run
        .strategy
        .filter(|_| spec.imbalance.strategy.is_comparison())
    {
        name.push_str(&format!(" · {}", s.as_str()));
    }
    name
}

async fn curves(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let (format, job, runs) = plot_request(&state, &id, query, &[]).await?;
    let (mut series, mut dots) = (Vec::new(), Vec::new());
    for (colour, run) in runs.iter().enumerate() {
        let history = crate::jobs::views::epochs(&state.pool, &run.id)
            .await?
            .unwrap_or_default();
        let line = |loss: fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            history
                .iter()
                .filter_map(|r| Some((r.epoch as f64, loss(r).filter(|v| v.is_finite())?)))
                .collect()
        };
        let train = line(|r| Some(r.train_loss));
        let holdout = line(|r| r.holdout_loss);
        let inner = line(|r| r.val_loss);
        // The best epoch on the curve that chose it (the inner split), else the held-out one.
        let best = run.result.as_ref().map(|r| r.best_epoch as f64);
        let chosen = [&inner, &holdout, &train]
            .into_iter()
            .find(|l| !l.is_empty());
        // An ensemble's best epoch is its members' mean, counted within a member: no one point
        // of the run's curve.
        let ensemble = history.iter().any(|r| r.member.is_some());
        if let (Some(best), Some(on), false) = (best, chosen, ensemble)
            && let Some(&(x, y)) = on.iter().find(|p| p.0 == best)
        {
            dots.push(Dot {
                x,
                y,
                colour,
                name: "best epoch".into(),
            });
        }
        for (points, stroke, name) in [
            (train, Stroke::Solid, run_name(run, &job.spec)),
            (holdout, Stroke::Dashed, String::new()),
            (inner, Stroke::Dotted, String::new()),
        ] {
            if !points.is_empty() {
                series.push(Series {
                    name,
                    colour,
                    stroke,
                    points,
                });
            }
        }
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
    let figure = Figure {
        title: "Loss per epoch: training (solid), held-out (dashed), inner validation (dotted)"
            .into(),
        subtitle: format!("learning curves of job {id}, one colour per run"),
        plot: Plot::Lines(LinePlot {
            x: Axis::linear("epoch"),
            y: Axis::linear("loss (class-weighted cross-entropy)"),
            series,
            markers,
            dots,
        }),
    };
    respond(figure, format).await
}
