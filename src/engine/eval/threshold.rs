//! A binary model's decision threshold tuned on held-out predictions, as scikit-learn's
//! `TunedThresholdClassifierCV`: class 1 is predicted where its probability is at least the
//! threshold, chosen to maximize a metric of the decisions. The probabilities are left as they
//! are (calibration is untouched); only the decision moves.
//!
//! Every threshold between two neighbouring distinct probabilities is a candidate (their
//! midpoint), and so is the lowest probability (everything class 1); of equal scores, the one
//! nearest 0.5 (the argmax's threshold) wins. Cross-fitted scores tune each fold's threshold on
//! the other folds' predictions of rows outside it, so no fold is scored at a threshold its own
//! labels chose.

use super::scores::{Decision, Scores, score_at};

/// One fold's held-out predictions: dataset rows, labels (0 or 1), probabilities (rows × 2).
#[derive(Debug, Clone, Copy)]
pub struct HeldFold<'a> {
    pub rows: &'a [u32],
    pub y: &'a [u32],
    pub proba: &'a [f32],
}

/// A threshold tuned on every fold's predictions, and each fold scored at the threshold tuned
/// on the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    pub threshold: f64,
    pub folds: Vec<Scores>,
}

/// The threshold on class 1's probability `p1` that maximizes `objective` of the decisions
/// against `y` (0 or 1); 0.5 when there is nothing to tune on.
pub fn tune(y: &[u32], p1: &[f64], objective: impl Fn(&Decision) -> f64) -> f64 {
    let mut order: Vec<usize> = (0..p1.len()).collect();
    order.sort_by(|&a, &b| p1[b].total_cmp(&p1[a]));
    let positives = y.iter().filter(|&&c| c == 1).count() as u64;
    let negatives = y.len() as u64 - positives;
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut best: Option<(f64, f64)> = None;
    let mut i = 0;
    while i < order.len() {
        // Every row of this probability is predicted 1 together.
        let value = p1[order[i]];
        while i < order.len() && p1[order[i]] == value {
            match y[order[i]] {
                1 => tp += 1,
                _ => fp += 1,
            }
            i += 1;
        }
        let threshold = match order.get(i) {
            Some(&next) => (value + p1[next]) / 2.0,
            None => value,
        };
        let cm = [[negatives - fp, fp], [positives - tp, tp]];
        let score = objective(&Decision::of(&cm));
        let better = best.is_none_or(|(s, t)| {
            score > s || (score == s && (threshold - 0.5).abs() < (t - 0.5).abs())
        });
        if better {
            best = Some((score, threshold));
        }
    }
    best.map_or(0.5, |(_, t)| t)
}

/// The threshold tuned on all `folds` and each fold's scores at the threshold tuned on the
/// other folds' predictions of rows outside it (repeated cross-validation predicts a row once
/// per repeat).
pub fn cross_fitted(folds: &[HeldFold<'_>], objective: impl Fn(&Decision) -> f64) -> Tuning {
    let (y, p1) = pooled(folds, None);
    let threshold = tune(&y, &p1, &objective);
    let folds = (0..folds.len())
        .map(|k| {
            let (y, p1) = pooled(folds, Some(k));
            let at = tune(&y, &p1, &objective);
            let fold = &folds[k];
            let proba: Vec<f64> = fold.proba.iter().map(|&p| f64::from(p)).collect();
            score_at(fold.y, &proba, at)
        })
        .collect();
    Tuning { threshold, folds }
}

/// The labels and class-1 probabilities of every fold but `left_out`, without its rows.
fn pooled(folds: &[HeldFold<'_>], left_out: Option<usize>) -> (Vec<u32>, Vec<f64>) {
    let outside: std::collections::HashSet<u32> = match left_out {
        Some(k) => folds[k].rows.iter().copied().collect(),
        None => Default::default(),
    };
    let (mut y, mut p1) = (Vec::new(), Vec::new());
    for (j, fold) in folds.iter().enumerate() {
        if Some(j) == left_out {
            continue;
        }
        for (i, (&row, &label)) in fold.rows.iter().zip(fold.y).enumerate() {
            if !outside.contains(&row) {
                y.push(label);
                p1.push(f64::from(fold.proba[2 * i + 1]));
            }
        }
    }
    (y, p1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(d: &Decision) -> f64 {
        d.balanced_accuracy
    }

    #[test]
    fn the_threshold_maximizes_the_metric_by_hand() {
        // p1 sorted: 0.9 (1), 0.4 (1), 0.3 (0), 0.2 (1), 0.1 (0), 0.05 (0). Recalls of class 1
        // and 0 predicting the top k as 1: k=1 (1/3, 1), k=2 (2/3, 1) → 0.8333, k=3 (2/3, 2/3),
        // k=4 (1, 2/3) → 0.8333, k=5 (1, 1/3), k=6 (1, 0). Two ties at 0.8333: k=2's threshold
        // (0.4 + 0.3) / 2 = 0.35 and k=4's (0.2 + 0.1) / 2 = 0.15; 0.35 is nearer 0.5.
        let y = [1, 1, 0, 1, 0, 0];
        let p1 = [0.9, 0.4, 0.3, 0.2, 0.1, 0.05];
        let t = tune(&y, &p1, balanced);
        assert!((t - 0.35).abs() < 1e-12, "{t}");
        // Accuracy: k=2 and k=4 both give 5/6, the best; again 0.35.
        assert!((tune(&y, &p1, |d| d.accuracy) - 0.35).abs() < 1e-12);
        // Rows with one probability are decided together: with 0.4 twice (one of each class)
        // the threshold never splits them.
        let y = [1, 1, 0, 0];
        let p1 = [0.9, 0.4, 0.4, 0.1];
        // 0.65 and 0.25 both give 0.75; 0.65 is nearer 0.5.
        let t = tune(&y, &p1, balanced);
        assert!((t - 0.65).abs() < 1e-12, "{t}");
    }

    #[test]
    fn a_rare_class_gets_a_threshold_below_one_half_and_better_balanced_accuracy() {
        // 1 row in 10 is class 1, whose probability never reaches 0.5 but ranks it first.
        let n = 200;
        let y: Vec<u32> = (0..n).map(|i| u32::from(i % 10 == 0)).collect();
        let p1: Vec<f64> = (0..n)
            .map(|i| if i % 10 == 0 { 0.3 } else { 0.1 } + (i % 7) as f64 * 0.01)
            .collect();
        let t = tune(&y, &p1, balanced);
        assert!(t < 0.3 && t > 0.16, "{t}");
        let proba: Vec<f64> = p1.iter().flat_map(|&p| [1.0 - p, p]).collect();
        let at = score_at(&y, &proba, t);
        let argmax = super::super::scores::score(&y, &proba, 2);
        assert_eq!(at.balanced_accuracy, 1.0);
        assert_eq!(argmax.balanced_accuracy, 0.5);
        // The probabilities, so the threshold-free metrics, are the argmax's.
        assert_eq!(at.log_loss, argmax.log_loss);
        assert_eq!(at.brier_score, argmax.brier_score);
        assert_eq!(at.roc_auc, argmax.roc_auc);
    }

    #[test]
    fn cross_fitted_folds_are_scored_at_thresholds_their_labels_did_not_choose() {
        // Fold 0 alone would choose ~0.3; the other folds put class 1 near 0.7, so fold 0 is
        // scored at their threshold and loses recall; the pooled threshold sees all three.
        let fold = |rows: std::ops::Range<u32>, one: f32| {
            let rows: Vec<u32> = rows.collect();
            let y: Vec<u32> = rows.iter().map(|r| u32::from(r % 2 == 0)).collect();
            let proba: Vec<f32> = y
                .iter()
                .flat_map(|&c| {
                    let p = if c == 1 { one } else { 0.2 };
                    [1.0 - p, p]
                })
                .collect();
            (rows, y, proba)
        };
        let data = [fold(0..10, 0.3), fold(10..20, 0.7), fold(20..30, 0.7)];
        let folds: Vec<HeldFold<'_>> = (data.iter())
            .map(|(rows, y, proba)| HeldFold { rows, y, proba })
            .collect();
        let tuning = cross_fitted(&folds, balanced);
        assert!(tuning.threshold > 0.2 && tuning.threshold < 0.3);
        assert_eq!(tuning.folds.len(), 3);
        // Fold 0 at (0.7 + 0.2) / 2 = 0.45: its class 1 rows (0.3) are all missed.
        assert_eq!(tuning.folds[0].balanced_accuracy, 0.5);
        // Folds 1 and 2 at the threshold of fold 0 and the other: (0.3 + 0.2) / 2 = 0.25.
        assert_eq!(tuning.folds[1].balanced_accuracy, 1.0);
        // A repeat's fold holding the same rows is left out of the tuning too: with nothing
        // left to tune on, each is scored at 0.5.
        let repeat = [data[0].clone(), fold(0..10, 0.7)];
        let folds: Vec<HeldFold<'_>> = (repeat.iter())
            .map(|(rows, y, proba)| HeldFold { rows, y, proba })
            .collect();
        let tuning = cross_fitted(&folds, balanced);
        let balanced: Vec<f64> = tuning.folds.iter().map(|s| s.balanced_accuracy).collect();
        assert_eq!(balanced, [0.5, 1.0]);
        assert_eq!(pooled(&folds, Some(0)).0.len(), 0);
    }
}
