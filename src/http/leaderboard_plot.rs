//! `GET /v1/jobs/{id}/leaderboard.svg`: the ranked metric's mean ± std over the folds for
//! each variant (strategy, or model and strategy) of a comparison, best first; a single
//! variant's one bar. `?format=json` gives the numbers.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::extract::QueryParams;
use super::plot_response::{Format, respond};
use super::state::{AppState, Route};
use crate::domain::metric::Metric;
use crate::error::ApiError;
use crate::plots::{Axis, Bar, BarPlot, Figure, Plot};

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/leaderboard.svg", get(leaderboard))]
}

async fn leaderboard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let format = Format::take(query, &[])?;
    let job = super::jobs::job_or_404(&state, &id).await?;
    let metric = job.spec.imbalance.rank_by;
    let models = job.spec.model.is_comparison();
    // The leaderboard as the job's metrics show it (stored when it settled).
    let board = match crate::jobs::metrics::results(&state.pool, &id).await? {
        Some((_, _, results)) => results.leaderboard,
        None => None,
    };
    let bars = match board {
        Some(board) => board
            .iter()
            .filter_map(|s| {
                Some(Bar {
                    label: if models {
                        format!("model {} · {}", s.variant, s.strategy.as_str())
                    } else {
                        s.strategy.as_str().to_owned()
                    },
                    value: s.mean?,
                    error: s.std,
                })
            })
            .collect(),
        None => job
            .summary
            .as_ref()
            .and_then(|s| s.get(metric.name()))
            .map(|stat| Bar {
                label: job.spec.imbalance.strategy.list()[0].as_str().to_owned(),
                value: stat.mean,
                error: Some(stat.std),
            })
            .into_iter()
            .collect(),
    };
    // Scores in [0, 1] share one scale; log loss has no upper bound.
    let y = if metric == Metric::LogLoss {
        Axis::linear(&format!("{metric} (mean ± std over folds)"))
    } else {
        Axis::unit(&format!("{metric} (mean ± std over folds)"))
    };
    let figure = Figure {
        title: format!("Leaderboard by {metric}"),
        subtitle: format!("job {id}: each variant on the same folds, best first"),
        plot: Plot::Bars(BarPlot { y, bars }),
    };
    respond(figure, format).await
}
