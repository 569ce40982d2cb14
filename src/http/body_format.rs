//! Which format a request body is in, for uploads and predict alike: `?format=` when given,
//! whatever the Content-Type (a client that sends raw bytes as `application/octet-stream`, as
//! generated clients do, names the format there), else the Content-Type.

use axum::http::HeaderMap;

use super::extract::{media_type, unsupported};
use crate::domain::dataset::UploadFormat;
use crate::error::ApiError;

/// The format of the body: `named` (the `format` parameter) or its Content-Type, one of
/// `accepted`. Raw bytes (`application/octet-stream`) need `format`; a charset other than
/// UTF-8 is refused.
pub fn body_format(
    named: Option<&str>,
    headers: &HeaderMap,
    accepted: &[UploadFormat],
) -> Result<UploadFormat, ApiError> {
    let names: Vec<&str> = accepted.iter().map(|f| f.as_str()).collect();
    let supported = media_types(accepted);
    let (raw, essence) = media_type(headers);
    if let Some(name) = named {
        return accepted
            .iter()
            .copied()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| ApiError::invalid_field("format", names.join(", ")));
    }
    let format = match essence.as_str() {
        "application/octet-stream" => {
            return Err(ApiError::invalid_field(
                "format",
                format!(
                    "raw bytes (application/octet-stream) need ?format= naming theirs: {}",
                    names.join(", ")
                ),
            ));
        }
        "text/csv" => UploadFormat::Csv,
        "application/json" => UploadFormat::Json,
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => UploadFormat::Ndjson,
        "text/x-ts" => UploadFormat::Ts,
        _ => return Err(unsupported(raw, &supported)),
    };
    if !accepted.contains(&format) {
        return Err(unsupported(raw, &supported));
    }
    let not_utf8 = raw.split(';').skip(1).any(|param| {
        param.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("charset")
                && !v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        })
    });
    if not_utf8 {
        return Err(unsupported(raw, &format!("{supported}, in UTF-8")));
    }
    Ok(format)
}

/// `text/csv, application/json or …`, with raw bytes and `?format=` last.
fn media_types(accepted: &[UploadFormat]) -> String {
    let mut types: Vec<&str> = accepted.iter().map(|f| media_type_of(*f)).collect();
    types.push("application/octet-stream with ?format=");
    let last = types.pop().unwrap_or_default();
    format!("{} or {last}", types.join(", "))
}

fn media_type_of(format: UploadFormat) -> &'static str {
    match format {
        UploadFormat::Csv => "text/csv",
        UploadFormat::Json => "application/json",
        UploadFormat::Ndjson => "application/x-ndjson",
        UploadFormat::Ts => "text/x-ts (UEA/UCR sequences)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn typed(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_str(content_type).unwrap());
        h
    }

    const ALL: [UploadFormat; 4] = [
        UploadFormat::Csv,
        UploadFormat::Json,
        UploadFormat::Ndjson,
        UploadFormat::Ts,
    ];

    #[test]
    fn the_named_format_wins_over_the_content_type() {
        let h = typed("application/octet-stream");
        assert_eq!(
            body_format(Some("ndjson"), &h, &ALL).unwrap(),
            UploadFormat::Ndjson
        );
        let h = typed("text/x-ts");
        assert_eq!(
            body_format(Some("csv"), &h, &ALL).unwrap(),
            UploadFormat::Csv
        );
        let e = body_format(Some("xml"), &h, &ALL).unwrap_err().to_string();
        assert!(e.contains("format"), "{e}");
    }

    #[test]
    fn raw_bytes_without_a_named_format_are_a_422_naming_format() {
        let e = body_format(None, &typed("application/octet-stream"), &ALL).unwrap_err();
        assert!(matches!(e, ApiError::Invalid { .. }), "{e:?}");
    }

    #[test]
    fn a_content_type_outside_the_accepted_ones_is_a_415_listing_them() {
        let rows = [UploadFormat::Csv, UploadFormat::Json];
        let e = body_format(None, &typed("text/x-ts"), &rows).unwrap_err();
        assert!(matches!(e, ApiError::UnsupportedMediaType { .. }), "{e:?}");
        let e = body_format(None, &typed("text/csv; charset=latin1"), &rows).unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
        let ok = body_format(None, &typed("text/csv; charset=utf-8"), &rows).unwrap();
        assert_eq!(ok, UploadFormat::Csv);
    }
}
