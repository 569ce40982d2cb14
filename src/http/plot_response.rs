//! What every plot endpoint answers: the figure drawn as SVG, or with `?format=json` the
//! figure's data (its series and points), for services that draw their own.

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::extract::QueryParams;
use crate::error::ApiError;
use crate::plots::Figure;

/// `?format=`: `svg` (the default) or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Json,
}

impl Format {
    /// Takes `format` from the query, and fails on any parameter but it and `extra` (which
    /// the caller takes first).
    pub fn take(mut query: QueryParams, extra: &[&str]) -> Result<Self, ApiError> {
        let format = match query.take("format").as_deref() {
            None | Some("svg") => Format::Svg,
            Some("json") => Format::Json,
            Some(_) => return Err(ApiError::invalid_field("format", "svg or json")),
        };
        let known: Vec<&str> = std::iter::once("format")
            .chain(extra.iter().copied())
            .collect();
        let unknown = query.unknown(&known);
        if !unknown.is_empty() {
            return Err(ApiError::invalid_fields(unknown));
        }
        Ok(format)
    }
}

/// The figure as asked: SVG drawn off the async runtime, or its data as JSON.
pub async fn respond(figure: Figure, format: Format) -> Result<Response, ApiError> {
    match format {
        Format::Json => Ok(Json(figure).into_response()),
        Format::Svg => {
            let svg = tokio::task::spawn_blocking(move || figure.to_svg())
                .await
                .map_err(|e| anyhow::anyhow!("drawing a plot: {e}"))?;
            Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
        }
    }
}
