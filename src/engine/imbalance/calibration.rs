//! How a `one_class` autoencoder's reconstruction error becomes class probabilities: Platt
//! scaling on `ln(error)`, fitted as scikit-learn's
//! `LogisticRegression(class_weight="balanced")` (C = 1, intercept unpenalized) so that 0.5 is
//! the balanced decision point rather than the base rate.

use serde::{Deserialize, Serialize};

/// Keeps `ln` finite for a perfect reconstruction.
pub const ERROR_FLOOR: f64 = 1e-12;

/// How a reconstruction error becomes class probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub classes: usize,
    /// The class the autoencoder learned, and the one its errors point to.
    pub majority: usize,
    pub minority: usize,
    /// `P(minority) = σ(slope · ln(error) + intercept)`.
    pub slope: f64,
    pub intercept: f64,
}

impl Calibration {
    /// Class probabilities for one reconstruction error.
    pub fn proba(&self, error: f64) -> Vec<f64> {
        let p = sigmoid(self.slope * error.max(ERROR_FLOOR).ln() + self.intercept);
        let mut out = vec![0.0; self.classes];
        out[self.minority] = p;
        out[self.majority] = 1.0 - p;
        out
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// L2-penalized (C = 1, slope only), class-balanced logistic regression of `positive` on `z`,
/// by Newton's method: `(slope, intercept)`.
pub fn fit_logistic(z: &[f64], positive: &[bool]) -> (f64, f64) {
    let n = z.len() as f64;
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let (w_pos, w_neg) = (n / (2.0 * n_pos.max(1.0)), n / (2.0 * (n - n_pos).max(1.0)));
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..100 {
        // Gradient and Hessian of 0.5·a² + Σ w_i · logloss_i.
        let (mut ga, mut gb) = (a, 0.0);
        let (mut haa, mut hab, mut hbb) = (1.0, 0.0, 0.0);
        for (&zi, &pos) in z.iter().zip(positive) {
            let p = sigmoid(a * zi + b);
            let (w, t) = if pos { (w_pos, 1.0) } else { (w_neg, 0.0) };
            let r = w * (p - t);
            ga += r * zi;
            gb += r;
            let h = w * p * (1.0 - p);
            haa += h * zi * zi;
            hab += h * zi;
            hbb += h;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < f64::MIN_POSITIVE {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-12 && db.abs() < 1e-12 {
            break;
        }
    }
    (a, b)
}
