//! The sequence half of `POST /v1/jobs/{id}/predict`: the body read as sequences (a `.ts` file
//! or JSON) of the model's channels; `jobs::predict` scores them.

use axum::http::HeaderMap;

use super::body_format::body_format;
use super::extract::parse_json;
use super::state::AppState;
use crate::domain::dataset::UploadFormat;
use crate::error::ApiError;
use crate::ingest::predict_sequences::PredictSequences;
use crate::ingest::ts::TsLimits;

/// Reads the body as sequences of `channels`: JSON, or `.ts` (by content type or `?format=ts`).
pub fn sequences_of(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    format: Option<&str>,
    channels: usize,
    max_sequences: usize,
) -> Result<PredictSequences, ApiError> {
    let limits = TsLimits {
        max_steps: usize::try_from(state.limits.max_sequence_steps).unwrap_or(usize::MAX),
        max_values: usize::try_from(state.limits.max_cells).unwrap_or(usize::MAX),
        max_channels: channels,
        max_sequences,
    };
    let accepted = [UploadFormat::Json, UploadFormat::Ts];
    Ok(match body_format(format, headers, &accepted)? {
        UploadFormat::Ts => PredictSequences::from_ts(body, &limits, channels)?,
        _ => PredictSequences::from_json(&parse_json(body)?, &limits, channels)?,
    })
}
