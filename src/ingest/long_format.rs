//! Long-format CSV as sequences (`?sequence_id=<column>&order=<column>`): one row per step;
//! rows sharing an id are one sequence, ordered by the order column; every other numeric column
//! is a channel, and the label must be the same on every row of a sequence. The CSV is parsed
//! and checked as a table first, so a bad cell still names its line and column; a problem of
//! the grouping names the sequence's id.

use super::error::IngestError;
use super::options::IngestOptions;
use super::sequences::SequenceBuilder;
use crate::domain::dataset::{ColumnData, MISSING_CODE, ParsedDataset, UploadFormat};

/// A parsed CSV table regrouped into sequences by `id`, ordered by `order`. Both columns were
/// read as text (`IngestOptions::text_columns`), so ids and orders are exact, not f32.
pub fn regroup(
    table: ParsedDataset,
    opts: &IngestOptions,
    id: &str,
    order: &str,
) -> Result<ParsedDataset, IngestError> {
    let find = |name: &str, param: &str| {
        table
            .columns
            .iter()
            .position(|c| c.info.name == name)
            .ok_or_else(|| {
                IngestError::invalid(format!("no column named {name:?} in the header")).field(param)
            })
    };
    let (id_col, order_col) = (find(id, "sequence_id")?, find(order, "order")?);
    if id_col == order_col {
        return Err(
            IngestError::invalid("sequence_id and order name the same column").field("order"),
        );
    }
    let order_values = order_numbers(&table.columns[order_col].data, order)?;
    let label = &table.columns[table.label_index];
    let channels = channel_columns(&table, [id_col, order_col, table.label_index])?;
    if channels.is_empty() {
        return Err(IngestError::invalid(
            "no channel columns: besides sequence_id, order and the label, a column of values",
        ));
    }
    let ColumnData::Categorical {
        codes: id_codes,
        categories: id_names,
    } = &table.columns[id_col].data
    else {
        unreachable!("sequence_id is read as text")
    };
    let label_of = |r: usize| match &label.data {
        ColumnData::Numeric(v) => v[r].to_string(),
        ColumnData::Categorical { codes, categories } => categories[codes[r] as usize].clone(),
    };
    let rows_of = rows_by_id((id_codes, id_names), &order_values)?;
    let mut builder = SequenceBuilder::new(opts);
    let mut values = Vec::new();
    for (key, mut rows) in id_names.iter().zip(rows_of) {
        rows.sort_by(|&a, &b| order_values[a].total_cmp(&order_values[b]));
        let bad = |message: String| {
            IngestError::invalid(format!("sequence {key:?}: {message}")).field("sequence_id")
        };
        if let Some(w) = rows
            .windows(2)
            .find(|w| order_values[w[0]] == order_values[w[1]])
        {
            return Err(bad(format!(
                "order {} appears twice (data rows {} and {})",
                order_values[w[0]],
                w[0].min(w[1]) + 1,
                w[0].max(w[1]) + 1
            )));
        }
        let first = label_of(rows[0]);
        if let Some(&r) = rows.iter().find(|&&r| label_of(r) != first) {
            return Err(bad(format!(
                "the label changes within the sequence, from {first:?} to {:?} (data row {})",
                label_of(r),
                r + 1
            )));
        }
        values.clear();
        values.extend(
            rows.iter()
                .flat_map(|&r| channels.iter().map(move |c| c[r])),
        );
        builder
            .push(&first, channels.len(), &values)
            .map_err(|e| bad(e.message))?;
    }
    builder.finish(None, UploadFormat::Csv)
}

/// The numeric columns besides `skip` (sequence_id, order, the label): the channels.
fn channel_columns(table: &ParsedDataset, skip: [usize; 3]) -> Result<Vec<&[f32]>, IngestError> {
    table
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .map(|(_, c)| match &c.data {
            ColumnData::Numeric(v) => Ok(v.as_slice()),
            ColumnData::Categorical { .. } => Err(IngestError::invalid(format!(
                "column {:?} is not numeric: every column but sequence_id, order and the label \
                 is a channel",
                c.info.name
            ))
            .field(c.info.name.clone())),
        })
        .collect::<Result<_, _>>()
}

/// Rows per sequence id (by its code), ids in order of first appearance (codes are in that
/// order); a row without an id or an order is refused.
fn rows_by_id(
    (id_codes, id_names): (&[u32], &[String]),
    order_values: &[f64],
) -> Result<Vec<Vec<usize>>, IngestError> {
    let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); id_names.len()];
    for (r, &at) in order_values.iter().enumerate() {
        let code = id_codes[r];
        if code == MISSING_CODE {
            return Err(IngestError::invalid(format!(
                "data row {}: the sequence id is missing",
                r + 1
            ))
            .field("sequence_id"));
        }
        if at.is_nan() {
            return Err(IngestError::invalid(format!(
                "sequence {:?}, data row {}: the order is missing",
                id_names[code as usize],
                r + 1
            ))
            .field("order"));
        }
        rows_of[code as usize].push(r);
    }
    Ok(rows_of)
}

/// The order column's values as exact numbers (read from its text; `NaN` missing).
fn order_numbers(data: &ColumnData, name: &str) -> Result<Vec<f64>, IngestError> {
    let ColumnData::Categorical { codes, categories } = data else {
        unreachable!("order is read as text")
    };
    let numbers: Vec<f64> = categories
        .iter()
        .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            IngestError::invalid(format!(
                "column {name:?} is not numeric: steps are ordered by number"
            ))
            .field("order")
        })?;
    Ok(codes
        .iter()
        .map(|&c| {
            if c == MISSING_CODE {
                f64::NAN
            } else {
                numbers[c as usize]
            }
        })
        .collect())
}
