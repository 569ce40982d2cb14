//! Stratified k-fold assignment with scikit-learn's `StratifiedKFold` allocation: each fold
//! gets the class counts of every `folds`-th row of the label-sorted data, and within a class
//! the fold labels are shuffled by the seed. Folds are index lists; data is never reordered.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Why the rows cannot be split into that many stratified folds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FoldError(pub String);

/// Checks that every class can appear in every fold's held-out part.
pub fn check(class_counts: &[u64], folds: usize) -> Result<(), FoldError> {
    if folds < 2 {
        return Err(FoldError("cross-validation needs at least 2 folds".into()));
    }
    let total: u64 = class_counts.iter().sum();
    if folds as u64 > total {
        return Err(FoldError(format!("{folds} folds but only {total} rows")));
    }
    if let Some((class, &count)) = class_counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .min_by_key(|(_, c)| **c)
        && (count as usize) < folds
    {
        return Err(FoldError(format!(
            "{folds} folds but class {class} has only {count} rows: stratified folds need every \
             class in every fold; use at most {count} folds"
        )));
    }
    Ok(())
}

/// The fold (0..folds) each row is held out in.
pub fn assign(y: &[u32], classes: usize, folds: usize, seed: u64) -> Vec<u32> {
    let mut sorted: Vec<u32> = y.to_vec();
    sorted.sort_unstable();
    // allocation[c][f]: rows of class c held out in fold f.
    let mut allocation = vec![vec![0usize; folds]; classes];
    for (i, &c) in sorted.iter().enumerate() {
        allocation[c as usize][i % folds] += 1;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![0u32; y.len()];
    for (c, per_fold) in allocation.iter().enumerate() {
        let mut labels: Vec<u32> = per_fold
            .iter()
            .enumerate()
            .flat_map(|(f, &n)| std::iter::repeat_n(f as u32, n))
            .collect();
        labels.shuffle(&mut rng);
        let rows = y
            .iter()
            .enumerate()
            .filter(|&(_, &yc)| yc as usize == c)
            .map(|(i, _)| i);
        for (row, label) in rows.zip(labels) {
            out[row] = label;
        }
    }
    out
}

/// Marks a row of the held-out test set: in no fold, neither trained nor scored on by any.
pub const TEST_SET: u32 = u32::MAX;
/// The mark of a row no run reads (no class, with `drop_missing_label`).
pub const DROPPED: u32 = u32::MAX - 1;

/// Folds for the rows not in the test set; test-set rows are marked [`TEST_SET`].
pub fn assign_outside_test(
    y: &[u32],
    in_test: &[bool],
    classes: usize,
    folds: usize,
    seed: u64,
) -> Vec<u32> {
    let rest: Vec<usize> = (0..y.len()).filter(|&i| !in_test[i]).collect();
    let rest_y: Vec<u32> = rest.iter().map(|&i| y[i]).collect();
    let mut out = vec![TEST_SET; y.len()];
    for (&i, f) in rest.iter().zip(assign(&rest_y, classes, folds, seed)) {
        out[i] = f;
    }
    out
}

/// (training rows, held-out rows) of `fold`; test-set rows are in neither.
pub fn split(assignment: &[u32], fold: u32) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, &f) in assignment.iter().enumerate() {
        if f == TEST_SET || f == DROPPED {
            continue;
        }
        if f == fold {
            test.push(i)
        } else {
            train.push(i)
        }
    }
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_counts_per_fold_follow_scikit_learns_allocation() {
        // 10 of class 0 and 3 of class 1 in 5 folds. Sorted labels, every 5th row from i:
        // i=0 → rows 0,5,10 → [2, 1]; i=1 → [2, 1]; i=2 → [2, 1]; i=3 → [2, 0]; i=4 → [2, 0].
        let y: Vec<u32> = [1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0].to_vec();
        let a = assign(&y, 2, 5, 42);
        let count = |f: u32, c: u32| {
            y.iter()
                .zip(&a)
                .filter(|&(&yc, &af)| yc == c && af == f)
                .count()
        };
        let got: Vec<[usize; 2]> = (0..5).map(|f| [count(f, 0), count(f, 1)]).collect();
        assert_eq!(got, vec![[2, 1], [2, 1], [2, 1], [2, 0], [2, 0]]);
    }

    #[test]
    fn the_seed_decides_the_assignment_and_folds_partition_the_rows() {
        let y: Vec<u32> = (0..100).map(|i| (i % 3 == 0) as u32).collect();
        assert_eq!(assign(&y, 2, 4, 1), assign(&y, 2, 4, 1));
        assert_ne!(assign(&y, 2, 4, 1), assign(&y, 2, 4, 2));
        let a = assign(&y, 2, 4, 1);
        let mut seen = vec![0; 100];
        for f in 0..4 {
            let (train, test) = split(&a, f);
            assert_eq!(train.len() + test.len(), 100);
            for i in test {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&s| s == 1));
    }

    #[test]
    fn more_folds_than_the_smallest_class_is_explained() {
        let err = check(&[5474, 348], 500).unwrap_err();
        assert!(err.0.contains("class 1 has only 348 rows"), "{err}");
        check(&[5474, 348], 5).unwrap();
        assert!(check(&[3, 3], 1).is_err());
    }
}
