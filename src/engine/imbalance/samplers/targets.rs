//! How many rows each class has after resampling (imbalanced-learn's `sampling_strategy`),
//! and class counts.

/// Rows per class after over-sampling: every class but the majority is raised to
/// `ratio × majority` (imbalanced-learn: `int(n_majority × ratio − n)` new rows).
pub fn over_targets(counts: &[u64], ratio: f64) -> Vec<u64> {
    let majority = counts.iter().copied().max().unwrap_or(0);
    let major_class = counts.iter().position(|&c| c == majority).unwrap_or(0);
    counts
        .iter()
        .enumerate()
        .map(|(c, &n)| {
            if c == major_class || n == 0 {
                n
            } else {
                n + ((majority as f64 * ratio - n as f64).max(0.0) as u64)
            }
        })
        .collect()
}

/// Rows per class after under-sampling: every class but the minority is cut to
/// `minority / ratio` (imbalanced-learn: `int(n_minority / ratio)`), never raised.
pub fn under_targets(counts: &[u64], ratio: f64) -> Vec<u64> {
    let minority = counts.iter().copied().filter(|&c| c > 0).min().unwrap_or(0);
    let minor_class = counts.iter().position(|&c| c == minority).unwrap_or(0);
    counts
        .iter()
        .enumerate()
        .map(|(c, &n)| {
            if c == minor_class {
                n
            } else {
                n.min((minority as f64 / ratio) as u64)
            }
        })
        .collect()
}

pub fn rows_of(y: &[u32], class: usize) -> Vec<usize> {
    (0..y.len()).filter(|&i| y[i] as usize == class).collect()
}

/// Per-class row counts.
pub fn class_counts(y: &[u32], classes: usize) -> Vec<u64> {
    let mut counts = vec![0u64; classes];
    for &c in y {
        counts[c as usize] += 1;
    }
    counts
}
