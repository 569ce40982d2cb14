//! The points of ROC and precision-recall curves, as scikit-learn's `roc_curve`
//! (`drop_intermediate=False`) and `precision_recall_curve` compute them: one point per
//! distinct score, highest threshold first, so the area under the ROC points (trapezoids)
//! equals `roc_auc` and the step sum over the PR points equals `average_precision`.

/// (false positive rate, true positive rate), from (0, 0) to (1, 1); `None` without both
/// classes.
pub fn roc_points(positive: &[bool], score: &[f64]) -> Option<Vec<(f64, f64)>> {
    let (p, n) = class_sizes(positive);
    if p == 0 || n == 0 {
        return None;
    }
    let mut points = vec![(0.0, 0.0)];
    points.extend(
        cumulative(positive, score)
            .into_iter()
            .map(|(tp, fp)| (fp as f64 / n as f64, tp as f64 / p as f64)),
    );
    Some(points)
}

/// (recall, precision) from the highest threshold down, ending at full recall; `None` without
/// positives. (scikit-learn lists them in reverse, with a last point (0, 1).)
pub fn pr_points(positive: &[bool], score: &[f64]) -> Option<Vec<(f64, f64)>> {
    let (p, _) = class_sizes(positive);
    if p == 0 {
        return None;
    }
    Some(
        cumulative(positive, score)
            .into_iter()
            .map(|(tp, fp)| (tp as f64 / p as f64, tp as f64 / (tp + fp) as f64))
            .collect(),
    )
}

/// The trapezoidal area under `points` (x increasing).
pub fn area(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum()
}

/// Average precision from PR points: Σ (Rₙ − Rₙ₋₁)·Pₙ.
pub fn step_area(points: &[(f64, f64)]) -> f64 {
    let mut prev = 0.0;
    points
        .iter()
        .map(|&(r, p)| {
            let a = (r - prev) * p;
            prev = r;
            a
        })
        .sum()
}

fn class_sizes(positive: &[bool]) -> (usize, usize) {
    let p = positive.iter().filter(|&&v| v).count();
    (p, positive.len() - p)
}

/// (true positives, false positives) at each distinct score, highest first.
fn cumulative(positive: &[bool], score: &[f64]) -> Vec<(u64, u64)> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut out = Vec::new();
    for (i, &k) in order.iter().enumerate() {
        if positive[k] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(i + 1).is_none_or(|&next| score[next] != score[k]);
        if last_of_tie {
            out.push((tp, fp));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::eval::scores::{average_precision, roc_auc};

    #[test]
    fn the_curves_areas_are_the_scores() {
        // scikit-learn: roc_curve([0,0,1,1,1,0], [.1,.4,.35,.8,.4,.2], drop_intermediate=False)
        // gives fpr [0, 0, 1/3, 1/3, 2/3, 1], tpr [0, 1/3, 2/3, 1, 1, 1].
        let y = [false, false, true, true, true, false];
        let s = [0.1, 0.4, 0.35, 0.8, 0.4, 0.2];
        let roc = roc_points(&y, &s).unwrap();
        let third = 1.0 / 3.0;
        let want = [
            (0.0, 0.0),
            (0.0, third),
            (third, 2.0 * third),
            (third, 1.0),
            (2.0 * third, 1.0),
            (1.0, 1.0),
        ];
        assert_eq!(roc.len(), want.len());
        for (a, b) in roc.iter().zip(&want) {
            assert!(
                (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12,
                "{roc:?}"
            );
        }
        assert!((area(&roc) - roc_auc(&y, &s).unwrap()).abs() < 1e-12);
        let pr = pr_points(&y, &s).unwrap();
        assert_eq!(pr[0], (third, 1.0));
        assert_eq!(pr.last().unwrap().0, 1.0);
        assert!((step_area(&pr) - average_precision(&y, &s).unwrap()).abs() < 1e-12);
        assert!(roc_points(&[true, true], &[0.1, 0.2]).is_none());
    }
}
