//! Where each row is held out, per repeat: stratified folds from the seed (outside the test
//! set), the user's own folds (`validation.fold_column`), or stratified group folds
//! (`validation.group_column`), each a 422 naming the first row that does not fit.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::domain::dataset::{ColumnData, MISSING_CODE};
use crate::domain::job::JobSpec;
use crate::domain::spec::SpecError;
use crate::engine::data::rows::stratified_split;
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

/// One assignment per repeat of every row: its fold, `split::TEST_SET`, or `split::DROPPED`
/// for a row without a class (`drop_missing_label`), which no run reads. The test set and the
/// folds are drawn over the other rows.
pub(super) fn assign_rows(
    spec: &JobSpec,
    labels: &[u32],
    n_classes: usize,
    source: FoldSource<'_>,
) -> Result<Vec<Vec<u32>>, SpecError> {
    let kept: Vec<usize> = (0..labels.len())
        .filter(|&i| labels[i] != MISSING_CODE)
        .collect();
    if kept.len() == labels.len() {
        let in_test = test_set(spec, labels, n_classes)?;
        return assignments(spec, labels, n_classes, &in_test, source);
    }
    let sub_labels: Vec<u32> = kept.iter().map(|&i| labels[i]).collect();
    let in_test = test_set(spec, &sub_labels, n_classes)?;
    let values: Vec<f32>;
    let column: ColumnData;
    let sub_source = match source {
        FoldSource::Stratified => FoldSource::Stratified,
        FoldSource::Given(v) => {
            values = kept.iter().map(|&i| v[i]).collect();
            FoldSource::Given(&values)
        }
        FoldSource::Groups(c) => {
            column = c.rows(&kept);
            FoldSource::Groups(&column)
        }
    };
    let sub = assignments(spec, &sub_labels, n_classes, &in_test, sub_source)?;
    Ok(sub
        .into_iter()
        .map(|marks| {
            let mut all = vec![split::DROPPED; labels.len()];
            for (&row, mark) in kept.iter().zip(marks) {
                all[row] = mark;
            }
            all
        })
        .collect())
}

/// The test set (`test_fraction`, or an outer fold of a nested job), drawn once before the
/// folds, the same for every repeat.
fn test_set(spec: &JobSpec, labels: &[u32], n_classes: usize) -> Result<Vec<bool>, SpecError> {
    let folds_n = spec.validation.folds as usize;
    if let (Some(k), Some(fold)) = (spec.validation.outer_folds, spec.validation.outer_fold) {
        return outer_fold(spec, labels, n_classes, (k as usize, fold as u32));
    }
    let mut in_test = vec![false; labels.len()];
    if spec.validation.test_fraction > 0.0 {
        let seed = derive_seed(spec.seed, u64::MAX, u64::MAX);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fraction = spec.validation.test_fraction;
        let (_, test) = stratified_split(labels, n_classes, fraction, &mut rng);
        for i in test {
            in_test[i] = true;
        }
        let mut rest_counts = vec![0u64; n_classes];
        for (i, &y) in labels.iter().enumerate() {
            if !in_test[i] {
                rest_counts[y as usize] += 1;
            }
        }
        if let Err(e) = split::check(&rest_counts, folds_n) {
            let message = format!("{} (after holding out the test set)", e.0);
            return Err(SpecError::new("validation.folds", message));
        }
    }
    Ok(in_test)
}

/// Outer fold `fold` of `k` stratified outer folds (drawn with the seed, the same for each
/// of a nested job's outer jobs): this job's test set. The rest must fill the inner folds.
fn outer_fold(
    spec: &JobSpec,
    labels: &[u32],
    n_classes: usize,
    (k, fold): (usize, u32),
) -> Result<Vec<bool>, SpecError> {
    let mut counts = vec![0u64; n_classes];
    for &y in labels {
        counts[y as usize] += 1;
    }
    if let Err(e) = split::check(&counts, k) {
        return Err(SpecError::new("validation.outer_folds", e.0));
    }
    let seed = derive_seed(spec.seed, u64::MAX - 1, u64::MAX);
    let outer = split::assign(labels, n_classes, k, seed);
    let in_test: Vec<bool> = outer.iter().map(|&f| f == fold).collect();
    let mut rest_counts = vec![0u64; n_classes];
    for (&y, _) in labels.iter().zip(&in_test).filter(|(_, t)| !**t) {
        rest_counts[y as usize] += 1;
    }
    if let Err(e) = split::check(&rest_counts, spec.validation.folds as usize) {
        let message = format!("{} (in an outer fold's training rows)", e.0);
        return Err(SpecError::new("validation.folds", message));
    }
    Ok(in_test)
}

/// One assignment per repeat (`split::TEST_SET` for the test rows).
fn assignments(
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
