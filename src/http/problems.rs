//! Every error in problem+json: limits on the request head checked before routing (so a long
//! URI or huge headers get a problem body, not hyper's empty one), and error responses shaped
//! by the framework (extractor rejections such as a path id that is not UTF-8) reshaped.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::problem_of_status;

/// Longest request URI (path and query), in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most bytes of request headers (names and values).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most of a framework error's text kept as the problem's detail.
const MAX_DETAIL_BYTES: usize = 4096;

/// Outer layer: 414 for a long URI, 431 for large headers, and problem+json for every error
/// response that is not one already.
pub async fn problem_json(req: Request, next: Next) -> Response {
    // Measured, not formatted: this runs on every request.
    let uri = req.uri();
    let uri_len = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    if uri_len > MAX_URI_BYTES {
        return problem_of_status(
            StatusCode::URI_TOO_LONG,
            &format!("the request URI has {uri_len} bytes; at most {MAX_URI_BYTES}"),
        );
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return problem_of_status(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!("the request headers have {header_bytes} bytes; at most {MAX_HEADER_BYTES}"),
        );
    }
    let res = next.run(req).await;
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if status.as_u16() < 400 || is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, MAX_DETAIL_BYTES).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut reshaped = problem_of_status(status, &text);
    // Keep what the framework said beyond the body (Allow on a 405, …).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            reshaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    reshaped
}
