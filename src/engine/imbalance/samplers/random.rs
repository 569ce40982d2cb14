//! Random under-sampling, and random over-sampling with an optional smoothed bootstrap
//! (imbalanced-learn's `RandomUnderSampler`, `RandomOverSampler(shrinkage)`).

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::neighbors::Matrix;
use super::targets::{class_counts, over_targets, rows_of, under_targets};

/// Random under-sampling: the kept row indices, sorted.
pub fn undersample(y: &[u32], classes: usize, ratio: f64, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let counts = class_counts(y, classes);
    let targets = under_targets(&counts, ratio);
    let mut kept = Vec::new();
    for (c, &target) in targets.iter().enumerate() {
        let mut rows = rows_of(y, c);
        rows.shuffle(rng);
        rows.truncate(target as usize);
        kept.extend(rows);
    }
    kept.sort_unstable();
    kept
}

/// The smoothed-bootstrap bandwidth of imbalanced-learn's `RandomOverSampler(shrinkage)`:
/// `h = (4 / ((d + 2)·n))^(1 / (d + 4))`, `n` every row passed to the sampler.
pub fn shrinkage_bandwidth(n: usize, d: usize) -> f64 {
    (4.0 / ((d as f64 + 2.0) * n as f64)).powf(1.0 / (d as f64 + 4.0))
}

/// Random over-sampling with replacement; with `shrinkage` > 0 each copy gets gaussian noise of
/// std `shrinkage · h · std_class` per feature. Returns the original rows followed by the new
/// ones (features, labels).
pub fn oversample(
    m: Matrix<'_>,
    y: &[u32],
    classes: usize,
    ratio: f64,
    shrinkage: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<u32>) {
    let counts = class_counts(y, classes);
    let targets = over_targets(&counts, ratio);
    let h = shrinkage_bandwidth(y.len(), m.d);
    let (mut x, mut out_y) = (m.x.to_vec(), y.to_vec());
    for c in 0..classes {
        let rows = rows_of(y, c);
        let extra = (targets[c] - counts[c]) as usize;
        if extra == 0 || rows.is_empty() {
            continue;
        }
        let std = class_std(m, &rows);
        for _ in 0..extra {
            let r = rows[rng.gen_range(0..rows.len())];
            for (j, &v) in m.row(r).iter().enumerate() {
                let z: f64 = if shrinkage > 0.0 {
                    rng.sample(StandardNormal)
                } else {
                    0.0
                };
                x.push((f64::from(v) + z * shrinkage * h * std[j]) as f32);
            }
            out_y.push(c as u32);
        }
    }
    (x, out_y)
}

fn class_std(m: Matrix<'_>, rows: &[usize]) -> Vec<f64> {
    let n = rows.len() as f64;
    (0..m.d)
        .map(|j| {
            let mean = rows.iter().map(|&r| f64::from(m.row(r)[j])).sum::<f64>() / n;
            (rows
                .iter()
                .map(|&r| (f64::from(m.row(r)[j]) - mean).powi(2))
                .sum::<f64>()
                / n)
                .sqrt()
        })
        .collect()
}
