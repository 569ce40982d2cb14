//! Where each row is held out, per repeat: stratified folds from the seed (outside the test
//! set), the user's own folds (`validation.fold_column`), or stratified group folds
//! (`validation.group_column`), each a 422 naming the first row that does not fit.

use crate::domain::dataset::ColumnData;
use crate::domain::job::JobSpec;
use crate::domain::spec::SpecError;
use crate::engine::data::{group_split, split};
use crate::engine::fold::derive_seed;

/// What decides the folds, with the column it reads.
#[derive(Debug, Clone, Copy)]
pub enum FoldSource<'a> {
    /// Stratified folds from the seed.
    Stratified,
    /// `fold_column`'s values.
    Given(&'a [f32]),
    /// `group_column`'s values.
    Groups(&'a ColumnData),
}

/// One assignment per repeat (`split::TEST_SET` for the test rows).
pub(super) fn assignments(
    spec: &JobSpec,
    labels: &[u32],
    n_classes: usize,
    in_test: &[bool],
    source: FoldSource<'_>,
) -> Result<Vec<Vec<u32>>, SpecError> {
    let folds = spec.validation.folds as usize;
    let repeats = spec.validation.repeats as usize;
    let seed = |r: usize| derive_seed(spec.seed, r as u64, u64::MAX);
    Ok(match source {
        FoldSource::Given(values) => vec![given(values, folds)?],
        FoldSource::Groups(column) => {
            let field = "validation.group_column";
            let (groups, n) = group_split::group_index(column)
                .map_err(|row| SpecError::new(field, format!("row {row} has no group value")))?;
            if n < folds {
                return Err(SpecError::new(
                    field,
                    format!("{n} groups cannot fill {folds} folds: use at most {n} folds"),
                ));
            }
            (0..repeats)
                .map(|r| {
                    group_split::assign_groups(labels, n_classes, &groups, n, folds, Some(seed(r)))
                })
                .collect()
        }
        FoldSource::Stratified => (0..repeats)
            .map(|r| split::assign_outside_test(labels, in_test, n_classes, folds, seed(r)))
            .collect(),
    })
}

/// The user's fold of each row (`validation.fold_column`): integers `0..folds`, every fold
/// with a row; else a 422 naming the first bad row.
fn given(values: &[f32], folds: usize) -> Result<Vec<u32>, SpecError> {
    let field = "validation.fold_column";
    let mut used = vec![false; folds];
    let mut out = Vec::with_capacity(values.len());
    for (row, &v) in values.iter().enumerate() {
        if !(v.fract() == 0.0 && v >= 0.0 && (v as usize) < folds) {
            return Err(SpecError::new(
                field,
                format!(
                    "row {row}: {v} is not a fold (an integer from 0 to {})",
                    folds - 1
                ),
            ));
        }
        used[v as usize] = true;
        out.push(v as u32);
    }
    if let Some(f) = used.iter().position(|u| !u) {
        return Err(SpecError::new(
            field,
            format!(
                "no row is in fold {f}: every fold from 0 to {} needs rows",
                folds - 1
            ),
        ));
    }
    Ok(out)
}
