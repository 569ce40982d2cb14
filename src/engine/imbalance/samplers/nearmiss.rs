//! NearMiss 1, 2 and 3 (imbalanced-learn's `NearMiss`): under-sampling that keeps the rows
//! nearest to (or, version 2, farthest from) the minority class.

use super::neighbors::{Matrix, knn};
use super::targets::{class_counts, rows_of, under_targets};

/// NearMiss (versions 1, 2, 3): the kept row indices, sorted. Every class but the minority is
/// cut to its target, choosing rows by their distances to the minority class.
pub fn nearmiss(
    m: Matrix<'_>,
    y: &[u32],
    classes: usize,
    version: u8,
    n_neighbors: usize,
    n_neighbors_ver3: usize,
    ratio: f64,
) -> Vec<usize> {
    let counts = class_counts(y, classes);
    let targets = under_targets(&counts, ratio);
    let minority = counts.iter().copied().filter(|&c| c > 0).min().unwrap_or(0);
    let minor_class = counts.iter().position(|&c| c == minority).unwrap_or(0);
    let minority_rows = rows_of(y, minor_class);
    let mut kept = minority_rows.clone();
    // The sum of the last (farthest) `n_neighbors` distances, as imbalanced-learn scores rows.
    let score = |n: &Vec<(usize, f64)>| n.iter().rev().take(n_neighbors).map(|p| p.1).sum::<f64>();
    for c in (0..classes).filter(|&c| c != minor_class) {
        let rows = rows_of(y, c);
        let take = targets[c] as usize;
        let chosen: Vec<usize> = match version {
            1 | 2 => {
                let k = if version == 1 {
                    n_neighbors
                } else {
                    minority_rows.len()
                };
                let scores: Vec<f64> = knn(m, &rows, &minority_rows, k, false)
                    .iter()
                    .map(score)
                    .collect();
                let mut order: Vec<usize> = (0..rows.len()).collect();
                order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
                order.into_iter().take(take).map(|i| rows[i]).collect()
            }
            _ => {
                // Keep the majority rows that are among some minority row's nearest, then the
                // ones whose nearest minority rows are farthest.
                let mut near: Vec<usize> = knn(m, &minority_rows, &rows, n_neighbors_ver3, false)
                    .into_iter()
                    .flatten()
                    .map(|(j, _)| j)
                    .collect();
                near.sort_unstable();
                near.dedup();
                let candidates: Vec<usize> = near.iter().map(|&j| rows[j]).collect();
                let scores: Vec<f64> = knn(m, &candidates, &minority_rows, n_neighbors, false)
                    .iter()
                    .map(score)
                    .collect();
                let mut order: Vec<usize> = (0..candidates.len()).collect();
                // Descending and stable, as Python's sorted(reverse=True).
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
                order
                    .into_iter()
                    .take(take)
                    .map(|i| candidates[i])
                    .collect()
            }
        };
        kept.extend(chosen);
    }
    kept.sort_unstable();
    kept
}
