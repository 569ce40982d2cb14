//! `GET /v1/jobs/{id}/leaderboard.svg`: the ranked metric's mean ± std over the folds for
//! each variant (strategy, or model and strategy) of a comparison, best first; a single
//! variant's one bar. `?format=json` gives the numbers.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::extract::QueryParams;
use super::plot_response::{Format, plot_routes, respond};
use super::state::{AppState, Route};
use crate::domain::metric::Metric;
use crate::error::ApiError;
use crate::plots::{Axis, Bar, BarPlot, Figure, Plot};

pub fn routes() -> Vec<Route> {
    plot_routes(
        "/v1/jobs/{id}/leaderboard.svg",
        "/v1/jobs/{id}/leaderboard.json",
        get(leaderboard),
    )
}

async fn leaderboard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let format = Format::take(query, &[])?;
    let job = super::jobs::job_or_404(&state, &id).await?;
    let metric = job.spec.imbalance.rank_by;
    let models = job.spec.has_model_variants();
    // The leaderboard as the job's metrics show it (stored when it settled).
    let board = match crate::jobs::metrics::results(&state.pool, &id).await? {
        Some((_, _, results)) => results.leaderboard,
        None => None,
    };
    let bars: Vec<Bar> = match board {
        Some(board) => board
            .iter()
            .filter_map(|s| {
                Some(Bar {
                    label: if models {
                        format!("{} {}", s.variant, s.described())
                    } else {
                        s.described()
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
    // The range the bars and their error bars span, with a margin: 0.964 and 0.976 must look
    // different (scores stay within [0, 1], a loss above 0).
    let label = format!("{metric}: bar the mean, line ± one std over folds");
    let y = Axis {
        range: zoomed(&bars, metric != Metric::LogLoss),
        ..Axis::linear(&label)
    };
    let figure = Figure {
        title: format!("Leaderboard by {metric}"),
        subtitle: format!("job {id}: each variant on the same folds, best first"),
        plot: Plot::Bars(BarPlot { y, bars }),
    };
    respond(figure, format).await
}

/// The y range that shows the differences between `bars`: their lowest and highest reach (mean
/// ∓ std) with a tenth of the span (at least 0.01) either side, within [0, 1] for a score and
/// above 0 for a loss.
fn zoomed(bars: &[Bar], score: bool) -> Option<(f64, f64)> {
    let reach = |b: &Bar, sign: f64| b.value + sign * b.error.unwrap_or(0.0);
    let lo = bars
        .iter()
        .map(|b| reach(b, -1.0))
        .filter(|v| v.is_finite())
        .reduce(f64::min)?;
    let hi = bars
        .iter()
        .map(|b| reach(b, 1.0))
        .filter(|v| v.is_finite())
        .reduce(f64::max)?;
    let pad = ((hi - lo) * 0.1).max(0.01);
    let top = if score { (hi + pad).min(1.0) } else { hi + pad };
    Some(((lo - pad).max(0.0), top))
}
