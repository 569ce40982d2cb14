//! Per-class loss weights.

/// scikit-learn's `compute_class_weight("balanced")`: `n / (k · count_c)`. A class with no rows
/// gets weight 0 (it cannot contribute to the loss anyway).
pub fn balanced(counts: &[u64]) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    let k = counts.len() as f64;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                n as f64 / (k * c as f64)
            }
        })
        .collect()
}
