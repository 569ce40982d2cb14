//! Long-format CSV as sequences (`?sequence_id=<column>&order=<column>`): one row per step;
//! rows sharing an id are one sequence, ordered by the order column; every other numeric column
//! is a channel, and the label must be the same on every row of a sequence. The CSV is parsed
//! and checked as a table first, so a bad cell still names its line and column; a problem of
//! the grouping names the sequence's id.

use std::collections::HashMap;

use super::error::IngestError;
use super::options::IngestOptions;
use super::ts::{Sequence, SequenceSet, TsLimits, dataset_of};
use crate::domain::dataset::{ColumnData, MISSING_CODE, ParsedDataset, UploadFormat};

/// A parsed CSV table regrouped into sequences by `id`, ordered by `order`.
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
    let ColumnData::Numeric(order_values) = &table.columns[order_col].data else {
        return Err(IngestError::invalid(format!(
            "column {order:?} is not numeric: steps are ordered by number"
        ))
        .field("order"));
    };
    let label = &table.columns[table.label_index];
    let channels: Vec<&[f32]> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| ![id_col, order_col, table.label_index].contains(i))
        .map(|(_, c)| match &c.data {
            ColumnData::Numeric(v) => Ok(v.as_slice()),
            ColumnData::Categorical { .. } => Err(IngestError::invalid(format!(
                "column {:?} is not numeric: every column but sequence_id, order and the label \
                 is a channel",
                c.info.name
            ))
            .field(c.info.name.clone())),
        })
        .collect::<Result<_, _>>()?;
    if channels.is_empty() {
        return Err(IngestError::invalid(
            "no channel columns: besides sequence_id, order and the label, a column of values",
        ));
    }
    let id_of = |r: usize| match &table.columns[id_col].data {
        ColumnData::Numeric(v) => Some(v[r].to_string()).filter(|_| !v[r].is_nan()),
        ColumnData::Categorical { codes, categories } => {
            (codes[r] != MISSING_CODE).then(|| categories[codes[r] as usize].clone())
        }
    };
    let label_of = |r: usize| match &label.data {
        ColumnData::Numeric(v) => v[r].to_string(),
        ColumnData::Categorical { codes, categories } => categories[codes[r] as usize].clone(),
    };
    // Rows per id, ids in order of first appearance.
    let (mut ids, mut rows_of): (Vec<String>, HashMap<String, Vec<usize>>) = Default::default();
    for (r, &at) in order_values.iter().enumerate() {
        let Some(key) = id_of(r) else {
            return Err(IngestError::invalid(format!(
                "data row {}: the sequence id is missing",
                r + 1
            ))
            .field("sequence_id"));
        };
        if at.is_nan() {
            return Err(IngestError::invalid(format!(
                "sequence {key:?}, data row {}: the order is missing",
                r + 1
            ))
            .field("order"));
        }
        rows_of
            .entry(key.clone())
            .or_insert_with(|| {
                ids.push(key);
                Vec::new()
            })
            .push(r);
    }
    let limits = TsLimits::of(opts);
    let mut set = SequenceSet {
        channels: channels.len(),
        ..SequenceSet::default()
    };
    for key in ids {
        let mut rows = rows_of.remove(&key).unwrap_or_default();
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
        if rows.len() > limits.max_steps {
            return Err(bad(format!(
                "{} steps, more than max_sequence_steps ({})",
                rows.len(),
                limits.max_steps
            )));
        }
        let values = rows
            .iter()
            .flat_map(|&r| channels.iter().map(move |c| c[r]))
            .collect();
        if !set.classes.contains(&first) {
            set.classes.push(first.clone());
        }
        set.labels.push(first);
        set.sequences.push(Sequence {
            steps: rows.len(),
            values,
        });
    }
    dataset_of(set, opts, UploadFormat::Csv)
}
