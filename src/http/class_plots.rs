//! The plots of the pooled out-of-fold predictions (the leading variant's in a comparison):
//! `confusion.svg` (counts and row shares), `roc.svg` and `pr.svg` (pooled and per fold for two
//! classes, one-vs-rest per class for more, the area in each legend entry). `?format=json`
//! gives the numbers.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::extract::QueryParams;
use super::plot_inputs::{HeldOutSet, leader_sets, plot_request};
use super::plot_response::{Format, plot_routes, respond};
use super::state::{AppState, Route};
use crate::engine::eval::curves::{area, pr_points, roc_points, step_area};
use crate::engine::eval::scores::score;
use crate::error::ApiError;
use crate::jobs::models::class_names;
use crate::plots::{Axis, Figure, LinePlot, MatrixPlot, Plot, Series, Stroke};

pub fn routes() -> Vec<Route> {
    [
        plot_routes(
            "/v1/jobs/{id}/confusion.svg",
            "/v1/jobs/{id}/confusion.json",
            get(confusion),
        ),
        plot_routes("/v1/jobs/{id}/roc.svg", "/v1/jobs/{id}/roc.json", get(roc)),
        plot_routes("/v1/jobs/{id}/pr.svg", "/v1/jobs/{id}/pr.json", get(pr)),
    ]
    .concat()
}

/// Most points a drawn curve keeps (evenly along it); areas use every point.
const MAX_POINTS: usize = 1000;

/// The request's format, and the job's leading variant's held-out sets and class names.
async fn sets_of(
    state: &AppState,
    id: &str,
    query: QueryParams,
) -> Result<(Format, Vec<HeldOutSet>, Vec<String>), ApiError> {
    let (format, job, runs) = plot_request(state, id, query, &[]).await?;
    let sets = leader_sets(state, &job, &runs).await?;
    let classes = sets.first().map_or(0, |s| s.heldout.classes);
    let names = class_names(&state.pool, &job.id, &job.spec, classes).await?;
    Ok((format, sets, names))
}

async fn confusion(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let (format, sets, names) = sets_of(&state, &id, query).await?;
    let classes = names.len();
    let counts = tokio::task::spawn_blocking(move || {
        let labels: Vec<u32> = sets.iter().flat_map(|s| s.heldout.labels.clone()).collect();
        let proba: Vec<f64> = sets
            .iter()
            .flat_map(|s| s.heldout.proba.iter().map(|&p| f64::from(p)))
            .collect();
        if labels.is_empty() {
            vec![vec![0; classes]; classes]
        } else {
            score(&labels, &proba, classes).confusion_matrix
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("scoring the pooled predictions: {e}"))?;
    let figure = Figure {
        title: "Confusion matrix of the pooled out-of-fold predictions".into(),
        subtitle: format!("job {id}: true class down, predicted class across"),
        plot: Plot::Matrix(MatrixPlot::of(names, counts)),
    };
    respond(figure, format).await
}

/// Which curve.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Curve {
    Roc,
    Pr,
}

async fn roc(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    curve(state, id, query, Curve::Roc).await
}

async fn pr(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    curve(state, id, query, Curve::Pr).await
}

async fn curve(
    state: AppState,
    id: String,
    query: QueryParams,
    which: Curve,
) -> Result<Response, ApiError> {
    let (format, sets, names) = sets_of(&state, &id, query).await?;
    let series = tokio::task::spawn_blocking(move || curve_series(&sets, &names, which))
        .await
        .map_err(|e| anyhow::anyhow!("computing the curves: {e}"))?;
    let (title, x, y) = match which {
        Curve::Roc => (
            "ROC: true positive rate against false positive rate",
            "false positive rate",
            "true positive rate (recall)",
        ),
        Curve::Pr => ("Precision against recall", "recall", "precision"),
    };
    let figure = Figure {
        title: title.into(),
        subtitle: format!(
            "job {id}: pooled out-of-fold predictions (solid) and each fold's (dashed); the area \
             under each curve in its legend entry"
        ),
        plot: Plot::Lines(LinePlot {
            x: Axis::unit(x),
            y: Axis::unit(y),
            series,
            markers: Vec::new(),
            dots: Vec::new(),
        }),
    };
    respond(figure, format).await
}

/// Two classes: the pooled curve of class 1 and each fold's, and chance; more: one pooled
/// one-vs-rest curve per class.
fn curve_series(sets: &[HeldOutSet], names: &[String], which: Curve) -> Vec<Series> {
    let classes = names.len();
    let scored = |sets: &[&HeldOutSet], class: usize| -> (Vec<bool>, Vec<f64>) {
        let mut positive = Vec::new();
        let mut score = Vec::new();
        for s in sets {
            for i in 0..s.heldout.len() {
                positive.push(s.heldout.labels[i] as usize == class);
                score.push(f64::from(s.heldout.row(i)[class]));
            }
        }
        (positive, score)
    };
    let line = |name: &str, colour, stroke, (positive, score): (Vec<bool>, Vec<f64>)| {
        let (points, value) = match which {
            Curve::Roc => {
                let p = roc_points(&positive, &score)?;
                let a = area(&p);
                (p, format!("AUC {a:.3}"))
            }
            Curve::Pr => {
                let p = pr_points(&positive, &score)?;
                let a = step_area(&p);
                (p, format!("AP {a:.3}"))
            }
        };
        Some(Series {
            name: format!("{name} ({value})"),
            colour,
            stroke,
            points: thin(points),
        })
    };
    let all: Vec<&HeldOutSet> = sets.iter().collect();
    let mut series = Vec::new();
    if classes == 2 {
        let class = &names[1];
        series.extend(line(
            &format!("pooled, class {class}"),
            0,
            Stroke::Solid,
            scored(&all, 1),
        ));
        for (i, s) in sets.iter().enumerate() {
            series.extend(line(&s.name(), i + 1, Stroke::Dashed, scored(&[s], 1)));
        }
        let (positive, _) = scored(&all, 1);
        let share = positive.iter().filter(|&&p| p).count() as f64 / positive.len().max(1) as f64;
        series.push(match which {
            Curve::Roc => Series {
                name: "chance".into(),
                colour: 7,
                stroke: Stroke::Dotted,
                points: vec![(0.0, 0.0), (1.0, 1.0)],
            },
            Curve::Pr => Series {
                name: format!("chance (share {share:.3})"),
                colour: 7,
                stroke: Stroke::Dotted,
                points: vec![(0.0, share), (1.0, share)],
            },
        });
    } else {
        for (c, name) in names.iter().enumerate() {
            series.extend(line(
                &format!("class {name} vs rest"),
                c,
                Stroke::Solid,
                scored(&all, c),
            ));
        }
    }
    series
}

/// At most `MAX_POINTS` of `points`, evenly along them, the first and last kept.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let last = points.len() - 1;
    (0..MAX_POINTS)
        .map(|i| points[i * last / (MAX_POINTS - 1)])
        .collect()
}
