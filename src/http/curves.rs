//! `GET /v1/jobs/{id}/curves.svg`: learning curves, training loss (solid) and validation loss
//! (dashed: the inner early-stopping split, or else the held-out fold) per epoch, one colour
//! per fold. Plain SVG written by hand: a few polylines need no plotting crate.

use crate::engine::train::EpochRecord;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::jobs::job_or_404;
use super::state::{AppState, Route};
use crate::error::ApiError;
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/curves.svg", get(curves))]
}

const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];
/// One run's curves: its name, training-loss points and validation-loss points (epoch, loss).
type Series = (String, Vec<(f64, f64)>, Vec<(f64, f64)>);

const W: f64 = 640.0;
const H: f64 = 400.0;
const PAD: f64 = 48.0;

async fn curves(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    job_or_404(&state, &id).await?;
    let mut series: Vec<Series> = Vec::new();
    for run in
        store::run_data::runs_of_job(&state.pool, &id, store::run_data::Detail::Summary).await?
    {
        let history = store::run_data::epoch_history(&state.pool, &run.id)
            .await?
            .unwrap_or_default();
        let point = |r: &EpochRecord, loss: Option<f64>| {
            Some((r.epoch as f64, loss.filter(|v| v.is_finite())?))
        };
        let train: Vec<(f64, f64)> = history
            .iter()
            .filter_map(|r| point(r, Some(r.train_loss)))
            .collect();
        let val: Vec<(f64, f64)> = history
            .iter()
            .filter_map(|r| point(r, r.val_loss).or_else(|| point(r, r.holdout_loss)))
            .collect();
        let name = match run.fold {
            Some(f) => format!(
                "fold {f}{}",
                run.repeat
                    .filter(|&r| r > 0)
                    .map(|r| format!(" (repeat {r})"))
                    .unwrap_or_default()
            ),
            None => run.kind.as_str().to_owned(),
        };
        series.push((name, train, val));
    }
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml")],
        render(&id, &series),
    )
        .into_response())
}

fn render(id: &str, series: &[Series]) -> String {
    let points = series.iter().flat_map(|s| s.1.iter().chain(&s.2));
    let (mut max_x, mut max_y) = (1.0f64, 0.0f64);
    for &(x, y) in points {
        max_x = max_x.max(x);
        max_y = max_y.max(y);
    }
    let max_y = if max_y > 0.0 { max_y * 1.05 } else { 1.0 };
    let sx = |x: f64| PAD + (x - 1.0) / (max_x - 1.0).max(1.0) * (W - 2.0 * PAD);
    let sy = |y: f64| H - PAD - y / max_y * (H - 2.0 * PAD);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{PAD}\" y=\"18\" font-size=\"13\">Learning curves: training loss (solid), validation loss (dashed)</text>\n\
         <text x=\"{PAD}\" y=\"34\" fill=\"#555\">{id}</text>\n\
         <line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/><line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"black\"/>\n\
         <text x=\"{cx}\" y=\"{lx}\" text-anchor=\"middle\">epoch (1 to {max_x})</text>\n\
         <text x=\"12\" y=\"{cy}\" transform=\"rotate(-90 12 {cy})\" text-anchor=\"middle\">loss (0 to {max_y:.3})</text>\n",
        b = H - PAD,
        r = W - PAD,
        cx = W / 2.0,
        lx = H - 12.0,
        cy = H / 2.0,
    );
    for (i, (name, train, val)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        for (line, dash) in [(train, ""), (val, " stroke-dasharray=\"5 3\"")] {
            if line.is_empty() {
                continue;
            }
            let pts: Vec<String> = line
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                .collect();
            svg.push_str(&format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash} points=\"{}\"/>\n", pts.join(" ")));
        }
        let ly = PAD + 14.0 * i as f64;
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{ly}\" fill=\"{colour}\">{name}</text>\n",
            W - PAD - 90.0
        ));
    }
    svg.push_str("</svg>\n");
    svg
}
