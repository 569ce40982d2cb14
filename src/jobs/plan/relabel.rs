//! `label` naming another column of the upload: the dataset as the job sees it (that column
//! the label, with its classes; the upload's label a categorical feature) and each row's class,
//! rows without one a 422 unless `drop_missing_label` leaves them out.

use crate::domain::dataset::{
    ClassCount, Column, ColumnRole, ColumnType, DatasetKind, DatasetSummary,
};
use crate::domain::spec::SpecError;
use crate::engine::data::labels::Labels;

/// The job's view of its dataset and the class of every row (`MISSING_CODE`: left out).
#[derive(Debug, Clone)]
pub struct Relabeled {
    pub summary: DatasetSummary,
    pub labels: Labels,
}

/// `ds` with `column` as its label; a 422 on `label` when it cannot be one.
pub fn relabel(
    ds: &DatasetSummary,
    column: &Column,
    drop_missing: bool,
    max_classes: u64,
) -> Result<Relabeled, SpecError> {
    let name = &column.info.name;
    let fail = |m: String| Err(SpecError::new("label", m));
    if ds.kind == DatasetKind::Sequence {
        return fail("a sequence dataset's label is its only column".into());
    }
    let labels = Labels::of(&column.data);
    let counts = labels.counts();
    if labels.classes.len() < 2 {
        return fail(format!(
            "column {name:?} has {} class(es); a classifier needs at least two",
            labels.classes.len()
        ));
    }
    if labels.classes.len() as u64 > max_classes {
        return fail(format!(
            "column {name:?} has {} distinct values, more than max_classes ({max_classes}): is \
             it a continuous column?",
            labels.classes.len()
        ));
    }
    let missing = labels.missing().count();
    if missing > 0 && !drop_missing {
        let first = labels.missing().next().unwrap_or(0);
        return fail(format!(
            "column {name:?} is missing in {missing} rows (the first is row {first}); set \
             drop_missing_label: true to leave them out"
        ));
    }
    let mut summary = ds.clone();
    for c in &mut summary.columns {
        if c.name == *name {
            c.role = ColumnRole::Label;
        } else if c.role == ColumnRole::Label {
            c.role = ColumnRole::Feature;
            c.column_type = ColumnType::Categorical;
            c.cardinality = Some(ds.classes.len() as u64);
        }
    }
    summary.label = name.clone();
    summary.rows = counts.iter().sum();
    summary.classes = labels
        .classes
        .iter()
        .zip(&counts)
        .map(|(value, &count)| ClassCount {
            value: value.clone(),
            count,
        })
        .collect();
    let (min, max) = (counts.iter().min(), counts.iter().max());
    summary.imbalance_ratio = match (min, max) {
        (Some(&lo), Some(&hi)) if lo > 0 => hi as f64 / lo as f64,
        _ => f64::INFINITY,
    };
    Ok(Relabeled { summary, labels })
}
