//! The checks of a dataset a job reads beside its own (`pretrain.dataset_id`: rows to pretrain
//! on; `validation.test_dataset_id`: rows to test on): a table with every feature column the
//! job trains on, of the same type, and for a test set the label with classes the job knows.

use crate::domain::dataset::{ColumnInfo, ColumnRole, DatasetKind, DatasetSummary};
use crate::domain::job::JobSpec;
use crate::domain::spec::SpecError;

/// The columns of `ds` that `spec` trains on: its features, without the fold and group columns, only the
/// chosen ones when `features` is given.
pub fn trained_features<'d>(spec: &JobSpec, ds: &'d DatasetSummary) -> Vec<&'d ColumnInfo> {
    ds.columns
        .iter()
        .filter(|c| c.role == ColumnRole::Feature)
        .filter(|c| {
            let v = &spec.validation;
            ![&v.fold_column, &v.group_column]
                .into_iter()
                .any(|n| n.as_deref() == Some(c.name.as_str()))
        })
        .filter(|c| spec.features.as_ref().is_none_or(|f| f.contains(&c.name)))
        .collect()
}

/// Every reason `other` cannot stand in for `ds`'s rows under `field` (`with_label`: its label
/// is scored, so it must be the same column with known classes).
pub fn check_other_dataset(
    field: &str,
    spec: &JobSpec,
    ds: &DatasetSummary,
    other: &DatasetSummary,
    with_label: bool,
) -> Vec<SpecError> {
    let error = |m: String| SpecError::new(field, m);
    // The same dataset, or the same bytes read with the same label: the same rows.
    if other.id == ds.id || (other.sha256 == ds.sha256 && other.label == ds.label) {
        let same = match other.id == ds.id {
            true => "is the job's own dataset".to_owned(),
            false => format!(
                "holds the same bytes as dataset {} (sha256 {})",
                ds.id, ds.sha256
            ),
        };
        let why = match with_label {
            true => "a test set must be rows the job never trains on",
            false => "pretraining already reads the job's own training rows",
        };
        return vec![error(format!("dataset {} {same}: {why}", other.id))];
    }
    if other.kind != DatasetKind::Table || ds.kind != DatasetKind::Table {
        return vec![error(format!(
            "dataset {} and dataset {} must both be tables (rows of columns)",
            ds.id, other.id
        ))];
    }
    let mut errors = Vec::new();
    for c in trained_features(spec, ds) {
        match other.columns.iter().find(|o| o.name == c.name) {
            None => errors.push(error(format!(
                "dataset {} has no column {:?}, which the job trains on",
                other.id, c.name
            ))),
            Some(o) if o.role != ColumnRole::Feature || o.column_type != c.column_type => errors
                .push(error(format!(
                    "column {:?} is a {} {} in dataset {}; the job trains on a {} feature",
                    c.name,
                    o.column_type.as_str(),
                    if o.role == ColumnRole::Label {
                        "label"
                    } else {
                        "column"
                    },
                    other.id,
                    c.column_type.as_str()
                ))),
            Some(_) => {}
        }
    }
    if with_label {
        if other.label != ds.label {
            errors.push(error(format!(
                "dataset {}'s label is {:?}; the job's is {:?}",
                other.id, other.label, ds.label
            )));
        } else if let Some(unknown) = other
            .classes
            .iter()
            .find(|o| !ds.classes.iter().any(|c| c.value == o.value))
        {
            errors.push(error(format!(
                "dataset {} has class {:?}, which dataset {} (trained on) does not",
                other.id, unknown.value, ds.id
            )));
        }
    }
    errors
}
