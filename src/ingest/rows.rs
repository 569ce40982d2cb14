//! Rows to predict (`POST /v1/jobs/{id}/predict`): JSON `{"rows": [{…}]}` or CSV with a header
//! row, read cell by cell with the upload's own rules (so what is missing at upload is missing
//! here, and a number is a number in the same f32), then encoded with a model's fitted encoding.

use std::collections::HashMap;

use serde_json::Value;

use super::cell::{Cell, Reading};
use super::error::IngestError;
use crate::engine::data::encode::{EncodeError, Encoding, FeatureEncoding, RawValue, Unseen};

/// One cell as received, owned.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Missing,
    /// CSV text, read by content.
    Raw(String),
    Number(f64),
    /// A JSON string or boolean.
    Text(String),
}

impl Owned {
    fn cell(&self) -> Cell<'_> {
        match self {
            Owned::Missing => Cell::Missing,
            Owned::Raw(s) => Cell::Raw(s),
            Owned::Number(v) => Cell::Number(*v),
            Owned::Text(s) => Cell::Text(s),
        }
    }
}

/// The rows of a predict request, column by name.
#[derive(Debug, Clone)]
pub struct PredictRows {
    /// Every column any row names, in order of first appearance.
    columns: Vec<String>,
    index: HashMap<String, usize>,
    /// The row each column first appears in (for error messages).
    first_row: Vec<usize>,
    /// Each row's cells as (column, value), in column order; a column a row lacks is missing.
    /// Sparse, so rows that each name new columns cost what they hold, not rows × columns.
    rows: Vec<Vec<(usize, Owned)>>,
}

/// An invalid value or column: `rows[i].column` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub field: String,
    pub message: String,
}

/// The most cell errors collected before the rest are only counted.
const COLLECTED_ERRORS: usize = 1_000;

impl PredictRows {
    /// Reads `{"rows": [{column: value, …}, …]}`; at most `max_rows` rows.
    pub fn from_json(body: &Value, max_rows: usize) -> Result<Self, IngestError> {
        let Some(Value::Array(rows)) = body.get("rows") else {
            return Err(invalid(
                "rows",
                "an array of objects, one per row: {\"rows\": [{\"column\": value, …}]}",
            ));
        };
        check_count(rows.len(), max_rows)?;
        let mut out = Self::empty();
        for (i, row) in rows.iter().enumerate() {
            let Value::Object(map) = row else {
                return Err(invalid(
                    format!("rows[{i}]"),
                    "each row must be an object of column → value",
                ));
            };
            let mut cells = Vec::with_capacity(map.len());
            for (name, v) in map {
                let cell = match v {
                    Value::Null => Owned::Missing,
                    Value::Number(n) => Owned::Number(n.as_f64().unwrap_or(f64::NAN)),
                    Value::String(s) => Owned::Text(s.clone()),
                    Value::Bool(b) => Owned::Text(b.to_string()),
                    Value::Array(_) | Value::Object(_) => {
                        return Err(invalid(
                            format!("rows[{i}].{name}"),
                            "a value must be a number, a string, a boolean or null",
                        ));
                    }
                };
                cells.push((out.column(name, i), cell));
            }
            out.push_row(cells);
        }
        Ok(out)
    }

    /// Reads CSV with a header row (comma-delimited); at most `max_rows` rows.
    pub fn from_csv(body: &[u8], max_rows: usize) -> Result<Self, IngestError> {
        let mut rdr = csv::ReaderBuilder::new().from_reader(body);
        let header = rdr
            .headers()
            .map_err(|e| IngestError::malformed(format!("malformed CSV header: {e}")))?
            .clone();
        let mut out = Self::empty();
        let cols: Vec<usize> = header.iter().map(|h| out.column(h.trim(), 0)).collect();
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let mut err = IngestError::malformed(format!("malformed CSV: {e}"));
                    err.line = e.position().map(|p| p.line());
                    return Err(err);
                }
            }
            check_count(out.rows.len() + 1, max_rows)?;
            let cells = cols
                .iter()
                .zip(record.iter())
                .map(|(&c, v)| (c, Owned::Raw(v.to_owned())))
                .collect();
            out.push_row(cells);
        }
        Ok(out)
    }

    fn empty() -> Self {
        Self {
            columns: Vec::new(),
            index: HashMap::new(),
            first_row: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// The index of column `name`, added (first seen in `row`) if new.
    fn column(&mut self, name: &str, row: usize) -> usize {
        if let Some(&c) = self.index.get(name) {
            return c;
        }
        let c = self.columns.len();
        self.columns.push(name.to_owned());
        self.first_row.push(row);
        self.index.insert(name.to_owned(), c);
        c
    }

    fn push_row(&mut self, mut cells: Vec<(usize, Owned)>) {
        // A repeated CSV header name: the last value wins, as for a JSON key.
        cells.sort_by_key(|(c, _)| *c);
        cells.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
        self.rows.push(cells);
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// One error per column that is neither a feature of `encoding` nor `label`, naming the
    /// first row that has it.
    pub fn unknown_columns(&self, encoding: &Encoding, label: &str) -> Vec<RowError> {
        self.columns
            .iter()
            .zip(&self.first_row)
            .filter(|(name, _)| *name != label && encoding.is_numeric(name).is_none())
            .map(|(name, row)| RowError {
                field: format!("rows[{row}].{name}"),
                message: "not a feature column of this model".into(),
            })
            .collect()
    }

    /// Row `r`'s cell of column `name`, if the row gives it.
    fn given(&self, r: usize, name: &str) -> Option<Cell<'_>> {
        let c = self.index.get(name)?;
        let row = &self.rows[r];
        let i = row.binary_search_by_key(c, |(col, _)| *col).ok()?;
        Some(row[i].1.cell())
    }

    /// The feature columns of `encoding` imputed in some row (left out of it, or a missing
    /// value), each with how many rows, in the encoding's order: what predict made up.
    pub fn imputed(&self, encoding: &Encoding) -> Vec<(String, usize)> {
        let imputed = |name: &str, r: usize| {
            let numeric = encoding.is_numeric(name) == Some(true);
            self.given(r, name)
                .is_none_or(|c| matches!(read(c, numeric), RawValue::Missing))
        };
        (encoding.names())
            .map(|name| {
                (
                    name.to_owned(),
                    (0..self.len()).filter(|&r| imputed(name, r)).count(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The categorical columns of `encoding` with a category its training rows never had in
    /// some row, each with how many rows (encoded as zeros with `Unseen::Zeros`).
    pub fn unseen(&self, encoding: &Encoding) -> Vec<(String, usize)> {
        let unseen = |name: &str, known: &[String], r: usize| {
            let cell = self.given(r, name).unwrap_or(Cell::Missing);
            matches!(read(cell, false), RawValue::Text(t) if !known.contains(&t))
        };
        (encoding.features.iter())
            .filter_map(|f| match f {
                FeatureEncoding::Categorical { name, categories } => {
                    let n = (0..self.len())
                        .filter(|&r| unseen(name, categories, r))
                        .count();
                    (n > 0).then(|| (name.clone(), n))
                }
                FeatureEncoding::Numeric { .. } => None,
            })
            .collect()
    }

    /// One error per feature column of `encoding` that some row leaves out, naming the first
    /// such row (`strict`: a missing value must be written, not left out).
    pub fn absent_columns(&self, encoding: &Encoding) -> Vec<RowError> {
        (encoding.names())
            .filter_map(|name| {
                let r = (0..self.len()).find(|&r| self.given(r, name).is_none())?;
                Some(RowError {
                    field: format!("rows[{r}].{name}"),
                    message: "a feature column of this model, left out (strict: give every \
                              feature, a missing value as null or NA)"
                        .into(),
                })
            })
            .collect()
    }

    /// The rows `start..end` encoded for `encoding` (rows × width). On error, the first
    /// `COLLECTED_ERRORS` cell errors (each `rows[i].column`) and how many there were.
    pub fn encode(
        &self,
        encoding: &Encoding,
        (start, end): (usize, usize),
        unseen: Unseen,
    ) -> Result<Vec<f32>, (Vec<RowError>, usize)> {
        let mut out = Vec::with_capacity((end - start) * encoding.width());
        self.encode_into(encoding, (start, end), unseen, Some(&mut out))?;
        Ok(out)
    }

    /// Checks that every row encodes for `encoding`, keeping none of the encoded values (a
    /// full matrix of wide rows would be gigabytes); errors as `encode`'s.
    pub fn check(&self, encoding: &Encoding, unseen: Unseen) -> Result<(), (Vec<RowError>, usize)> {
        self.encode_into(encoding, (0, self.len()), unseen, None)
    }

    fn encode_into(
        &self,
        encoding: &Encoding,
        (start, end): (usize, usize),
        unseen: Unseen,
        mut out: Option<&mut Vec<f32>>,
    ) -> Result<(), (Vec<RowError>, usize)> {
        let (mut errors, mut total) = (Vec::new(), 0usize);
        // Each feature's column and kind, looked up once rather than by name per cell.
        let columns: Vec<Option<usize>> = (encoding.names())
            .map(|n| self.index.get(n).copied())
            .collect();
        let numeric: Vec<bool> = (encoding.features.iter())
            .map(|f| matches!(f, FeatureEncoding::Numeric { .. }))
            .collect();
        let mut scratch = Vec::new();
        for r in start..end {
            let row = &self.rows[r];
            let get = |i: usize| -> RawValue {
                let at =
                    columns[i].and_then(|c| row.binary_search_by_key(&c, |(col, _)| *col).ok());
                read(at.map_or(Cell::Missing, |k| row[k].1.cell()), numeric[i])
            };
            let target = match out.as_deref_mut() {
                Some(out) => out,
                None => {
                    scratch.clear();
                    &mut scratch
                }
            };
            match encoding.encode_row_into(get, unseen, target) {
                Ok(()) => {}
                Err(EncodeError { column, message }) => {
                    total += 1;
                    if errors.len() < COLLECTED_ERRORS {
                        errors.push(RowError {
                            field: format!("rows[{r}].{column}"),
                            message,
                        });
                    }
                }
            }
        }
        if total > 0 {
            return Err((errors, total));
        }
        Ok(())
    }
}

/// A cell as a numeric feature reads it (f32, as stored at upload) or as a categorical one.
fn read(cell: Cell<'_>, numeric: bool) -> RawValue {
    if !numeric {
        return cell
            .category()
            .map_or(RawValue::Missing, |t| RawValue::Text(t.into_owned()));
    }
    match cell.read() {
        Reading::Missing => RawValue::Missing,
        Reading::Number(v) => RawValue::Number(f64::from(v)),
        Reading::NonFinite => RawValue::NonFinite(cell.display()),
        Reading::Text(t) => RawValue::Text(t.into_owned()),
    }
}

/// A 422 naming `field`.
fn invalid(field: impl Into<String>, message: impl Into<String>) -> IngestError {
    let mut e = IngestError::invalid(message);
    e.field = Some(field.into());
    e
}

fn check_count(n: usize, max_rows: usize) -> Result<(), IngestError> {
    if n > max_rows {
        return Err(invalid(
            "rows",
            format!("at most {max_rows} rows per request (max_predict_rows)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
