//! Stratified group k-fold, as scikit-learn's `StratifiedGroupKFold`: rows sharing a group
//! value are held out in the same fold, and the folds' class proportions are kept as even as
//! the groups allow. Groups are taken (shuffled by the seed, or in sorted order) from the most
//! class-skewed to the least (the standard deviation of their class counts, a stable sort), and
//! each goes to the fold where the mean over classes of the folds' spread of that class's share
//! is smallest, ties to the fold with fewer rows.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::domain::dataset::{ColumnData, MISSING_CODE};

/// Each row's group as a dense index (in sorted order of the values: numbers numerically,
/// categories by name, as `np.unique` orders them) and the group count, or the first row with
/// no group value.
pub fn group_index(column: &ColumnData) -> Result<(Vec<u32>, usize), usize> {
    match column {
        ColumnData::Numeric(values) => {
            if let Some(row) = values.iter().position(|v| v.is_nan()) {
                return Err(row);
            }
            let mut sorted = values.clone();
            sorted.sort_by(f32::total_cmp);
            sorted.dedup();
            let index = values
                .iter()
                .map(|v| sorted.binary_search_by(|s| s.total_cmp(v)).unwrap_or(0) as u32)
                .collect();
            Ok((index, sorted.len()))
        }
        ColumnData::Categorical { codes, categories } => {
            if let Some(row) = codes.iter().position(|&c| c == MISSING_CODE) {
                return Err(row);
            }
            let mut order: Vec<usize> = (0..categories.len()).collect();
            order.sort_by(|&a, &b| categories[a].cmp(&categories[b]));
            let mut rank = vec![0u32; categories.len()];
            for (r, &c) in order.iter().enumerate() {
                rank[c] = r as u32;
            }
            // Only the categories some row has count as groups.
            let mut used = vec![false; categories.len()];
            for &c in codes {
                used[rank[c as usize] as usize] = true;
            }
            let mut dense = vec![0u32; categories.len()];
            let mut n = 0u32;
            for (r, u) in used.iter().enumerate() {
                if *u {
                    dense[r] = n;
                    n += 1;
                }
            }
            let index = codes
                .iter()
                .map(|&c| dense[rank[c as usize] as usize])
                .collect();
            Ok((index, n as usize))
        }
    }
}

/// The fold (0..folds) each row is held out in; `seed` shuffles the groups first (`None`:
/// sorted order, scikit-learn's `shuffle=False`). Needs at least `folds` groups.
pub fn assign_groups(
    y: &[u32],
    classes: usize,
    groups: &[u32],
    n_groups: usize,
    folds: usize,
    seed: Option<u64>,
) -> Vec<u32> {
    let mut per_group = vec![vec![0.0f64; classes]; n_groups];
    let mut class_totals = vec![0.0f64; classes];
    for (&c, &g) in y.iter().zip(groups) {
        per_group[g as usize][c as usize] += 1.0;
        class_totals[c as usize] += 1.0;
    }
    let mut order: Vec<usize> = (0..n_groups).collect();
    if let Some(seed) = seed {
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    }
    let spread: Vec<f64> = per_group.iter().map(|c| std(c.iter().copied())).collect();
    // Stable: equally skewed groups keep their (shuffled) order.
    order.sort_by(|&a, &b| spread[b].total_cmp(&spread[a]));
    let mut per_fold = vec![vec![0.0f64; classes]; folds];
    let mut fold_of_group = vec![0u32; n_groups];
    for g in order {
        let best = best_fold(&mut per_fold, &class_totals, &per_group[g]);
        for (f, &c) in per_fold[best].iter_mut().zip(&per_group[g]) {
            *f += c;
        }
        fold_of_group[g] = best as u32;
    }
    groups.iter().map(|&g| fold_of_group[g as usize]).collect()
}

/// scikit-learn's `_find_best_fold`: the fold whose taking `group` gives the lowest mean over
/// classes of the standard deviation across folds of the class's share; ties (`np.isclose`)
/// to the fold with fewer rows, then the first.
fn best_fold(per_fold: &mut [Vec<f64>], class_totals: &[f64], group: &[f64]) -> usize {
    let (mut best, mut min_eval, mut min_rows) = (0, f64::INFINITY, f64::INFINITY);
    for i in 0..per_fold.len() {
        add(&mut per_fold[i], group, 1.0);
        let classes = class_totals.len();
        let eval = (0..classes)
            .map(|c| std(per_fold.iter().map(|f| f[c] / class_totals[c])))
            .sum::<f64>()
            / classes as f64;
        add(&mut per_fold[i], group, -1.0);
        let rows: f64 = per_fold[i].iter().sum();
        let close = (eval - min_eval).abs() <= 1e-8 + 1e-5 * min_eval.abs();
        if eval < min_eval || (close && rows < min_rows) {
            (best, min_eval, min_rows) = (i, eval, rows);
        }
    }
    best
}

fn add(into: &mut [f64], counts: &[f64], sign: f64) {
    for (a, &c) in into.iter_mut().zip(counts) {
        *a += sign * c;
    }
}

/// Population standard deviation (`np.std`: the mean, then the root of the mean square
/// deviation).
fn std(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    (values.map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_indexed_in_sorted_order_and_a_missing_one_is_named() {
        let (idx, n) = group_index(&ColumnData::Numeric(vec![3.0, -1.0, 3.0, 7.5])).unwrap();
        assert_eq!((idx, n), (vec![1, 0, 1, 2], 3));
        let cats = ColumnData::Categorical {
            codes: vec![0, 2, 0],
            categories: vec!["b".into(), "z".into(), "a".into()],
        };
        // "z" has no rows: two groups, a then b.
        assert_eq!(group_index(&cats).unwrap(), (vec![1, 0, 1], 2));
        assert_eq!(
            group_index(&ColumnData::Numeric(vec![1.0, f32::NAN])),
            Err(1)
        );
    }

    #[test]
    fn a_group_is_never_in_two_folds() {
        let y: Vec<u32> = (0..60).map(|i| u32::from(i % 3 == 0)).collect();
        let groups: Vec<u32> = (0..60).map(|i| (i / 4) as u32).collect();
        let folds = assign_groups(&y, 2, &groups, 15, 3, Some(7));
        for g in 0..15 {
            let f: Vec<u32> = (0..60)
                .filter(|&i| groups[i] == g)
                .map(|i| folds[i])
                .collect();
            assert!(f.iter().all(|&x| x == f[0]), "group {g}: {f:?}");
        }
        assert!((0..3).all(|f| folds.contains(&f)));
    }
}
