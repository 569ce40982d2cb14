//! `GET /v1/jobs/{id}/curves.svg`: learning curves per run (each fold, and the final model),
//! one colour per run: training loss (solid), held-out loss (dashed) and the inner
//! early-stopping split's loss (dotted), a dot at each run's best epoch, and a marker where
//! an overfitting finding says it starts. `?format=json` gives the points.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::extract::QueryParams;
use super::plot_inputs::plot_request;
use super::plot_response::{plot_routes, respond};
use super::state::{AppState, Route};
use crate::domain::finding::Kind;
use crate::domain::job::{JobSpec, Strategy};
use crate::domain::results::RunKind;
use crate::engine::train::EpochRecord;
use crate::error::ApiError;
use crate::jobs::views::RunRow;
use crate::plots::{Axis, Dot, Figure, LinePlot, Marker, Plot, Series, Stroke};

/// Most runs drawn one by one, each in its colour; beyond, each group of folds (a model
/// variant's strategy) is one colour: its folds faint, their mean strong.
const ONE_BY_ONE: usize = 6;

pub fn routes() -> Vec<Route> {
    plot_routes(
        "/v1/jobs/{id}/curves.svg",
        "/v1/jobs/{id}/curves.json",
        get(curves),
    )
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
    if spec.has_model_variants() {
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
    let mut histories = Vec::with_capacity(runs.len());
    for run in &runs {
        histories.push(
            crate::jobs::views::epochs(&state.pool, &run.id)
                .await?
                .unwrap_or_default(),
        );
    }
    let many = runs.len() > ONE_BY_ONE;
    let (series, dots) = if many {
        (grouped(&job.spec, &runs, &histories), Vec::new())
    } else {
        one_by_one(&job.spec, &runs, &histories)
    };
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
    let (title, subtitle) = if many {
        (
            "Loss per epoch: mean training (solid) and held-out (dashed) loss of each group's folds, each fold faint behind",
            format!("learning curves of job {id}, one colour per group of folds"),
        )
    } else {
        (
            "Loss per epoch: training (solid), held-out (dashed), inner validation (dotted)",
            format!("learning curves of job {id}, one colour per run"),
        )
    };
    let figure = Figure {
        title: title.into(),
        subtitle,
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

/// Each group of fold runs (model variant and strategy) in one colour: every fold's training
/// and held-out loss faint, their means strong and named; the final model on its own.
fn grouped(spec: &JobSpec, runs: &[RunRow], histories: &[Vec<EpochRecord>]) -> Vec<Series> {
    let key = |r: &RunRow| {
        (
            r.kind == RunKind::Final,
            r.variant,
            r.strategy.map(Strategy::as_str),
        )
    };
    let mut keys = Vec::new();
    for k in runs.iter().map(key) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut series = Vec::new();
    for (colour, k) in keys.iter().enumerate() {
        let members: Vec<&Vec<EpochRecord>> = (runs.iter().zip(histories))
            .filter(|(r, _)| key(r) == *k)
            .map(|(_, h)| h)
            .collect();
        for h in &members {
            for loss in [
                (|r: &EpochRecord| Some(r.train_loss)) as fn(&EpochRecord) -> Option<f64>,
                |r| r.holdout_loss,
            ] {
                let points = loss_line(h, loss);
                series.push(Series {
                    name: String::new(),
                    colour,
                    stroke: Stroke::Faint,
                    points,
                });
            }
        }
        let mean = crate::jobs::compare::mean_curves(members.iter().map(|h| h.as_slice()));
        series.push(Series {
            name: group_name(spec, *k),
            colour,
            stroke: Stroke::Solid,
            points: as_points(mean.train_loss),
        });
        series.push(Series {
            name: String::new(),
            colour,
            stroke: Stroke::Dashed,
            points: as_points(mean.holdout_loss),
        });
    }
    series
}

/// (epoch, loss) of every epoch of `history` with a finite `loss`.
fn loss_line(history: &[EpochRecord], loss: fn(&EpochRecord) -> Option<f64>) -> Vec<(f64, f64)> {
    (history.iter())
        .filter_map(|r| Some((r.epoch as f64, loss(r).filter(|v| v.is_finite())?)))
        .collect()
}

fn as_points(curve: Vec<(u64, f64)>) -> Vec<(f64, f64)> {
    curve.into_iter().map(|(e, v)| (e as f64, v)).collect()
}

/// What a group of runs is: the final model, or its folds' model (in a model list) and strategy
/// (in a strategy list).
fn group_name(spec: &JobSpec, (last, variant, strategy): (bool, u32, Option<&str>)) -> String {
    if last {
        return "final model".into();
    }
    let mut parts = Vec::new();
    if spec.has_model_variants() {
        parts.push(spec.describe_variant(variant as usize));
    }
    if let Some(s) = strategy.filter(|_| spec.imbalance.strategy.is_comparison()) {
        parts.push(s.to_owned());
    }
    if parts.is_empty() {
        parts.push("folds".into());
    }
    format!("{} (mean)", parts.join(" · "))
}

/// Each run in its own colour: training (solid), held-out (dashed) and inner validation
/// (dotted) loss, and a dot at its best epoch.
fn one_by_one(
    spec: &JobSpec,
    runs: &[RunRow],
    histories: &[Vec<EpochRecord>],
) -> (Vec<Series>, Vec<Dot>) {
    let (mut series, mut dots) = (Vec::new(), Vec::new());
    for (colour, (run, history)) in runs.iter().zip(histories).enumerate() {
        let train = loss_line(history, |r| Some(r.train_loss));
        let holdout = loss_line(history, |r| r.holdout_loss);
        let inner = loss_line(history, |r| r.val_loss);
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
            (train, Stroke::Solid, run_name(run, spec)),
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
    (series, dots)
}
