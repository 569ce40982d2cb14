//! The prior-shift correction of probabilities after resampling or class weights
//! (`imbalance.correct_probabilities`): a model trained where class `c` had prior `π'_c`
//! predicts as if it still had; mapped back to the training rows' priors `π_c`,
//! `p'(c) ∝ p(c) · π_c / π'_c` (Saerens et al. 2002; what H2O does after balancing). For two
//! classes the map is monotone in `p(1)`, so rankings (ROC AUC, PR AUC) do not change.

/// Per class, `π_c / π'_c`: `counts` the fold's training rows per class before resampling;
/// the model saw `trained` rows per class, each weighing `weights[c]` in the loss. `None` when
/// a class is absent from either (no correction is defined).
pub fn correction(counts: &[u64], trained: &[u64], weights: &[f32]) -> Option<Vec<f64>> {
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    let effective: Vec<f64> = trained
        .iter()
        .zip(weights)
        .map(|(&n, &w)| n as f64 * f64::from(w))
        .collect();
    let total_effective: f64 = effective.iter().sum();
    counts
        .iter()
        .zip(&effective)
        .map(|(&c, &e)| {
            let (pi, pi_trained) = (c as f64 / total, e / total_effective);
            (pi > 0.0 && pi_trained > 0.0).then(|| pi / pi_trained)
        })
        .collect()
}

/// Applies `correction` to probabilities (rows × classes, row-major), renormalizing each row.
pub fn correct(proba: &mut [f64], correction: &[f64]) {
    for row in proba.chunks_exact_mut(correction.len()) {
        row.iter_mut().zip(correction).for_each(|(p, c)| *p *= c);
        let sum: f64 = row.iter().sum();
        if sum > 0.0 {
            row.iter_mut().for_each(|p| *p /= sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undersampled_priors_map_back_to_the_training_priors() {
        // 90 / 10 training rows undersampled to 10 / 10: π = (0.9, 0.1), π' = (0.5, 0.5).
        let c = correction(&[90, 10], &[10, 10], &[1.0, 1.0]).unwrap();
        assert!(
            (c[0] - 1.8).abs() < 1e-12 && (c[1] - 0.2).abs() < 1e-12,
            "{c:?}"
        );
        // A balanced model's 0.5 becomes the prior; 0.9 for the minority becomes
        // 0.9·0.2 / (0.9·0.2 + 0.1·1.8) = 0.5.
        let mut p = vec![0.5, 0.5, 0.1, 0.9];
        correct(&mut p, &c);
        assert!(
            (p[0] - 0.9).abs() < 1e-12 && (p[1] - 0.1).abs() < 1e-12,
            "{p:?}"
        );
        assert!((p[3] - 0.5).abs() < 1e-12, "{p:?}");
        // Class weights shift the priors as resampling does: weights 1 and 9 on 90 / 10.
        let w = correction(&[90, 10], &[90, 10], &[1.0, 9.0]).unwrap();
        assert!(
            (w[0] - 1.8).abs() < 1e-9 && (w[1] - 0.2).abs() < 1e-9,
            "{w:?}"
        );
        // Nothing changed: no correction.
        assert_eq!(
            correction(&[30, 10], &[30, 10], &[1.0, 1.0]).unwrap(),
            vec![1.0, 1.0]
        );
        assert_eq!(correction(&[30, 0], &[30, 0], &[1.0, 1.0]), None);
    }
}
