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
    let unknown = query.unknown(&["ensemble"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let job = succeeded_job(&state, &id, "its model is exported").await?;
    let bytes = export::job_onnx((&state.pool, &state.predict_pool), &job, asked).await?;
    Ok(onnx_file(&id, bytes))
}

async fn run_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = export::run_onnx((&state.pool, &state.predict_pool), &id).await?;
    Ok(onnx_file(&id, bytes))
}
