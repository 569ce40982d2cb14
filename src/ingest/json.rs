//! JSON uploads: an array of records (`[{"col": v}, …]`), the same as `{"records": […]}`, a
//! `{"columns", "rows"}` document, or NDJSON (one record per line). Records may omit keys (a
//! missing value); the columns are the union of keys in order of first appearance. Read as a
//! stream, one record at a time, while the body is spooled to disk; the spool is replayed when
//! a column turns out to be text (or a document's rows came before its columns).

use std::io::{BufRead, Read};

use serde::Deserialize;
use serde::de::Deserializer;
use serde_json::{Map, Value};

use super::cell::Cell;
use super::error::{IngestError, read_error};
use super::json_stream::{self, Sink, Walked};
use super::options::IngestOptions;
use super::spool::Spooled;
use super::table::{Locate, TableBuilder};
use crate::domain::dataset::{ParsedDataset, UploadFormat};

/// `application/json`: records or columns + rows.
pub(super) fn parse_document(
    body: &mut impl Read,
    opts: &IngestOptions,
) -> Result<ParsedDataset, IngestError> {
    let mut spool = Spooled::new(body)?;
    let mut pass = TablePass::new(opts, Locate::Records);
    let walked = json_stream::walk(&mut spool, &mut pass)?;
    if walked == (Walked::Columnar { rows_skipped: true }) {
        json_stream::walk(spool.replay()?, &mut pass)?;
    }
    if pass.table.as_ref().is_some_and(|t| t.needs_second_pass()) {
        pass.begin_second_pass();
        json_stream::walk(spool.replay()?, &mut pass)?;
    }
    pass.finish(UploadFormat::Json)
}

/// `application/x-ndjson`: one JSON object per line; blank lines are skipped.
pub(super) fn parse_lines(
    body: &mut impl Read,
    opts: &IngestOptions,
) -> Result<ParsedDataset, IngestError> {
    let mut spool = Spooled::new(body)?;
    let mut pass = TablePass::new(opts, Locate::Lines);
    let read = |pass: &mut TablePass<'_>, body: &mut dyn BufRead| {
        each_line(body, |line, map| pass.record(line, map))
    };
    let lines = read(
        &mut pass,
        &mut std::io::BufReader::with_capacity(1 << 16, &mut spool),
    )?;
    if lines == 0 {
        return Err(IngestError::malformed("the request body has no JSON lines"));
    }
    if pass.table.as_ref().is_some_and(|t| t.needs_second_pass()) {
        pass.begin_second_pass();
        read(&mut pass, &mut spool.replay()?)?;
    }
    pass.finish(UploadFormat::Ndjson)
}

/// Calls `each(line, record)` for every non-blank line of NDJSON; returns how many there were.
pub(super) fn each_line(
    body: &mut dyn BufRead,
    mut each: impl FnMut(u64, Map<String, Value>) -> Result<(), IngestError>,
) -> Result<u64, IngestError> {
    let (mut buf, mut line, mut records) = (Vec::new(), 0u64, 0u64);
    loop {
        buf.clear();
        if body
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_error(&e))?
            == 0
        {
            return Ok(records);
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
        records += 1;
        each(line, map)?;
    }
}

/// One pass over the records or rows: pass 1 builds the table (adding columns as keys
/// appear), pass 2 its text columns.
struct TablePass<'o> {
    opts: &'o IngestOptions,
    locate: Locate,
    table: Option<TableBuilder>,
    names: Vec<String>,
    known: std::collections::HashSet<String>,
    second: bool,
    error: Option<IngestError>,
}

impl<'o> TablePass<'o> {
    fn new(opts: &'o IngestOptions, locate: Locate) -> Self {
        Self {
            opts,
            locate,
            table: None,
            names: Vec::new(),
            known: Default::default(),
            second: false,
            error: None,
        }
    }

    fn begin_second_pass(&mut self) {
        self.second = true;
        if let Some(t) = &mut self.table {
            t.begin_second_pass();
        }
    }

    /// Record `at` (a line, or a record's 1-based number): the first one's keys start the table.
    fn record(&mut self, at: u64, record: Map<String, Value>) -> Result<(), IngestError> {
        if self.table.is_none() {
            let names: Vec<String> = record.keys().cloned().collect();
            self.start(names)?;
        }
        let table = self.table.as_mut().expect("started above");
        if !self.second {
            for key in record.keys() {
                if !self.known.contains(key) {
                    table.add_column(key.clone())?;
                    self.known.insert(key.clone());
                    self.names.push(key.clone());
                }
            }
        }
        let names = &self.names;
        let get = |j: usize| cell(record.get(&names[j]), j);
        let pushed = if self.second {
            table.push_second_pass(at, get)
        } else {
            table.push_row(at, get)
        };
        pushed.map_err(|e| table.relocate(e, at))
    }

    fn start(&mut self, names: Vec<String>) -> Result<(), IngestError> {
        self.table = Some(TableBuilder::new(names.clone(), self.opts, self.locate)?);
        self.known = names.iter().cloned().collect();
        self.names = names;
        Ok(())
    }

    /// Row `at` (1-based) of a columnar document.
    fn row(&mut self, at: u64, cells: Value) -> Result<(), IngestError> {
        let table = self
            .table
            .as_mut()
            .expect("rows are read once the columns are known");
        let width = table.width();
        let cells = match cells {
            Value::Array(cells) if cells.len() == width => cells,
            Value::Array(cells) => {
                return Err(table.locate_row(
                    IngestError::malformed(format!(
                        "the row has {} values but there are {width} columns",
                        cells.len()
                    )),
                    at,
                ));
            }
            _ => {
                return Err(
                    table.locate_row(IngestError::malformed("each row must be an array"), at)
                );
            }
        };
        let get = |j: usize| cell(Some(&cells[j]), j);
        let pushed = if self.second {
            table.push_second_pass(at, get)
        } else {
            table.push_row(at, get)
        };
        pushed.map_err(|e| table.relocate(e, at))
    }

    fn finish(self, format: UploadFormat) -> Result<ParsedDataset, IngestError> {
        let Some(table) = self.table else {
            return Err(IngestError::malformed("the upload has no rows"));
        };
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

    /// Runs `f`, keeping its error for the walker.
    fn kept<E: serde::de::Error>(&mut self, r: Result<(), IngestError>) -> Result<(), E> {
        r.map_err(|e| {
            self.error = Some(e);
            E::custom("stopped")
        })
    }
}

impl Sink for TablePass<'_> {
    fn item<'de, D: Deserializer<'de>>(&mut self, i: u64, d: D) -> Result<(), D::Error> {
        let r = match Value::deserialize(d)? {
            Value::Object(map) => self.record(i + 1, map),
            _ => Err(IngestError::malformed(format!(
                "rows[{i}]: each element of the array must be an object of column → value"
            ))
            .field(format!("rows[{i}]"))),
        };
        self.kept(r)
    }

    fn columns(&mut self, names: Value) -> Result<(), IngestError> {
        if self.table.is_some() {
            return Ok(()); // a replay: already known
        }
        let Value::Array(list) = names else {
            return Err(
                IngestError::malformed("\"columns\" must be an array of column names")
                    .field("columns"),
            );
        };
        let names = list
            .into_iter()
            .enumerate()
            .map(|(i, c)| match c {
                Value::String(s) => Ok(s),
                _ => Err(
                    IngestError::malformed(format!("columns[{i}] must be a string"))
                        .field(format!("columns[{i}]")),
                ),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.start(names)
    }

    fn has_columns(&self) -> bool {
        self.table.is_some()
    }

    fn row<'de, D: Deserializer<'de>>(&mut self, i: u64, d: D) -> Result<(), D::Error> {
        let cells = Value::deserialize(d)?;
        let r = self.row(i + 1, cells);
        self.kept(r)
    }

    fn wrong_shape(&self) -> IngestError {
        IngestError::malformed(
            "a JSON upload must be an array of objects, an object {\"records\": [...]} or an object {\"columns\": [...], \"rows\": [[...]]}",
        )
    }

    fn keep(&mut self, e: IngestError) {
        self.error.get_or_insert(e);
    }

    fn take_error(&mut self) -> Option<IngestError> {
        self.error.take()
    }
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
