//! Bearer-token auth: every protected route needs one of the configured tokens. Tokens are
//! compared as SHA-256 digests in constant time, so neither content nor length leaks.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::state::AppState;
use crate::error::ApiError;

/// Middleware, before routing: 401 unless auth is off, the path is open (`/healthz`, `/readyz`)
/// or the request carries an accepted bearer token.
pub async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.tokens.is_empty() || super::service::is_open_path(req.uri().path()) {
        return Ok(next.run(req).await);
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        Some(token) if state.tokens.accepts(token) => Ok(next.run(req).await),
        _ => Err(ApiError::Unauthorized),
    }
}
