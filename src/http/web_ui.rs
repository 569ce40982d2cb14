//! The dashboard at `/`: one HTML page, its script and its stylesheet (`ui/`), embedded in the
//! binary so it works offline with no build step. They carry no data, so they are open without
//! a token; the page asks for one when the API answers 401 and sends it as a bearer header.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::state::Route;

const INDEX: &str = include_str!("../../ui/index.html");
const SCRIPT: &str = include_str!("../../ui/app.js");
const STYLE: &str = include_str!("../../ui/app.css");

/// The UI's paths (open: `service::is_open_path`).
pub const UI_PATHS: [&str; 3] = ["/", "/ui/app.js", "/ui/app.css"];

pub fn routes() -> Vec<Route> {
    vec![
        (
            UI_PATHS[0],
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        ),
        (
            UI_PATHS[1],
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        ),
        (
            UI_PATHS[2],
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        ),
    ]
}

/// An embedded file: revalidated on every load (a new binary serves new files), scripts only
/// from this origin.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                 frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
