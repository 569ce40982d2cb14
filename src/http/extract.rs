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
    let cursor = q.take("cursor").and_then(|s| match s.parse::<i64>() {
        Ok(n) if n > 0 => Some(n),
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
