//! The sequence half of `POST /v1/jobs/{id}/predict`: the body read as sequences (a `.ts` file
//! or JSON) of the model's channels; `jobs::predict` scores them.

use axum::http::HeaderMap;

use super::extract::{media_type, parse_json, unsupported};
use super::state::AppState;
use crate::error::ApiError;
use crate::ingest::predict_sequences::PredictSequences;
use crate::ingest::ts::TsLimits;

/// Reads the body as sequences of `channels` (`.ts` by content type or `?format=ts`).
pub fn sequences_of(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    ts: bool,
    channels: usize,
    max_sequences: usize,
) -> Result<PredictSequences, ApiError> {
    let limits = TsLimits {
        max_steps: usize::try_from(state.limits.max_sequence_steps).unwrap_or(usize::MAX),
        max_values: usize::try_from(state.limits.max_cells).unwrap_or(usize::MAX),
        max_channels: channels,
        max_sequences,
    };
    let (content_type, essence) = media_type(headers);
    Ok(match essence.as_str() {
        _ if ts => PredictSequences::from_ts(body, &limits, channels)?,
        "text/x-ts" => PredictSequences::from_ts(body, &limits, channels)?,
        "application/json" => PredictSequences::from_json(&parse_json(body)?, &limits, channels)?,
        _ => {
            return Err(unsupported(
                content_type,
                "application/json {\"sequences\": [...]} or text/x-ts",
            ));
        }
    })
}
