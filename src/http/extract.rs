//! Extractors that report problems in our problem+json shape instead of axum's plain text.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::FieldError;

/// The query string as name/value pairs; handlers `take` what they know and report the rest
/// (and any parameter given twice: which value was meant is a guess not to make).
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parameters given more than once, with how many times.
    fn repeated(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for (k, _) in &self.0 {
            match counts.iter_mut().find(|(n, _)| n == k) {
                Some((_, c)) => *c += 1,
                None => counts.push((k.clone(), 1)),
            }
        }
        counts.retain(|(_, c)| *c > 1);
        counts
    }
}

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
        let params = QueryParams(pairs);
        let repeated = params.repeated();
        Ok(match repeated.is_empty() {
            true => params,
            // Kept under a name no route takes, so `unknown` reports each once.
            false => QueryParams(
                repeated
                    .into_iter()
                    .map(|(k, n)| (format!("{REPEATED}{k}"), n.to_string()))
                    .chain(params.0)
                    .collect(),
            ),
        })
    }
}

/// Marks a parameter given more than once (see `QueryParams::unknown`).
const REPEATED: &str = "\u{0}repeated:";

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

    /// `name` as one of `allowed` (`None` when absent); any other value is a 422 listing them.
    pub fn take_choice(
        &mut self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, crate::error::ApiError> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        allowed
            .iter()
            .find(|a| **a == value)
            .copied()
            .map(Some)
            .ok_or_else(|| {
                crate::error::ApiError::invalid_field(
                    name,
                    format!("{value:?} is not one of {}", allowed.join(", ")),
                )
            })
    }

    /// `name` as a whole number from 1 to `max` (`None` when absent); anything else is a 422
    /// saying so.
    pub fn take_count(
        &mut self,
        name: &str,
        max: usize,
    ) -> Result<Option<usize>, crate::error::ApiError> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        let n = value
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n));
        n.map(Some).ok_or_else(|| {
            crate::error::ApiError::invalid_field(name, format!("a whole number from 1 to {max}"))
        })
    }

    /// `name` as `true` or `false` (absent: false).
    pub fn take_bool(&mut self, name: &str) -> Result<bool, crate::error::ApiError> {
        Ok(self.take_choice(name, &["true", "false"])? == Some("true"))
    }

    /// The last value of `name`, left in place.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Errors for every parameter no one took (typos are caught, not ignored), and for every
    /// one given more than once.
    pub fn unknown(self, known: &[&str]) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = Vec::new();
        for (k, v) in self.0 {
            if let Some(name) = k.strip_prefix(REPEATED) {
                errors.push(FieldError::new(
                    name,
                    format!("given {v} times; give each query parameter once"),
                ));
            } else if !errors.iter().any(|e| e.field == k) {
                errors.push(FieldError::new(
                    k,
                    format!(
                        "unknown query parameter; this route takes {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        errors
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

/// Whether the client's `Accept` prefers `text/csv` to `application/json` (the default): by
/// q-value, each type matched by its most specific range (`text/csv`, `text/*`, `*/*`); on a
/// tie, the one named more specifically, then the one named first.
pub fn prefers_csv(headers: &axum::http::HeaderMap) -> bool {
    let Some(accept) = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let ranges: Vec<(String, f64)> = accept
        .split(',')
        .map(|part| {
            let mut fields = part.split(';');
            let range = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = fields
                .filter_map(|f| f.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            (range, q)
        })
        .collect();
    // (specificity, q, position) of the best range matching `media`.
    let matched = |media: &str| {
        let kind = media.split('/').next().unwrap_or("");
        ranges
            .iter()
            .enumerate()
            .filter_map(|(i, (r, q))| {
                let specificity = match r.as_str() {
                    r if r == media => 3,
                    r if r == format!("{kind}/*") => 2,
                    "*/*" => 1,
                    _ => return None,
                };
                Some((specificity, *q, i))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)))
    };
    match (matched("text/csv"), matched("application/json")) {
        (None, _) => false,
        (Some((_, q, _)), _) if q <= 0.0 => false,
        (Some(_), None) => true,
        (Some((sc, qc, ic)), Some((sj, qj, ij))) => {
            qc > qj || (qc == qj && (sc > sj || (sc == sj && ic < ij)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::ACCEPT, v.parse().unwrap());
        h
    }

    #[test]
    fn csv_is_chosen_only_when_the_accept_header_prefers_it() {
        for (header, csv) in [
            ("text/csv", true),
            ("text/csv, application/json", true),
            ("application/json, text/csv", false),
            ("text/csv;q=0, application/json", false),
            ("text/csv;q=0", false),
            ("application/json;q=0.5, text/csv;q=0.9", true),
            ("text/*", true),
            ("*/*", false),
            ("*/*, text/csv", true),
            ("application/json", false),
        ] {
            assert_eq!(prefers_csv(&accept(header)), csv, "{header}");
        }
        assert!(!prefers_csv(&axum::http::HeaderMap::new()));
    }
}
