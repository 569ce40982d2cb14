//! JSON uploads: an array of records (`[{"col": v}, …]`), a `{"columns", "rows"}` document, or
//! NDJSON (one record per line). Records may omit keys (a missing value); the columns are the
//! union of keys in order of first appearance.

use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use super::cell::Cell;
use super::error::{IngestError, read_error};
use super::options::IngestOptions;
use super::table::{Locate, TableBuilder};
use crate::domain::dataset::{ParsedDataset, UploadFormat};

/// `application/json`: records or columns + rows.
pub(super) fn parse_document(
    body: &mut impl Read,
    opts: &IngestOptions,
) -> Result<ParsedDataset, IngestError> {
    let mut bytes = Vec::with_capacity(opts.size_hint.unwrap_or(0).min(1 << 30) as usize);
    body.read_to_end(&mut bytes).map_err(|e| read_error(&e))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::malformed("the request body is empty"));
    }
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
        IngestError::malformed(format!("malformed JSON: {e}"))
            .at(e.line() as u64, Some(e.column() as u64))
    })?;
    drop(bytes);
    match doc {
        Value::Array(items) => {
            let records = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(m),
                    _ => Err(IngestError::malformed(format!(
                        "rows[{i}]: each element of the array must be an object of column → value"
                    ))
                    .field(format!("rows[{i}]"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let lines: Vec<u64> = (1..=records.len() as u64).collect();
            build_from_records(&records, &lines, opts, Locate::Records, UploadFormat::Json)
        }
        Value::Object(mut doc) => {
            let unknown: Vec<&String> = doc
                .keys()
                .filter(|k| *k != "columns" && *k != "rows")
                .collect();
            if let Some(k) = unknown.first() {
                return Err(IngestError::invalid(format!(
                    "unknown field {k:?}; a columnar upload has only \"columns\" and \"rows\""
                ))
                .field(k.as_str()));
            }
            let columns = match doc.remove("columns") {
                Some(Value::Array(cols)) => cols
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| match c {
                        Value::String(s) => Ok(s),
                        _ => Err(
                            IngestError::malformed(format!("columns[{i}] must be a string"))
                                .field(format!("columns[{i}]")),
                        ),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(IngestError::malformed(
                        "\"columns\" must be an array of column names",
                    )
                    .field("columns"));
                }
            };
            let Some(Value::Array(rows)) = doc.remove("rows") else {
                return Err(
                    IngestError::malformed("\"rows\" must be an array of arrays").field("rows"),
                );
            };
            build_from_rows(columns, &rows, opts)
        }
        _ => Err(IngestError::malformed(
            "a JSON upload must be an array of objects or an object {\"columns\": [...], \"rows\": [[...]]}",
        )),
    }
}

/// `application/x-ndjson`: one JSON object per line; blank lines are skipped.
pub(super) fn parse_lines(
    body: &mut impl Read,
    opts: &IngestOptions,
) -> Result<ParsedDataset, IngestError> {
    let mut reader = BufReader::with_capacity(1 << 16, body);
    let mut records = Vec::new();
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_error(&e))?
            == 0
        {
            break;
        }
        line += 1;
        let text = std::str::from_utf8(&buf).map_err(|e| {
            IngestError::malformed(format!("line {line}: not valid UTF-8"))
                .at(line, Some(e.valid_up_to() as u64 + 1))
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            IngestError::malformed(format!("line {line}: malformed JSON: {e}"))
                .at(line, Some(e.column() as u64))
        })?;
        let Value::Object(map) = value else {
            return Err(IngestError::malformed(format!(
                "line {line}: each line must be a JSON object of column → value"
            ))
            .at(line, None));
        };
        if records.len() as u64 >= opts.max_rows {
            return Err(IngestError::invalid(format!(
                "the upload has more than {} rows, the limit (max_rows)",
                opts.max_rows
            ))
            .field("rows"));
        }
        records.push(map);
        lines.push(line);
    }
    if records.is_empty() {
        return Err(IngestError::malformed("the request body has no JSON lines"));
    }
    build_from_records(&records, &lines, opts, Locate::Lines, UploadFormat::Ndjson)
}

fn build_from_records(
    records: &[Map<String, Value>],
    lines: &[u64],
    opts: &IngestOptions,
    locate: Locate,
    format: UploadFormat,
) -> Result<ParsedDataset, IngestError> {
    if records.is_empty() {
        return Err(IngestError::malformed("the upload has no rows"));
    }
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in records {
        for key in record.keys() {
            if !seen.contains(key.as_str()) {
                seen.insert(key.as_str());
                names.push(key.clone());
            }
        }
    }
    let mut table = TableBuilder::new(names, opts, locate)?;
    table.reserve(records.len());
    let names = table.names().to_vec();
    for (record, &line) in records.iter().zip(lines) {
        table
            .push_row(line, |j| cell(record.get(&names[j]), j))
            .map_err(|e| table.relocate(e, line))?;
    }
    if table.needs_second_pass() {
        table.begin_second_pass();
        for (record, &line) in records.iter().zip(lines) {
            table
                .push_second_pass(|j| cell(record.get(&names[j]), j))
                .map_err(|e| table.relocate(e, line))?;
        }
    }
    finish(table, format)
}

fn build_from_rows(
    names: Vec<String>,
    rows: &[Value],
    opts: &IngestOptions,
) -> Result<ParsedDataset, IngestError> {
    let mut table = TableBuilder::new(names, opts, Locate::Records)?;
    table.reserve(rows.len());
    let width = table.width();
    let mut arrays = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        match row {
            Value::Array(cells) if cells.len() == width => arrays.push(cells),
            Value::Array(cells) => {
                return Err(table.locate_row(
                    IngestError::malformed(format!(
                        "the row has {} values but there are {width} columns",
                        cells.len()
                    )),
                    i as u64 + 1,
                ));
            }
            _ => {
                return Err(table.locate_row(
                    IngestError::malformed("each row must be an array"),
                    i as u64 + 1,
                ));
            }
        }
    }
    for (i, cells) in arrays.iter().enumerate() {
        let line = i as u64 + 1;
        table
            .push_row(line, |j| cell(Some(&cells[j]), j))
            .map_err(|e| table.relocate(e, line))?;
    }
    if table.needs_second_pass() {
        table.begin_second_pass();
        for (i, cells) in arrays.iter().enumerate() {
            let line = i as u64 + 1;
            table
                .push_second_pass(|j| cell(Some(&cells[j]), j))
                .map_err(|e| table.relocate(e, line))?;
        }
    }
    finish(table, UploadFormat::Json)
}

fn finish(table: TableBuilder, format: UploadFormat) -> Result<ParsedDataset, IngestError> {
    let rows = table.rows();
    let (columns, label_index, classes) = table.finish()?;
    Ok(ParsedDataset {
        rows,
        columns,
        label_index,
        classes,
        sha256: String::new(),
        bytes: 0,
        format,
        sequences: None,
    })
}

/// A JSON value as column `j`'s cell; an error names only the column (the table adds the row).
fn cell(v: Option<&Value>, j: usize) -> Result<Cell<'_>, IngestError> {
    Ok(match v {
        None | Some(Value::Null) => Cell::Missing,
        Some(Value::Number(n)) => Cell::Number(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => Cell::Text(s),
        Some(Value::Bool(true)) => Cell::Text("true"),
        Some(Value::Bool(false)) => Cell::Text("false"),
        Some(Value::Array(_) | Value::Object(_)) => {
            let mut e = IngestError::invalid(
                "nested arrays and objects are not supported; a cell must be a number, string, boolean or null",
            );
            e.column = Some(j as u64 + 1);
            return Err(e);
        }
    })
}
