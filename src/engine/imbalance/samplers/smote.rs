//! SMOTE (imbalanced-learn's `SMOTE`): new minority rows interpolated towards same-class
//! neighbours.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::neighbors::{Matrix, knn};
use super::targets::{class_counts, over_targets, rows_of};

/// SMOTE's neighbour sets: for each row of `class`, its `k` nearest rows of the same class
/// (indices into that class's rows), nearest first.
pub fn smote_neighbors(m: Matrix<'_>, y: &[u32], class: usize, k: usize) -> Vec<Vec<usize>> {
    let rows = rows_of(y, class);
    knn(m, &rows, &rows, k, true)
        .into_iter()
        .map(|n| n.into_iter().map(|(j, _)| j).collect())
        .collect()
}

/// SMOTE: each class but the majority gets `x_i + u·(x_nn − x_i)`, `u ~ U[0, 1)`, between a
/// random row and one of its `k` nearest same-class rows, up to its target.
pub fn smote(
    m: Matrix<'_>,
    y: &[u32],
    classes: usize,
    ratio: f64,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<u32>) {
    let counts = class_counts(y, classes);
    let targets = over_targets(&counts, ratio);
    let (mut x, mut out_y) = (m.x.to_vec(), y.to_vec());
    for c in 0..classes {
        let extra = (targets[c] - counts[c]) as usize;
        let rows = rows_of(y, c);
        if extra == 0 || rows.len() < 2 {
            continue;
        }
        let neighbors = smote_neighbors(m, y, c, k.min(rows.len() - 1));
        for _ in 0..extra {
            let i = rng.gen_range(0..rows.len());
            let nn = rows[neighbors[i][rng.gen_range(0..neighbors[i].len())]];
            let u: f32 = rng.r#gen();
            for (a, b) in m.row(rows[i]).iter().zip(m.row(nn)) {
                x.push(a + u * (b - a));
            }
            out_y.push(c as u32);
        }
    }
    (x, out_y)
}
