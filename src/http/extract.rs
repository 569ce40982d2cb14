//! Extractors that report problems in our problem+json shape instead of axum's plain text.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::FieldError;

/// The query string as name/value pairs; handlers `take` what they know and report the rest.
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let pairs = parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(QueryParams(pairs))
    }
}

impl QueryParams {
    /// Removes and returns the last value of `name`.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let mut found = None;
        self.0.retain(|(k, v)| {
            if k == name {
                found = Some(v.clone());
                false
            } else {
                true
            }
        });
        found
    }

    /// The last value of `name`, left in place.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Errors for every parameter no one took (typos are caught, not ignored).
    pub fn unknown(self, known: &[&str]) -> Vec<FieldError> {
        self.0
            .into_iter()
            .map(|(k, _)| {
                FieldError::new(
                    k.clone(),
                    format!(
                        "unknown query parameter; this route takes {}",
                        known.join(", ")
                    ),
                )
            })
            .collect()
    }
}

/// Parses `limit` and `cursor` of a list route; errors name the parameter.
pub fn page_params(q: &mut QueryParams, errors: &mut Vec<FieldError>) -> (u32, Option<i64>) {
    let limit = match q.take("limit") {
        None => 50,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("{s:?} is not an integer from 1 to 1000"),
                ));
                50
            }
        },
    };
    // An empty cursor is the first page, as an absent one.
    let cursor = q
        .take("cursor")
        .filter(|s| !s.is_empty())
        .and_then(|s| match s.parse::<i64>() {
            // 0 is a valid cursor (nothing comes before it): what the schema's pattern allows.
            Ok(n) if n >= 0 => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "cursor",
                    "not a cursor this server returned (use next_cursor from the previous page)",
                ));
                None
            }
        });
    (limit, cursor)
}

/// A JSON body as a `serde_json::Value`: malformed JSON is a 400 with its line and column, a
/// non-JSON content type a 415, an oversized body a 413, all in problem+json.
#[derive(Debug)]
pub struct JsonBody(pub serde_json::Value);

impl axum::extract::FromRequest<super::state::AppState> for JsonBody {
    type Rejection = crate::error::ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &super::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let (content_type, essence) = media_type(req.headers());
        if essence != "application/json" {
            return Err(unsupported(content_type, "application/json"));
        }
        let LimitedBytes(bytes) = LimitedBytes::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The 415 for a body of another media type than `supported`.
pub fn unsupported(content_type: String, supported: &str) -> crate::error::ApiError {
    crate::error::ApiError::UnsupportedMediaType {
        got: if content_type.is_empty() {
            "(none)".into()
        } else {
            content_type
        },
        supported: supported.into(),
    }
}

/// The request's `Content-Type` as sent, and its media type lowercased without parameters.
pub fn media_type(headers: &axum::http::HeaderMap) -> (String, String) {
    let raw = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)").to_owned())
        .unwrap_or_default();
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (raw, essence)
}

/// Parses a JSON body; malformed JSON is a 400 with its line and column.
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, crate::error::ApiError> {
    serde_json::from_slice(bytes).map_err(|e| crate::error::ApiError::Malformed {
        detail: format!("malformed JSON: {e}"),
        location: crate::error::Location {
            line: Some(e.line() as u64),
            column: Some(e.column() as u64),
        },
        errors: vec![],
    })
}

/// The body's bytes within the JSON-route limit; over it is a 413 in problem+json.
#[derive(Debug)]
pub struct LimitedBytes(pub axum::body::Bytes);

impl axum::extract::FromRequest<super::state::AppState> for LimitedBytes {
    type Rejection = crate::error::ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &super::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        use crate::error::ApiError;
        axum::body::Bytes::from_request(req, state)
            .await
            .map(LimitedBytes)
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge {
                        limit: state.limits.max_json_body_bytes,
                    }
                } else if super::serve::is_body_timeout(&rejection) {
                    ApiError::RequestTimeout(
                        "the request body stalled or took too long; it was not read".into(),
                    )
                } else {
                    ApiError::malformed(format!("could not read the request body: {rejection}"))
                }
            })
    }
}
