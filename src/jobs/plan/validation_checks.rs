//! The checks of how a job's rows are split, against its dataset: the user's own folds
//! (`fold_column`), groups kept together (`group_column`), and a separate test dataset
//! (`test_dataset_id`, whose columns `other_datasets` checks).

use crate::domain::dataset::{ColumnRole, ColumnType, DatasetSummary};
use crate::domain::job::JobSpec;
use crate::domain::spec::SpecError;

/// Every problem of `spec.validation`'s columns and test set against `ds`.
pub(super) fn check_validation(spec: &JobSpec, ds: &DatasetSummary) -> Vec<SpecError> {
    let v = &spec.validation;
    let mut errors = Vec::new();
    if let Some(name) = &v.fold_column {
        errors.extend(check_fold_column(spec, ds, name));
    }
    if let Some(name) = &v.group_column {
        errors.extend(check_group_column(spec, ds, name));
    }
    if v.test_dataset_id.is_some() && v.test_fraction > 0.0 {
        errors.push(SpecError::new(
            "validation.test_fraction",
            "validation.test_dataset_id is the test set: test_fraction must be 0",
        ));
    }
    errors
}

/// A fold column: a numeric feature column of the dataset, the only assignment (one repeat, no
/// separate test set). Its values are checked when the folds are recorded.
fn check_fold_column(spec: &JobSpec, ds: &DatasetSummary, name: &str) -> Vec<SpecError> {
    let field = "validation.fold_column";
    let mut errors = Vec::new();
    match ds.columns.iter().find(|c| c.name == name) {
        None => errors.push(SpecError::new(
            field,
            format!("no column {name:?} in dataset {}", ds.id),
        )),
        Some(c) if c.role == ColumnRole::Label => {
            errors.push(SpecError::new(field, "the label cannot be the fold column"))
        }
        Some(c) if c.column_type != ColumnType::Numeric => errors.push(SpecError::new(
            field,
            format!("column {name:?} is not numeric: folds are integers 0 to folds − 1"),
        )),
        Some(_) => {}
    }
    if spec.validation.repeats != 1 {
        errors.push(SpecError::new(
            "validation.repeats",
            "a fold_column is one assignment: repeats must be 1",
        ));
    }
    if spec.validation.test_fraction > 0.0 {
        errors.push(SpecError::new(
            "validation.test_fraction",
            "a fold_column assigns every row to a fold: test_fraction must be 0",
        ));
    }
    errors
}

/// A group column: any non-label column other than the fold column. Its values (every row
/// needs one, and at least `folds` distinct) are checked when the folds are recorded.
fn check_group_column(spec: &JobSpec, ds: &DatasetSummary, name: &str) -> Vec<SpecError> {
    let field = "validation.group_column";
    let mut errors = Vec::new();
    match ds.columns.iter().find(|c| c.name == name) {
        None => errors.push(SpecError::new(
            field,
            format!("no column {name:?} in dataset {}", ds.id),
        )),
        Some(c) if c.role == ColumnRole::Label => errors.push(SpecError::new(
            field,
            "the label cannot be the group column",
        )),
        Some(_) if spec.validation.fold_column.is_some() => errors.push(SpecError::new(
            field,
            "fold_column already gives the folds: choose one of fold_column and group_column",
        )),
        Some(_) => {}
    }
    if spec.validation.test_fraction > 0.0 {
        errors.push(SpecError::new(
            "validation.test_fraction",
            "a test set drawn by rows would split groups: use validation.test_dataset_id",
        ));
    }
    errors
}
