//! What every plot endpoint answers: the figure drawn as SVG, or with `?format=json` (or at its
//! `.json` path) the figure's data (its series and points), for services that draw their own.

use axum::Json;
use axum::extract::Request;
use axum::http::{Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::extract::QueryParams;
use super::state::{AppState, Route};
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

/// A plot's two paths: `svg_path` draws it (or gives its data with `?format=json`) and
/// `json_path` gives its data. One response type per path is what generated clients can type.
pub fn plot_routes(
    svg_path: &'static str,
    json_path: &'static str,
    handler: MethodRouter<AppState>,
) -> Vec<Route> {
    let data = handler.clone().layer(middleware::map_request(as_data));
    vec![(svg_path, handler), (json_path, data)]
}

/// A `.json` request is its `.svg` one with `format=json`; `format` itself is a 422 there.
async fn as_data(mut req: Request) -> Result<Request, ApiError> {
    let query = req.uri().query().unwrap_or("");
    if form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "format") {
        return Err(ApiError::invalid_field(
            "format",
            "not taken at a .json path, which gives the figure's data (the .svg path draws it)",
        ));
    }
    let path = req.uri().path();
    let with_format = match query {
        "" => format!("{path}?format=json"),
        q => format!("{path}?{q}&format=json"),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        with_format
            .parse()
            .map_err(|e| anyhow::anyhow!("rewriting a plot's path: {e}"))?,
    );
    *req.uri_mut() =
        Uri::from_parts(parts).map_err(|e| anyhow::anyhow!("rewriting a plot's path: {e}"))?;
    Ok(req)
}
