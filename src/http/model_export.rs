//! `GET /v1/jobs/{id}/model.onnx` and `GET /v1/runs/{id}/model.onnx`: the models predict
//! answers with (or one run's) as an ONNX file, the preprocessing inside.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::extract::QueryParams;
use super::predict::{succeeded_job, take_ensemble};
use super::state::{AppState, Route};
use crate::error::ApiError;
use crate::jobs::export;

/// Most steps a recurrent model's export is unrolled over (`?steps=`): its graph grows with
/// them (some twenty nodes per step, layer and direction).
const MAX_UNROLL_STEPS: usize = 4096;

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/jobs/{id}/model.onnx", get(job_model)),
        ("/v1/runs/{id}/model.onnx", get(run_model)),
    ]
}

fn onnx_file(name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}.onnx\"");
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    (headers, bytes).into_response()
}

async fn job_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> Result<Response, ApiError> {
    let asked = take_ensemble(&mut query)?;
    let unroll = query.take_count("steps", MAX_UNROLL_STEPS)?;
    let unknown = query.unknown(&["ensemble", "steps"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let job = succeeded_job(&state, &id, "its model is exported").await?;
    let on = (&state.pool, &state.predict_pool);
    let bytes = export::job_onnx(on, &job, asked, unroll).await?;
    Ok(onnx_file(&id, bytes))
}

async fn run_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> Result<Response, ApiError> {
    let unroll = query.take_count("steps", MAX_UNROLL_STEPS)?;
    let unknown = query.unknown(&["steps"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let bytes = export::run_onnx((&state.pool, &state.predict_pool), &id, unroll).await?;
    Ok(onnx_file(&id, bytes))
}
