//! CSV uploads: a header row, then records. Read once while spooling the bytes to a temporary
//! file; the spool is replayed only if a column turns out to be categorical.

use std::io::Read;

use csv::{ByteRecord, ReaderBuilder};

use super::cell::Cell;
use super::error::{IngestError, read_error};
use super::options::IngestOptions;
use super::spool::Spooled;
use super::table::{Locate, TableBuilder};
use crate::domain::dataset::{ParsedDataset, UploadFormat};

/// Rows read before the columns are pre-sized from the size hint.
const SIZING_SAMPLE_ROWS: u64 = 1_000;

pub(super) fn parse(
    body: &mut impl Read,
    opts: &IngestOptions,
) -> Result<ParsedDataset, IngestError> {
    let mut spool = Spooled::new(body)?;
    let mut rdr = reader(opts.delimiter, &mut spool);
    let mut record = ByteRecord::new();
    if !read(&mut rdr, &mut record)? {
        return Err(IngestError::malformed(
            "the request body is empty; a CSV upload needs a header row and data rows",
        ));
    }
    let names = header(&record)?;
    let mut table = TableBuilder::new(names, opts, Locate::Lines)?;
    let width = table.width();
    while read(&mut rdr, &mut record)? {
        let line = line_of(&record);
        if record.len() != width {
            return Err(table.locate_row(
                IngestError::malformed(format!(
                    "the row has {} fields but the header has {width}",
                    record.len()
                )),
                line,
            ));
        }
        table
            .push_row(line, |j| field(&record, j))
            .map_err(|e| table.relocate(e, line))?;
        if table.rows() == SIZING_SAMPLE_ROWS
            && let Some(total) = opts.size_hint
        {
            let consumed = rdr.position().byte().max(1);
            let estimate =
                (total as f64 / consumed as f64 * SIZING_SAMPLE_ROWS as f64 * 1.02) as usize;
            table.reserve(estimate.min(opts.max_rows as usize));
        }
    }
    drop(rdr);
    if table.needs_second_pass() {
        table.begin_second_pass();
        let mut rdr = reader(opts.delimiter, spool.replay()?);
        read(&mut rdr, &mut record)?; // the header, already checked
        while read(&mut rdr, &mut record)? {
            let line = line_of(&record);
            table
                .push_second_pass(line, |j| field(&record, j))
                .map_err(|e| table.relocate(e, line))?;
        }
    }
    let rows = table.rows();
    let (columns, label_index, classes) = table.finish()?;
    Ok(ParsedDataset {
        rows,
        columns,
        label_index,
        classes,
        sha256: String::new(),
        bytes: 0,
        format: UploadFormat::Csv,
        sequences: None,
    })
}

fn reader<R: Read>(delimiter: u8, r: R) -> csv::Reader<R> {
    ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(r)
}

/// Reads the next record; `false` at the end.
fn read<R: Read>(rdr: &mut csv::Reader<R>, record: &mut ByteRecord) -> Result<bool, IngestError> {
    rdr.read_byte_record(record).map_err(|e| match e.kind() {
        csv::ErrorKind::Io(io) => read_error(io),
        _ => {
            let line = e.position().map(|p| p.line());
            let mut err = IngestError::malformed(format!("malformed CSV: {e}"));
            err.line = line;
            err
        }
    })
}

fn line_of(record: &ByteRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

/// The header's column names (a UTF-8 byte-order mark is dropped).
fn header(record: &ByteRecord) -> Result<Vec<String>, IngestError> {
    record
        .iter()
        .enumerate()
        .map(|(j, raw)| {
            let raw = if j == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            std::str::from_utf8(raw)
                .map(|s| s.trim().to_owned())
                .map_err(|_| {
                    IngestError::malformed(format!(
                        "line 1, column {}: the header is not valid UTF-8",
                        j + 1
                    ))
                    .at(1, Some(j as u64 + 1))
                })
        })
        .collect()
}

/// Column `j` of a record; an error names only the column (`relocate` adds the line).
fn field(record: &ByteRecord, j: usize) -> Result<Cell<'_>, IngestError> {
    std::str::from_utf8(&record[j]).map(Cell::Raw).map_err(|_| {
        let mut e = IngestError::malformed("the cell is not valid UTF-8");
        e.column = Some(j as u64 + 1);
        e
    })
}
