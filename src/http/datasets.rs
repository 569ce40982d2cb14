//! `/v1/datasets`: upload (CSV, JSON, NDJSON), list, get, delete.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::body_format::body_format;
use super::extract::{QueryParams, page_params};
use super::state::{AppState, Route};
use super::upload::{self, Pumped};
use crate::catalog::{self, Deleted, StoreError, Stored};
use crate::domain::dataset::{ColumnType, DatasetSummary, UploadFormat};
use crate::error::{ApiError, FieldError};
use crate::ingest::{self, IngestOptions, SequenceSource};

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/datasets", get(list).post(create)),
        ("/v1/datasets/{id}", get(show).delete(remove)),
    ]
}

/// A page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What the query string of an upload says.
struct UploadParams {
    name: String,
    label: String,
    delimiter: u8,
    /// Where the sequences are: a JSON / NDJSON field, or long-format CSV's columns.
    sequence: Option<SequenceSource>,
    /// Column types declared by `types=name:numeric,other:categorical`.
    types: Vec<(String, ColumnType)>,
}

/// `types`: `name:numeric` or `name:categorical`, comma-separated (a name is everything before
/// its last colon).
fn column_types(q: &mut QueryParams, errors: &mut Vec<FieldError>) -> Vec<(String, ColumnType)> {
    let Some(text) = q.take("types") else {
        return Vec::new();
    };
    let mut types = Vec::new();
    for item in text.split(',') {
        let parsed = item.rsplit_once(':').and_then(|(name, kind)| {
            let kind = match kind.trim() {
                "numeric" => ColumnType::Numeric,
                "categorical" => ColumnType::Categorical,
                _ => return None,
            };
            (!name.is_empty()).then(|| (name.to_owned(), kind))
        });
        match parsed {
            Some((name, _)) if types.iter().any(|(n, _)| *n == name) => {
                errors.push(FieldError::new("types", format!("{name:?} is given twice")))
            }
            Some(t) => types.push(t),
            None => errors.push(FieldError::new(
                "types",
                format!("{item:?} is not name:numeric or name:categorical"),
            )),
        }
    }
    types
}

/// The `name` and `label` parameters, each problem pushed to `errors`. Neither may hold a NUL:
/// PostgreSQL's text cannot, so it is refused on every backend alike.
fn name_and_label(q: &mut QueryParams, errors: &mut Vec<FieldError>) -> (String, String) {
    let name = q.take("name").unwrap_or_else(|| "dataset".to_owned());
    if name.trim().is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if name.contains('\0') {
        errors.push(FieldError::new("name", "must not contain a NUL character"));
    }
    let label = q.take("label").unwrap_or_else(|| "label".to_owned());
    if label.is_empty() || label.contains('\0') {
        errors.push(FieldError::new(
            "label",
            "must name the label column (without a NUL character)",
        ));
    }
    (name, label)
}

fn upload_params(mut q: QueryParams, format: UploadFormat) -> Result<UploadParams, ApiError> {
    let mut errors = Vec::new();
    // `format` is read with the Content-Type (`body_format`).
    q.take("format");
    // A .ts file's labels are the column `label`; naming it so (as clients that send every
    // default do) is fine, naming another is a 422.
    if format == UploadFormat::Ts && q.take("label").is_some_and(|l| l != "label") {
        errors.push(FieldError::new(
            "label",
            "a .ts file carries its class labels (the last field of each line) as the column \
             `label`: leave label out",
        ));
    }
    let (name, label) = name_and_label(&mut q, &mut errors);
    let types = column_types(&mut q, &mut errors);
    // Exactly what openapi.yaml's pattern allows: `tab`, or one printable ASCII character
    // other than the quote.
    let delimiter = match q.take("delimiter").as_deref() {
        None => b',',
        Some("tab") => b'\t',
        Some(d) if d.len() == 1 && matches!(d.as_bytes()[0], b' ' | b'!' | b'#'..=b'~') => {
            d.as_bytes()[0]
        }
        Some(d) => {
            errors.push(FieldError::new(
                "delimiter",
                format!("{d:?} is not a single ASCII character (use tab for a tab)"),
            ));
            b','
        }
    };
    let field = q.take("sequence");
    if field.as_deref().is_some_and(str::is_empty) {
        errors.push(FieldError::new(
            "sequence",
            "must name the field holding each sequence",
        ));
    }
    let (id, order) = (q.take("sequence_id"), q.take("order"));
    let sequence = match (field, id, order) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            errors.push(FieldError::new(
                "sequence",
                "either sequence (JSON records) or sequence_id and order (long-format CSV)",
            ));
            None
        }
        (Some(f), None, None) => Some(SequenceSource::Field(f)),
        (None, Some(id), Some(order)) if !id.is_empty() && !order.is_empty() => {
            Some(SequenceSource::Long { id, order })
        }
        (None, Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "sequence_id",
                "sequence_id and order each name a column",
            ));
            None
        }
        (None, Some(_), None) => {
            errors.push(FieldError::new(
                "order",
                "long-format CSV needs the column ordering each sequence's steps",
            ));
            None
        }
        (None, None, Some(_)) => {
            errors.push(FieldError::new(
                "sequence_id",
                "long-format CSV needs the column naming each row's sequence",
            ));
            None
        }
        (None, None, None) => None,
    };
    errors.extend(q.unknown(&[
        "name",
        "label",
        "delimiter",
        "format",
        "sequence",
        "sequence_id",
        "order",
        "types",
    ]));
    if errors.is_empty() {
        Ok(UploadParams {
            name,
            label,
            delimiter,
            sequence,
            types,
        })
    } else {
        Err(ApiError::invalid_fields(errors))
    }
}

pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Ok(Some(k.to_owned())),
        _ => Err(ApiError::invalid_field(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        )),
    }
}

/// `POST /v1/datasets`: validates the whole upload, then stores it.
async fn create(
    State(state): State<AppState>,
    query: QueryParams,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    const ALL: [UploadFormat; 4] = [
        UploadFormat::Csv,
        UploadFormat::Json,
        UploadFormat::Ndjson,
        UploadFormat::Ts,
    ];
    let format = body_format(query.get("format"), &headers, &ALL)?;
    let params = upload_params(query, format)?;
    let key = idempotency_key(&headers)?;
    let limit = state.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Decided before a byte of the body is read.
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }

    let opts = IngestOptions {
        format,
        label: params.label.clone(),
        delimiter: params.delimiter,
        max_rows: state.limits.max_rows,
        max_columns: state.limits.max_columns,
        max_cells: state.limits.max_cells,
        max_classes: state.limits.max_classes,
        max_sequence_steps: state.limits.max_sequence_steps,
        sequence: params.sequence.clone(),
        size_hint: declared,
        text_columns: Vec::new(),
        types: params.types.clone(),
    };
    let (tx, reader) = upload::channel();
    let parsing = tokio::task::spawn_blocking(move || ingest::parse_upload(reader, &opts));
    let pumped = upload::pump(body, tx, limit).await;
    let parsed = parsing.await.map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("the upload parser panicked"))
    })?;
    if pumped == Pumped::TooLarge {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if pumped == Pumped::TimedOut {
        return Err(ApiError::RequestTimeout(
            "the upload stalled or took too long; nothing was stored".into(),
        ));
    }
    let parsed = parsed?;
    let request_hash = request_identity(format, &params, &parsed.sha256);
    let keyed = (key.as_deref(), request_hash.as_str());
    match catalog::store_upload(&state.pool, &parsed, params.name.clone(), keyed).await {
        Ok(Stored::Created(summary)) => Ok(created(summary, false)),
        Ok(Stored::Replayed(summary)) => Ok(created(summary, true)),
        Err(StoreError::KeyReused) => Err(ApiError::Conflict(StoreError::KeyReused.to_string())),
        Err(StoreError::Store(e)) => Err(crate::error::write_failed(e)),
    }
}

/// What identifies an upload request (its idempotency key's request hash): the format, name,
/// label, delimiter, the body's hash, and `sequence` only when given, so earlier keys still
/// match.
fn request_identity(format: UploadFormat, params: &UploadParams, sha256: &str) -> String {
    let mut identity = format!(
        "{}\n{}\n{}\n{}\n{}",
        format.as_str(),
        params.name,
        params.label,
        params.delimiter,
        sha256
    );
    match &params.sequence {
        Some(SequenceSource::Field(field)) => identity.push_str(&format!("\nsequence={field}")),
        Some(SequenceSource::Long { id, order }) => {
            identity.push_str(&format!("\nsequence_id={id}\norder={order}"))
        }
        None => {}
    }
    hex::encode(Sha256::digest(identity))
}

fn created(summary: DatasetSummary, replayed: bool) -> Response {
    let location = format!("/v1/datasets/{}", summary.id);
    let mut res = (StatusCode::CREATED, Json(summary)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

/// `GET /v1/datasets`: newest first.
async fn list(
    State(state): State<AppState>,
    mut query: QueryParams,
) -> Result<Json<Page<DatasetSummary>>, ApiError> {
    let mut errors = Vec::new();
    let (limit, cursor) = page_params(&mut query, &mut errors);
    errors.extend(query.unknown(&["limit", "cursor"]));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let (items, next) = catalog::datasets(&state.pool, limit, cursor).await?;
    Ok(Json(Page {
        items,
        next_cursor: next.map(|n| n.to_string()),
    }))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DatasetSummary>, ApiError> {
    catalog::dataset(&state.pool, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no dataset {id}")))
}

/// `DELETE /v1/datasets/{id}`: 204, or 404.
async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match catalog::delete(&state.pool, &id).await? {
        Deleted::Deleted => Ok(StatusCode::NO_CONTENT),
        Deleted::NotFound => Err(ApiError::NotFound(format!("no dataset {id}"))),
        Deleted::InUse(active) => Err(ApiError::Conflict(format!(
            "dataset {id} is used by {active} queued or running job(s); cancel them or wait"
        ))),
    }
}
