//! `ApiError`: every failure a handler can return, turned into RFC 9457 problem+json here and
//! nowhere else. Causes of 5xx errors are logged, never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ingest::IngestError;

/// One invalid field of a request, with its JSON path (`training.epochs`) or query name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where in an uploaded body a problem is (1-based line and column).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
}

/// Every error a route can answer with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the body (JSON, CSV) or a query string cannot be read.
    #[error("{detail}")]
    Malformed {
        detail: String,
        location: Location,
        errors: Vec<FieldError>,
    },
    /// 401: no bearer token, or not one of the configured ones.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// 404: no such route, or no object with that id.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the state of an object (or an idempotency key).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the route's limit.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// 415: a content type the route does not take.
    #[error("unsupported content type {got:?}; this route takes {supported}")]
    UnsupportedMediaType { got: String, supported: String },
    /// 422: well-formed, but invalid; `errors` lists every invalid field at once.
    #[error("{detail}")]
    Invalid {
        detail: String,
        location: Location,
        errors: Vec<FieldError>,
    },
    /// 408: the request's body stalled or took longer than the server waits.
    #[error("{0}")]
    RequestTimeout(String),
    /// 429: too many of something at once (event streams); try again later.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: not ready (database unreachable or not migrated).
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an infrastructure failure; logged, and the client sees no cause.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::jobs::submit::SubmitError> for ApiError {
    fn from(e: crate::jobs::submit::SubmitError) -> Self {
        use crate::jobs::submit::SubmitError;
        match e {
            SubmitError::Invalid(errors) => ApiError::invalid_fields(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.message))
                    .collect(),
            ),
            SubmitError::KeyReused => ApiError::Conflict(e.to_string()),
            SubmitError::Store(e) => write_failed(e),
        }
    }
}

impl From<crate::jobs::predict::PredictError> for ApiError {
    fn from(e: crate::jobs::predict::PredictError) -> Self {
        use crate::jobs::predict::PredictError;
        match e {
            PredictError::NoModels(m) => ApiError::Conflict(m),
            PredictError::NotFinite { ref field } => ApiError::invalid_field(field, e.to_string()),
            PredictError::Store(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::jobs::export::ExportFailure> for ApiError {
    fn from(e: crate::jobs::export::ExportFailure) -> Self {
        use crate::engine::onnx::ExportError;
        use crate::jobs::export::ExportFailure;
        match e {
            ExportFailure::NotFound(m) => ApiError::NotFound(m),
            // The model exists but cannot be exported as it is (a family not built yet).
            ExportFailure::NotReady(m) => ApiError::Conflict(m),
            ExportFailure::Export(e @ ExportError::StepsOnTable) => {
                ApiError::invalid_field("steps", e.to_string())
            }
            ExportFailure::Export(e) => ApiError::Conflict(e.to_string()),
            ExportFailure::Store(e) => ApiError::Internal(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl ApiError {
    /// A 422 with a single invalid field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let e = FieldError::new(field, message);
        ApiError::Invalid {
            detail: format!("{}: {}", e.field, e.message),
            location: Location::default(),
            errors: vec![e],
        }
    }

    /// A 422 listing every invalid field (the detail names the first few and counts the rest).
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        const NAMED: usize = 5;
        let mut detail = errors
            .iter()
            .take(NAMED)
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        if errors.len() > NAMED {
            detail.push_str(&format!(" (and {} more)", errors.len() - NAMED));
        }
        ApiError::Invalid {
            detail,
            location: Location::default(),
            errors,
        }
    }

    /// A 400 for an unreadable body or parameter.
    pub fn malformed(detail: impl Into<String>) -> Self {
        ApiError::Malformed {
            detail: detail.into(),
            location: Location::default(),
            errors: vec![],
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type: a stable URN per kind, so clients can branch on it.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::Malformed { .. } => "malformed-request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType { .. } => "unsupported-media-type",
            ApiError::Invalid { .. } => "invalid-request",
            ApiError::RequestTimeout(_) => "request-timeout",
            ApiError::TooManyRequests(_) => "too-many-requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal-error",
        }
    }
}

/// The problem type of a status no handler chose (an error shaped by the framework).
fn kind_of_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "malformed-request",
        401 => "unauthorized",
        404 => "not-found",
        405 => "method-not-allowed",
        408 => "request-timeout",
        413 => "payload-too-large",
        414 => "uri-too-long",
        415 => "unsupported-media-type",
        422 => "invalid-request",
        429 => "too-many-requests",
        431 => "headers-too-large",
        503 => "unavailable",
        s if s >= 500 => "internal-error",
        _ => "error",
    }
}

/// A problem+json response for `status` with `detail`, for errors that did not come from an
/// `ApiError` (framework rejections, the URI and header limits).
pub fn problem_of_status(status: StatusCode, detail: &str) -> Response {
    let problem = Problem {
        type_: format!("urn:crossfold:problem:{}", kind_of_status(status)),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: capped(detail.to_owned()),
        errors: vec![],
        errors_omitted: None,
        line: None,
        column: None,
    };
    problem_response(status, &problem)
}

fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let mut res = (status, axum::Json(problem)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::REQUEST_TIMEOUT {
        // The body was not read to its end: the connection cannot carry another request.
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Most field errors a problem lists; the rest are counted in `errors_omitted`, so an error is
/// never much larger than a request (a spec with a million bad widths).
pub const MAX_LISTED_ERRORS: usize = 100;
/// Longest `detail`, `field` or `message` text, in characters (they can quote user input).
const MAX_TEXT: usize = 500;

/// `text` cut to `MAX_TEXT` characters, marked with an ellipsis when cut.
fn capped(mut text: String) -> String {
    if let Some((at, _)) = text.char_indices().nth(MAX_TEXT) {
        text.truncate(at);
        text.push('…');
    }
    text
}

/// The RFC 9457 body.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Field errors beyond the first `MAX_LISTED_ERRORS`, not listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors_omitted: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = match self {
            ApiError::Internal(cause) => match crate::store::health::unreachable(&cause) {
                Some(reason) => ApiError::Unavailable(format!(
                    "the database cannot be reached ({reason}); try again"
                )),
                None => ApiError::Internal(cause),
            },
            other => other,
        };
        let status = this.status();
        let kind = this.kind();
        let detail = match &this {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                "an internal error occurred; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let (location, errors) = match this {
            ApiError::Malformed {
                location, errors, ..
            }
            | ApiError::Invalid {
                location, errors, ..
            } => (location, errors),
            _ => (Location::default(), vec![]),
        };
        let omitted = errors.len().saturating_sub(MAX_LISTED_ERRORS);
        let errors: Vec<FieldError> = errors
            .into_iter()
            .take(MAX_LISTED_ERRORS)
            .map(|e| FieldError {
                field: capped(e.field),
                message: capped(e.message),
            })
            .collect();
        let problem = Problem {
            type_: format!("urn:crossfold:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: capped(detail),
            errors,
            errors_omitted: (omitted > 0).then_some(omitted),
            line: location.line,
            column: location.column,
        };
        problem_response(status, &problem)
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let location = Location {
            line: e.line,
            column: e.column,
        };
        let errors = e
            .field
            .iter()
            .map(|f| FieldError::new(f.clone(), e.message.clone()))
            .collect();
        let detail = e.to_string();
        match e.kind {
            crate::ingest::IngestErrorKind::Malformed => ApiError::Malformed {
                detail,
                location,
                errors,
            },
            crate::ingest::IngestErrorKind::Invalid => ApiError::Invalid {
                detail,
                location,
                errors,
            },
            crate::ingest::IngestErrorKind::TooLarge { limit } => {
                ApiError::PayloadTooLarge { limit }
            }
            crate::ingest::IngestErrorKind::Internal => {
                ApiError::Internal(anyhow::anyhow!(detail).context("ingesting an upload"))
            }
        }
    }
}

/// A failed write as the client sees it: a full disk or an I/O error is a 503 (nothing was
/// stored; try again later), anything else a 500.
pub fn write_failed(e: anyhow::Error) -> ApiError {
    match crate::store::health::classify(&e) {
        crate::store::health::Fault::Storage(reason) => ApiError::Unavailable(format!(
            "the database cannot be written ({reason}); nothing was stored"
        )),
        _ => ApiError::Internal(e),
    }
}
