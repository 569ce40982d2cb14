//! `GET /v1/jobs/{id}/gradients.svg`: per-layer gradient norm per epoch on a log scale, one
//! line per layer: the classic picture of vanishing (lines fanning apart by decades) and
//! exploding gradients. One run: `?run_id=`, else the job's first run with epochs.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::extract::QueryParams;
use super::jobs::job_or_404;
use super::state::{AppState, Route};
use super::svg::{Chart, Line, Marker};
use crate::domain::finding::Kind;
use crate::error::ApiError;
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/gradients.svg", get(gradients))]
}

async fn gradients(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> Result<Response, ApiError> {
    let wanted = query.take("run_id");
    let unknown = query.unknown(&["run_id"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let job = job_or_404(&state, &id).await?;
    let runs =
        store::run_data::runs_of_job(&state.pool, &id, store::run_data::Detail::Summary).await?;
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
    let history = store::run_data::epoch_history(&state.pool, &run.id)
        .await?
        .unwrap_or_default();
    let layers = history
        .iter()
        .map(|r| r.layer_grad_norms.len())
        .max()
        .unwrap_or(0);
    let lines = (0..layers)
        .map(|l| Line {
            name: if l + 1 == layers {
                "output layer".into()
            } else {
                format!("layer {l}")
            },
            colour: l,
            dashed: false,
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
    let subtitle = format!(
        "{id}, run {} ({})",
        run.id,
        run.fold.map_or("final".to_owned(), |f| format!("fold {f}"))
    );
    let chart = Chart {
        title: "Gradient norm per layer and epoch",
        subtitle: &subtitle,
        x_label: "epoch",
        y_label: "gradient norm",
        log_y: true,
        lines,
        markers,
        x_range: None,
    };
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], chart.render()).into_response())
}
