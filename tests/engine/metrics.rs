//! Metrics against scikit-learn / imbalanced-learn (`metrics.json`), to 1e-9.

use crossfold::engine::eval::scores::score;
use serde_json::Value;

use crate::helpers::fixture;

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!((got - want).abs() <= 1e-9, "{what}: got {got}, want {want}");
}

#[test]
fn every_metric_equals_scikit_learns_on_the_golden_predictions() {
    let golden = fixture("metrics.json");
    for case in ["binary", "multiclass", "imbalanced_binary"] {
        let g = &golden[case];
        let y: Vec<u32> = g["y_true"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let rows = g["proba"].as_array().unwrap();
        let k = rows[0].as_array().unwrap().len();
        let proba: Vec<f64> = rows
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        let s = score(&y, &proba, k);
        close(s.accuracy, &g["accuracy"], &format!("{case} accuracy"));
        close(
            s.balanced_accuracy,
            &g["balanced_accuracy"],
            &format!("{case} balanced_accuracy"),
        );
        close(
            s.precision_macro,
            &g["precision_macro"],
            &format!("{case} precision_macro"),
        );
        close(
            s.recall_macro,
            &g["recall_macro"],
            &format!("{case} recall_macro"),
        );
        close(s.f1_macro, &g["f1_macro"], &format!("{case} f1_macro"));
        close(s.g_mean, &g["g_mean"], &format!("{case} g_mean"));
        close(s.log_loss, &g["log_loss"], &format!("{case} log_loss"));
        close(
            s.roc_auc.unwrap(),
            &g["roc_auc"],
            &format!("{case} roc_auc"),
        );
        match g.get("pr_auc") {
            Some(want) => close(s.pr_auc.unwrap(), want, &format!("{case} pr_auc")),
            None => assert_eq!(s.pr_auc, None),
        }
        let cm: Vec<Vec<u64>> = serde_json::from_value(g["confusion_matrix"].clone()).unwrap();
        assert_eq!(s.confusion_matrix, cm, "{case} confusion_matrix");
        let pred: Vec<usize> = serde_json::from_value(g["y_pred_argmax"].clone()).unwrap();
        let ours: Vec<usize> = (0..y.len())
            .map(|i| {
                (0..k).fold(0, |b, c| {
                    if proba[i * k + c] > proba[i * k + b] {
                        c
                    } else {
                        b
                    }
                })
            })
            .collect();
        assert_eq!(ours, pred, "{case} argmax");
    }
}

/// Brier score against scikit-learn 1.9's `brier_score_loss` and the 15-bin ECE against a NumPy
/// implementation (bins `(lo, hi]`), both computed outside this code base on these rows.
#[test]
fn brier_score_and_expected_calibration_error_equal_the_reference_values() {
    let y = [0u32, 1, 1, 0, 1, 0, 1, 1];
    let p1 = [0.1, 0.8, 0.35, 0.6, 0.95, 0.2, 0.55, 0.7];
    let proba: Vec<f64> = p1.iter().flat_map(|&p| [1.0 - p, p]).collect();
    let s = score(&y, &proba, 2);
    assert!(
        (s.brier_score.unwrap() - 0.1459375).abs() < 1e-12,
        "{:?}",
        s.brier_score
    );
    assert!((s.ece.unwrap() - 0.20625).abs() < 1e-12, "{:?}", s.ece);
    let y3 = [0u32, 2, 1, 2, 0, 1];
    let proba3 = [
        0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3, 0.5, 0.1, 0.4, 0.3, 0.3, 0.4, 0.25, 0.5, 0.25,
    ];
    let s = score(&y3, &proba3, 3);
    assert!(
        (s.brier_score.unwrap() - 0.41916666666666663).abs() < 1e-12,
        "{:?}",
        s.brier_score
    );
    assert!(
        (s.ece.unwrap() - 0.2666666666666666).abs() < 1e-12,
        "{:?}",
        s.ece
    );
}
