//! `TableBuilder`: columns built from rows of cells, with type inference and the label's classes.
//!
//! Pass 1 builds every feature column as f32, optimistically. A column that meets text is
//! marked for pass 2, which the source replays so those columns are built as categories from
//! the exact uploaded text (no round trip through f32). Numeric data, the common case, is read
//! once.
//!
//! Over 400 lines because the builder's two passes share one state (the columns, the label's
//! classes, the limits counted as rows arrive); split apart, each half would need the other's.

use std::collections::HashMap;

use super::cell::{Cell, Reading};
use super::error::IngestError;
use super::options::IngestOptions;
use crate::domain::dataset::{
    ClassCount, Column, ColumnData, ColumnInfo, ColumnRole, ColumnType, MISSING_CODE,
};

/// How the source locates a row, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locate {
    /// Text lines (CSV, NDJSON): "line 7, column 3".
    Lines,
    /// Array elements (JSON documents): "rows[6].age".
    Records,
}

#[derive(Debug)]
enum Col {
    Numeric {
        values: Vec<f32>,
        missing: u64,
        /// First non-finite cell: (line, text). Fatal only if the column stays numeric.
        non_finite: Option<(u64, String)>,
    },
    /// Met text in pass 1; built in pass 2.
    Pending,
    Text(TextCol),
}

/// A text column as it is built: each row's code into its categories, in order of appearance.
#[derive(Debug, Default)]
pub(crate) struct TextCol {
    pub(crate) codes: Vec<u32>,
    index: HashMap<String, u32>,
    pub(crate) categories: Vec<String>,
    missing: u64,
    /// An inferred column's cells that read as numbers, and the ones that do not (the first
    /// few with their lines): a column of numbers but for a few cells is a typo, not text.
    numbers: u64,
    texts: u64,
    examples: Vec<(u64, String)>,
}

/// Cells named in the message about a column of numbers but for a few.
const EXAMPLES: usize = 5;

impl TextCol {
    /// Counts an inferred column's cell as a number or not.
    fn count(&mut self, cell: Cell<'_>, line: u64) {
        match cell.read() {
            Reading::Number(_) | Reading::NonFinite => self.numbers += 1,
            Reading::Missing => {}
            Reading::Text(text) => {
                self.texts += 1;
                if self.examples.len() < EXAMPLES {
                    self.examples.push((line, text.into_owned()));
                }
            }
        }
    }

    /// Whether the column is numbers but for a few cells (at most 1 in 20 of those present).
    fn numbers_but_a_few(&self) -> bool {
        self.texts > 0 && self.numbers >= 19 * self.texts
    }

    pub(crate) fn push(&mut self, value: Option<&str>) {
        let code = match value {
            None => {
                self.missing += 1;
                MISSING_CODE
            }
            Some(v) => match self.index.get(v) {
                Some(&c) => c,
                None => {
                    let c = self.categories.len() as u32;
                    self.index.insert(v.to_owned(), c);
                    self.categories.push(v.to_owned());
                    c
                }
            },
        };
        self.codes.push(code);
    }
}

/// Builds a table row by row; see the module docs for the two passes.
#[derive(Debug)]
pub(crate) struct TableBuilder {
    names: Vec<String>,
    label: usize,
    cols: Vec<Col>,
    rows: u64,
    locate: Locate,
    max_rows: u64,
    max_columns: u64,
    max_cells: u64,
    max_classes: u64,
    /// Per column, the type the uploader declared (`None`: inferred).
    declared: Vec<Option<ColumnType>>,
}

impl TableBuilder {
    /// Checks the header (names, duplicates, the label, the column limit) and starts a table.
    pub(crate) fn new(
        names: Vec<String>,
        opts: &IngestOptions,
        locate: Locate,
    ) -> Result<Self, IngestError> {
        if names.is_empty() {
            return Err(IngestError::malformed("the upload has no columns"));
        }
        if names.len() as u64 > opts.max_columns {
            return Err(IngestError::invalid(format!(
                "the upload has {} columns, more than the limit of {} (max_columns)",
                names.len(),
                opts.max_columns
            ))
            .field("columns"));
        }
        let mut seen = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(IngestError::malformed(format!(
                    "column {} has an empty name in the header",
                    i + 1
                ))
                .at(1, Some(i as u64 + 1)));
            }
            // A database's text may hold no NUL (PostgreSQL's cannot): refused on every backend.
            if name.contains('\0') {
                return Err(IngestError::malformed(format!(
                    "column {} has a NUL character in its name",
                    i + 1
                ))
                .at(1, Some(i as u64 + 1)));
            }
            if let Some(first) = seen.insert(name.as_str(), i) {
                return Err(IngestError::malformed(format!(
                    "duplicate column name {name:?}: columns {} and {}",
                    first + 1,
                    i + 1
                ))
                .at(1, Some(i as u64 + 1)));
            }
        }
        let label = names.iter().position(|n| *n == opts.label).ok_or_else(|| {
            IngestError::invalid(format!(
                "label column {:?} is not among the upload's columns ({})",
                opts.label,
                preview(&names)
            ))
            .field("label")
        })?;
        let declared = declared_types(&names, label, opts)?;
        let cols = (0..names.len())
            .map(|i| {
                if i == label {
                    Col::Text(TextCol::default())
                } else if declared[i] == Some(ColumnType::Categorical) {
                    // Read as text from the start (exact ids, declared categories): pass 2.
                    Col::Pending
                } else {
                    Col::Numeric {
                        values: Vec::new(),
                        missing: 0,
                        non_finite: None,
                    }
                }
            })
            .collect();
        Ok(Self {
            names,
            label,
            cols,
            rows: 0,
            locate,
            max_rows: opts.max_rows,
            max_columns: opts.max_columns,
            max_cells: opts.max_cells,
            max_classes: opts.max_classes,
            declared,
        })
    }

    /// A column first met after `rows()` rows (a JSON record with a new key): the rows before
    /// it read it as missing. Returns its index.
    pub(crate) fn add_column(&mut self, name: String) -> Result<usize, IngestError> {
        if self.names.len() as u64 >= self.max_columns {
            return Err(IngestError::invalid(format!(
                "the upload has more than {} columns, the limit (max_columns)",
                self.max_columns
            ))
            .field("columns"));
        }
        if name.trim().is_empty() {
            return Err(IngestError::malformed("a column has an empty name").field("columns"));
        }
        let rows = self.rows as usize;
        self.cols.push(Col::Numeric {
            values: vec![f32::NAN; rows],
            missing: rows as u64,
            non_finite: None,
        });
        self.names.push(name);
        self.declared.push(None);
        Ok(self.names.len() - 1)
    }

    pub(crate) fn width(&self) -> usize {
        self.names.len()
    }

    /// Pre-sizes every column for about `rows` rows.
    pub(crate) fn reserve(&mut self, rows: usize) {
        for col in &mut self.cols {
            match col {
                Col::Numeric { values, .. } => values.reserve_exact(rows),
                Col::Text(t) => t.codes.reserve_exact(rows),
                Col::Pending => {}
            }
        }
    }

    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Describes where cell (`line`, column `j`) is, and sets it on the error.
    pub(crate) fn locate(&self, err: IngestError, line: u64, j: usize) -> IngestError {
        locate_cell(self.locate, &self.names[j], j, line, err)
    }

    /// Locates an error that a source's cell reader raised knowing only the column (or
    /// nothing); errors already located pass through.
    pub(crate) fn relocate(&self, e: IngestError, line: u64) -> IngestError {
        if e.line.is_some() || e.field.is_some() {
            return e;
        }
        match e.column {
            Some(col) => self.locate(IngestError { column: None, ..e }, line, col as usize - 1),
            None => self.locate_row(e, line),
        }
    }

    /// Describes where row `line` is.
    pub(crate) fn locate_row(&self, err: IngestError, line: u64) -> IngestError {
        match self.locate {
            Locate::Lines => {
                let msg = format!("line {line}: {}", err.message);
                IngestError {
                    message: msg,
                    ..err
                }
                .at(line, None)
            }
            Locate::Records => {
                let path = format!("rows[{}]", line - 1);
                let msg = format!("{path}: {}", err.message);
                IngestError {
                    message: msg,
                    ..err
                }
                .field(path)
            }
        }
    }

    /// Pass 1: adds one row. `cell(j)` yields column `j`'s cell; `line` locates errors.
    pub(crate) fn push_row<'c>(
        &mut self,
        line: u64,
        mut cell: impl FnMut(usize) -> Result<Cell<'c>, IngestError>,
    ) -> Result<(), IngestError> {
        self.rows += 1;
        if self.rows > self.max_rows {
            return Err(IngestError::invalid(format!(
                "the upload has more than {} rows, the limit (max_rows)",
                self.max_rows
            ))
            .field("rows"));
        }
        if self.rows.saturating_mul(self.names.len() as u64) > self.max_cells {
            return Err(IngestError::invalid(format!(
                "the upload has more than {} cells (rows × columns), the limit (max_cells)",
                self.max_cells
            ))
            .field("rows"));
        }
        for j in 0..self.cols.len() {
            if matches!(self.cols[j], Col::Pending) {
                continue;
            }
            let c = cell(j)?;
            if j == self.label {
                let Some(v) = c.category() else {
                    return Err(self.locate(
                        IngestError::invalid(
                            "the label is missing; every row needs a label".to_owned(),
                        )
                        .field("label"),
                        line,
                        j,
                    ));
                };
                let Col::Text(t) = &mut self.cols[j] else {
                    unreachable!("the label column is built as text")
                };
                t.push(Some(&v));
                continue;
            }
            let Col::Numeric {
                values,
                missing,
                non_finite,
            } = &mut self.cols[j]
            else {
                unreachable!("pending columns were skipped")
            };
            match c.read() {
                Reading::Number(v) => values.push(v),
                Reading::Missing => {
                    values.push(f32::NAN);
                    *missing += 1;
                }
                Reading::NonFinite => {
                    if non_finite.is_none() {
                        *non_finite = Some((line, c.display()));
                    }
                    values.push(f32::NAN);
                }
                Reading::Text(text) if self.declared[j] == Some(ColumnType::Numeric) => {
                    let err = IngestError::invalid(format!(
                        "{text:?} is not a number, and types declares the column numeric"
                    ));
                    return Err(self.locate(err, line, j));
                }
                Reading::Text(_) => self.cols[j] = Col::Pending,
            }
        }
        Ok(())
    }

    /// Whether pass 2 is needed (some column met text).
    pub(crate) fn needs_second_pass(&self) -> bool {
        self.cols.iter().any(|c| matches!(c, Col::Pending))
    }

    /// Starts pass 2: pending columns become empty categorical columns.
    pub(crate) fn begin_second_pass(&mut self) {
        for col in &mut self.cols {
            if matches!(col, Col::Pending) {
                let mut t = TextCol::default();
                t.codes.reserve_exact(self.rows as usize);
                *col = Col::Text(t);
            }
        }
    }

    /// Whether pass 2 reads column `j`.
    pub(crate) fn second_pass_reads(&self, j: usize) -> bool {
        j != self.label && matches!(self.cols[j], Col::Text(_))
    }

    /// Pass 2: adds the categorical columns' cells of row `line`, in the same order as pass 1.
    pub(crate) fn push_second_pass<'c>(
        &mut self,
        line: u64,
        mut cell: impl FnMut(usize) -> Result<Cell<'c>, IngestError>,
    ) -> Result<(), IngestError> {
        for j in 0..self.cols.len() {
            if !self.second_pass_reads(j) {
                continue;
            }
            let c = cell(j)?;
            let inferred = self.declared[j].is_none();
            let Col::Text(t) = &mut self.cols[j] else {
                unreachable!()
            };
            if inferred {
                t.count(c, line);
            }
            t.push(c.category().as_deref());
        }
        Ok(())
    }

    /// Validates what needs the whole table (non-finite numbers, classes) and returns the
    /// columns, the label's index and its classes.
    pub(crate) fn finish(self) -> Result<(Vec<Column>, usize, Vec<ClassCount>), IngestError> {
        if self.rows == 0 {
            return Err(IngestError::invalid(
                "the upload has a header but no data rows".to_owned(),
            ));
        }
        let label = self.label;
        let mut classes = Vec::new();
        let mut columns = Vec::with_capacity(self.cols.len());
        let locate = self.locate;
        for (j, (name, col)) in self.names.into_iter().zip(self.cols).enumerate() {
            let role = if j == label {
                ColumnRole::Label
            } else {
                ColumnRole::Feature
            };
            let column = match col {
                Col::Numeric {
                    values,
                    missing,
                    non_finite,
                } => {
                    if let Some((line, text)) = non_finite {
                        let err = IngestError::invalid(format!(
                            "{text:?} is not a finite 32-bit number; write missing values as \
                             an empty cell, NA or null"
                        ));
                        return Err(locate_cell(locate, &name, j, line, err));
                    }
                    Column {
                        info: ColumnInfo {
                            name,
                            column_type: ColumnType::Numeric,
                            role,
                            missing,
                            cardinality: None,
                        },
                        data: ColumnData::Numeric(values),
                    }
                }
                Col::Text(t) if j == label => {
                    let (column, counts) = label_column(name, t, self.max_classes)?;
                    classes = counts;
                    column
                }
                Col::Text(t) if t.numbers_but_a_few() => {
                    return Err(numbers_but_a_few(locate, &name, j, &t));
                }
                Col::Text(t) => Column {
                    info: ColumnInfo {
                        name,
                        column_type: ColumnType::Categorical,
                        role,
                        missing: t.missing,
                        cardinality: Some(t.categories.len() as u64),
                    },
                    data: ColumnData::Categorical {
                        codes: t.codes,
                        categories: t.categories,
                    },
                },
                Col::Pending => unreachable!("pass 2 builds every pending column"),
            };
            columns.push(column);
        }
        Ok((columns, label, classes))
    }
}

/// Orders the label's classes (numerically when every class is a number, so `2` < `10`, and
/// `1` and `1.0` are one class), checks their count, and recodes the column to that order.
/// Every upload format's labels go through here, so they all read classes alike.
pub(crate) fn label_column(
    name: String,
    t: TextCol,
    max_classes: u64,
) -> Result<(Column, Vec<ClassCount>), IngestError> {
    let numeric: Option<Vec<f64>> = t
        .categories
        .iter()
        .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect();
    // Canonical text of each original category.
    let canonical: Vec<String> = match &numeric {
        Some(vals) => vals.iter().map(|v| v.to_string()).collect(),
        None => t.categories.clone(),
    };
    let mut distinct: Vec<(String, Option<f64>)> = Vec::new();
    let mut seen = HashMap::new();
    for (i, c) in canonical.iter().enumerate() {
        if !seen.contains_key(c) {
            seen.insert(c.clone(), distinct.len());
            distinct.push((c.clone(), numeric.as_ref().map(|v| v[i])));
        }
    }
    if distinct.len() < 2 {
        return Err(IngestError::invalid(format!(
            "the label column {name:?} has a single class ({}); a classifier needs at least two",
            distinct.first().map(|d| d.0.as_str()).unwrap_or("")
        ))
        .field("label"));
    }
    if distinct.len() as u64 > max_classes {
        return Err(IngestError::invalid(format!(
            "the label column {name:?} has {} classes, more than the limit of {max_classes} \
             (max_classes); is it a continuous target?",
            distinct.len()
        ))
        .field("label"));
    }
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    match numeric {
        Some(_) => {
            order.sort_by(|&a, &b| distinct[a].1.unwrap().total_cmp(&distinct[b].1.unwrap()))
        }
        None => order.sort_by(|&a, &b| distinct[a].0.cmp(&distinct[b].0)),
    }
    let mut rank = vec![0u32; distinct.len()];
    for (r, &d) in order.iter().enumerate() {
        rank[d] = r as u32;
    }
    // Original category code → class index.
    let remap: Vec<u32> = canonical.iter().map(|c| rank[seen[c]]).collect();
    let mut counts = vec![0u64; distinct.len()];
    // In place: a label column can have hundreds of millions of rows.
    let mut codes = t.codes;
    for c in &mut codes {
        *c = remap[*c as usize];
        counts[*c as usize] += 1;
    }
    let categories: Vec<String> = order.iter().map(|&d| distinct[d].0.clone()).collect();
    let classes = categories
        .iter()
        .zip(&counts)
        .map(|(v, &count)| ClassCount {
            value: v.clone(),
            count,
        })
        .collect();
    let column_type = if numeric.is_some() {
        ColumnType::Numeric
    } else {
        ColumnType::Categorical
    };
    let column = Column {
        info: ColumnInfo {
            name,
            column_type,
            role: ColumnRole::Label,
            missing: 0,
            cardinality: Some(categories.len() as u64),
        },
        data: ColumnData::Categorical { codes, categories },
    };
    Ok((column, classes))
}

/// Says where cell (`line`, column `j` named `name`) is, in the message and the error's fields.
fn locate_cell(locate: Locate, name: &str, j: usize, line: u64, err: IngestError) -> IngestError {
    match locate {
        Locate::Lines => {
            let msg = format!("line {line}, column {} ({name:?}): {}", j + 1, err.message);
            IngestError {
                message: msg,
                ..err
            }
            .at(line, Some(j as u64 + 1))
        }
        Locate::Records => {
            let path = format!("rows[{}].{name}", line - 1);
            let msg = format!("{path}: {}", err.message);
            IngestError {
                message: msg,
                ..err
            }
            .field(path)
        }
    }
}

/// The types `opts` declares, per column of `names`: each must name a column other than the
/// label (whose classes are always read as text).
fn declared_types(
    names: &[String],
    label: usize,
    opts: &IngestOptions,
) -> Result<Vec<Option<ColumnType>>, IngestError> {
    // Columns read as text on purpose (long-format ids) are as good as declared.
    let mut declared: Vec<Option<ColumnType>> = names
        .iter()
        .map(|n| {
            opts.text_columns
                .contains(n)
                .then_some(ColumnType::Categorical)
        })
        .collect();
    for (name, kind) in &opts.types {
        match names.iter().position(|n| n == name) {
            Some(j) if j == label => {
                return Err(IngestError::invalid(format!(
                    "{name:?} is the label, whose classes are read as text; leave it out of types"
                ))
                .field("types"));
            }
            Some(j) => declared[j] = Some(*kind),
            None => {
                return Err(IngestError::invalid(format!(
                    "types names {name:?}, which is not among the upload's columns ({})",
                    preview(names)
                ))
                .field("types"));
            }
        }
    }
    Ok(declared)
}

/// The error for column `name` (index `j`), numbers but for the cells `t` counted: located at
/// the first of them, naming the others, saying how to keep it as text.
fn numbers_but_a_few(locate: Locate, name: &str, j: usize, t: &TextCol) -> IngestError {
    let (line, _) = t.examples[0];
    let cells: Vec<String> = t
        .examples
        .iter()
        .map(|(line, text)| match locate {
            Locate::Lines => format!("line {line} {text:?}"),
            Locate::Records => format!("rows[{}] {text:?}", line - 1),
        })
        .collect();
    let more = if t.texts > t.examples.len() as u64 {
        ", …"
    } else {
        ""
    };
    let err = IngestError::invalid(format!(
        "the column holds numbers but for {} of its {} cells ({}{more}): correct them, or \
         declare its type to read it as categories (types={name}:categorical)",
        t.texts,
        t.texts + t.numbers,
        cells.join(", ")
    ));
    locate_cell(locate, name, j, line, err)
}

/// The first few names, for a message.
fn preview(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(8)
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 8 {
        s.push_str(&format!(", … {} in all", names.len()));
    }
    s
}
