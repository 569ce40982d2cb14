//! What a claimed run trains on beyond its dataset: its features, its training and held-out rows
//! (its fold, or for the final model everything outside the test set), a fine-tuning job's
//! start, and what pretraining reads.

use std::borrow::Cow;

use crate::domain::dataset::{Column, ColumnData, ColumnRole, MISSING_CODE, SequenceValues};
use crate::domain::init::InitSpec;
use crate::domain::job::JobSpec;
use crate::domain::results::RunKind;
use crate::engine::checkpoint;
use crate::engine::data::encode::Encoding;
use crate::engine::data::labels::Labels;
use crate::engine::data::split;
use crate::engine::data::table::Table;
use crate::engine::fold::PretrainInput;
use crate::engine::train::WarmStart;
use crate::store::runs::Claimed;

/// The table's features as the spec chooses them: without the fold and group columns (they say
/// where a row is held out), and only a chosen `features` list, in the dataset's column order.
fn select_features(table: &mut Table<'_>, spec: &JobSpec) {
    for name in [&spec.validation.fold_column, &spec.validation.group_column]
        .into_iter()
        .flatten()
    {
        table.features.retain(|c| c.info.name != *name);
    }
    if let Some(chosen) = &spec.features {
        table.features.retain(|c| chosen.contains(&c.info.name));
    }
}

/// `pretrain`: its epochs, and the pretraining dataset's columns in `table`'s feature order
/// (submit checked that it has them all), moved rather than copied; an error is permanent.
pub fn pretrain_input(
    spec: &JobSpec,
    table: &Table<'_>,
    columns: Option<Vec<Column>>,
) -> Result<Option<PretrainInput>, String> {
    let Some(p) = &spec.pretrain else {
        return Ok(None);
    };
    let mut columns = columns.unwrap_or_default();
    let extra = match columns.is_empty() {
        true => Vec::new(),
        false => table
            .features
            .iter()
            .map(|f| {
                let i = columns
                    .iter()
                    .position(|c| c.info.name == f.info.name)
                    .ok_or_else(|| {
                        format!(
                            "the pretraining dataset has no column {:?} any more",
                            f.info.name
                        )
                    })?;
                Ok(columns.swap_remove(i))
            })
            .collect::<Result<_, String>>()?,
    };
    Ok(Some(PretrainInput {
        epochs: p.epochs,
        extra,
    }))
}

/// (training rows, held-out rows) of the run; `rows` the dataset's, `appended` a test
/// dataset's rows after them (`append_rows`), which only the final model scores. An error is
/// permanent.
pub fn rows_of_run(
    claimed: &Claimed,
    assignment: &[Vec<u32>],
    (rows, appended): (usize, usize),
) -> Result<(Vec<usize>, Vec<usize>), String> {
    Ok(match (claimed.kind, claimed.fold, claimed.repeat) {
        (RunKind::Fold, Some(fold), Some(repeat)) => {
            let marks = assignment
                .get(repeat as usize)
                .ok_or_else(|| format!("no fold assignment for repeat {repeat}"))?;
            split::split(marks, fold)
        }
        // The final model trains on every row outside the test set and scores the test set.
        _ => {
            let marks = assignment.first().map(Vec::as_slice).unwrap_or(&[]);
            let in_test = |i: usize| marks.get(i) == Some(&split::TEST_SET);
            let dropped = |i: usize| marks.get(i) == Some(&split::DROPPED);
            (
                (0..rows).filter(|&i| !in_test(i) && !dropped(i)).collect(),
                (0..rows)
                    .filter(|&i| in_test(i))
                    .chain(rows..rows + appended)
                    .collect(),
            )
        }
    })
}

/// `columns` with `other`'s rows after their own, matched by column name: categories (and
/// classes) by value, a category `other` adds is appended, and a column `other` lacks reads
/// as missing there. Submit checked that the trained columns and the label are there.
fn append_rows(mut columns: Vec<Column>, other: &[Column]) -> Vec<Column> {
    let extra = other.first().map_or(0, |c| c.data.len());
    for col in &mut columns {
        let theirs = other.iter().find(|o| o.info.name == col.info.name);
        match (&mut col.data, theirs.map(|o| &o.data)) {
            (ColumnData::Numeric(v), Some(ColumnData::Numeric(t))) => v.extend(t),
            (ColumnData::Numeric(v), _) => v.extend(std::iter::repeat_n(f32::NAN, extra)),
            (
                ColumnData::Categorical { codes, categories },
                Some(ColumnData::Categorical {
                    codes: their_codes,
                    categories: theirs,
                }),
            ) => {
                let code_of: Vec<u32> = theirs
                    .iter()
                    .map(|name| match categories.iter().position(|c| c == name) {
                        Some(i) => i as u32,
                        None => {
                            categories.push(name.clone());
                            (categories.len() - 1) as u32
                        }
                    })
                    .collect();
                codes.extend(their_codes.iter().map(|&c| {
                    if c == MISSING_CODE {
                        MISSING_CODE
                    } else {
                        code_of[c as usize]
                    }
                }));
            }
            (ColumnData::Categorical { codes, .. }, _) => {
                codes.extend(std::iter::repeat_n(MISSING_CODE, extra))
            }
        }
    }
    columns
}

/// The run's columns: the dataset's, borrowed, unless the spec reads another column as the
/// label or a test set is appended, and then a changed copy (a run that only reads the
/// remembered values does not copy them: 100 MB a run on a 200k × 64 set).
pub fn run_columns<'a>(
    remembered: &'a [Column],
    spec: &JobSpec,
    test: Option<&[Column]>,
) -> Cow<'a, [Column]> {
    if relabel_target(remembered, spec).is_none() && test.is_none() {
        return Cow::Borrowed(remembered);
    }
    let columns = relabel(remembered.to_vec(), spec);
    Cow::Owned(match test {
        Some(test) => append_rows(columns, test),
        None => columns,
    })
}

/// `columns` with the spec's `label` (another column than the upload's) read as classes:
/// the label the table reads; the upload's label is then a feature.
fn relabel(mut columns: Vec<Column>, spec: &JobSpec) -> Vec<Column> {
    if let Some(i) = relabel_target(&columns, spec) {
        for c in &mut columns {
            if c.info.role == ColumnRole::Label {
                c.info.role = ColumnRole::Feature;
            }
        }
        let labels = Labels::of(&columns[i].data);
        columns[i].data = labels.into_column_data();
        columns[i].info.role = ColumnRole::Label;
    }
    columns
}

/// The column the spec's `label` names when it is not already the upload's label.
fn relabel_target(columns: &[Column], spec: &JobSpec) -> Option<usize> {
    let name = spec.label.as_ref()?;
    (columns.iter()).position(|c| c.info.name == *name && c.info.role != ColumnRole::Label)
}

/// The run's table: `columns` with the label as classes, a sequence dataset's sequences, and
/// the features the spec chooses; an error is permanent.
pub fn table<'a>(
    columns: &'a [Column],
    sequences: Option<&'a SequenceValues>,
    spec: &JobSpec,
) -> Result<Table<'a>, String> {
    let label = columns
        .iter()
        .position(|c| Some(&c.info.name) == spec.label.as_ref())
        .or_else(|| {
            columns
                .iter()
                .position(|c| c.info.role == ColumnRole::Label)
        })
        .unwrap_or(0);
    let mut table = Table::new(columns, label).map_err(|e| e.to_string())?;
    if let Some(values) = sequences {
        table = table.with_sequences(values);
    }
    select_features(&mut table, spec);
    Ok(table)
}

/// Fine-tuning: the source checkpoint's weights, and its encoding, with `table`'s features put
/// in the encoding's order (submit checked that the columns match); an error is permanent.
pub fn warm_start(
    source: &[u8],
    init: &InitSpec,
    table: &mut Table<'_>,
) -> Result<(WarmStart, Encoding), String> {
    let stored = checkpoint::from_bytes(source).map_err(|e| e.to_string())?;
    let encoding = Encoding::from_stored(stored.encoding.as_deref().unwrap_or("null"))
        .map_err(|e| format!("the init model's encoding: {e}"))?;
    table.features = encoding
        .features
        .iter()
        .filter_map(|f| {
            table
                .features
                .iter()
                .copied()
                .find(|c| c.info.name == f.name())
        })
        .collect();
    let warm = WarmStart {
        model: stored.state.model,
        freeze_layers: init.freeze_layers as usize,
        reset_output: init.reset_output,
    };
    Ok((warm, encoding))
}
