//! Classification metrics in f64 with scikit-learn's (and imbalanced-learn's) definitions:
//! predictions are the argmax of the probabilities (first on ties), classes are `0..k`,
//! precision/recall/F1 use `zero_division=0`.

use serde::{Deserialize, Serialize};

/// The metrics of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub precision_macro: f64,
    pub recall_macro: f64,
    pub f1_macro: f64,
    /// imbalanced-learn's `geometric_mean_score(average="multiclass")`.
    pub g_mean: f64,
    /// Binary: AUC of class 1's probability; multiclass: one-vs-rest macro. `None` when a
    /// class needed for it is absent from `y_true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    /// Binary only: average precision of class 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_auc: Option<f64>,
    pub log_loss: f64,
    /// scikit-learn's `brier_score_loss`: binary, the mean squared error of class 1's
    /// probability; multiclass, the mean over rows of `Σ_k (p_k − [y = k])²`. `None` in results
    /// stored before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brier_score: Option<f64>,
    /// Expected calibration error over 15 equal-width bins of the top probability
    /// (`(i/15, (i+1)/15]`): `Σ_b n_b/n · |accuracy_b − confidence_b|`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ece: Option<f64>,
    /// `[true][predicted]` counts; empty (and left out) in summaries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confusion_matrix: Vec<Vec<u64>>,
}

/// Out-of-fold predictions gathered fold by fold and scored as one set (the pooled score).
#[derive(Debug, Clone, Default)]
pub struct Pooled {
    y: Vec<u32>,
    proba: Vec<f64>,
    classes: Option<usize>,
}

impl Pooled {
    /// Adds one fold's labels and probabilities (rows × `classes`); a fold of another width is
    /// left out and `false` returned.
    pub fn add(&mut self, y: &[u32], proba: impl IntoIterator<Item = f64>, classes: usize) -> bool {
        if *self.classes.get_or_insert(classes) != classes {
            return false;
        }
        self.y.extend_from_slice(y);
        self.proba.extend(proba);
        true
    }

    /// The scores of everything added (`None` if nothing was).
    pub fn score(&self) -> Option<Scores> {
        let classes = self.classes.filter(|_| !self.y.is_empty())?;
        Some(score(&self.y, &self.proba, classes))
    }
}

/// Scores probabilities `proba` (rows × `classes`, row-major) against `y_true`, each row
/// predicted as its most probable class.
pub fn score(y_true: &[u32], proba: &[f64], classes: usize) -> Scores {
    let pred: Vec<usize> = proba.chunks_exact(classes.max(1)).map(argmax).collect();
    score_decided(y_true, proba, classes, &pred)
}

/// Scores a binary model's probabilities (rows × 2) with class 1 predicted where its
/// probability is at least `threshold` (`engine::eval::threshold`).
pub fn score_at(y_true: &[u32], proba: &[f64], threshold: f64) -> Scores {
    let pred: Vec<usize> = (proba.chunks_exact(2))
        .map(|p| usize::from(p[1] >= threshold))
        .collect();
    score_decided(y_true, proba, 2, &pred)
}

/// The metrics of a set of decisions: the ones its confusion matrix gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub precision_macro: f64,
    pub recall_macro: f64,
    pub f1_macro: f64,
    pub g_mean: f64,
}

impl Decision {
    /// Of a `[true][predicted]` confusion matrix.
    pub fn of<R: AsRef<[u64]>>(cm: &[R]) -> Decision {
        let classes = cm.len();
        let at = |t: usize, p: usize| cm[t].as_ref()[p];
        let support: Vec<u64> = cm.iter().map(|r| r.as_ref().iter().sum()).collect();
        let predicted: Vec<u64> = (0..classes)
            .map(|c| (0..classes).map(|t| at(t, c)).sum())
            .collect();
        let div = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let recall: Vec<f64> = (0..classes).map(|c| div(at(c, c), support[c])).collect();
        let precision: Vec<f64> = (0..classes).map(|c| div(at(c, c), predicted[c])).collect();
        let f1: Vec<f64> = (0..classes)
            .map(|c| div(2 * at(c, c), support[c] + predicted[c]))
            .collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let present: Vec<f64> = (0..classes)
            .filter(|&c| support[c] > 0)
            .map(|c| recall[c])
            .collect();
        let correct: u64 = (0..classes).map(|c| at(c, c)).sum();
        let g_mean = match present.is_empty() {
            true => 0.0,
            false => (present.iter().product::<f64>()).powf(1.0 / present.len() as f64),
        };
        Decision {
            accuracy: div(correct, support.iter().sum()),
            balanced_accuracy: mean(&present),
            precision_macro: mean(&precision),
            recall_macro: mean(&recall),
            f1_macro: mean(&f1),
            g_mean,
        }
    }

    /// A metric by its name (`None`: one the decisions alone do not give).
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "accuracy" => self.accuracy,
            "balanced_accuracy" => self.balanced_accuracy,
            "precision_macro" => self.precision_macro,
            "recall_macro" => self.recall_macro,
            "f1_macro" => self.f1_macro,
            "g_mean" => self.g_mean,
            _ => return None,
        })
    }
}

/// Scores `proba` against `y_true` with each row predicted as `pred`.
fn score_decided(y_true: &[u32], proba: &[f64], classes: usize, pred: &[usize]) -> Scores {
    let n = y_true.len();
    assert_eq!(proba.len(), n * classes, "probabilities are rows × classes");
    let row = |i: usize| &proba[i * classes..(i + 1) * classes];
    let mut cm = vec![vec![0u64; classes]; classes];
    for (i, &y) in y_true.iter().enumerate() {
        cm[y as usize][pred[i]] += 1;
    }
    let d = Decision::of(&cm);
    let log_loss = -(0..n)
        .map(|i| {
            row(i)[y_true[i] as usize]
                .clamp(f64::EPSILON, 1.0 - f64::EPSILON)
                .ln()
        })
        .sum::<f64>()
        / n.max(1) as f64;
    let column = |c: usize| -> Vec<f64> { (0..n).map(|i| row(i)[c]).collect() };
    let is = |c: usize| -> Vec<bool> { y_true.iter().map(|&y| y as usize == c).collect() };
    let (roc_auc, pr_auc) = if classes == 2 {
        (
            roc_auc(&is(1), &column(1)),
            average_precision(&is(1), &column(1)),
        )
    } else {
        let aucs: Option<Vec<f64>> = (0..classes).map(|c| roc_auc(&is(c), &column(c))).collect();
        (
            aucs.map(|a| a.iter().sum::<f64>() / a.len().max(1) as f64),
            None,
        )
    };
    Scores {
        accuracy: d.accuracy,
        balanced_accuracy: d.balanced_accuracy,
        precision_macro: d.precision_macro,
        recall_macro: d.recall_macro,
        f1_macro: d.f1_macro,
        g_mean: d.g_mean,
        roc_auc,
        pr_auc,
        log_loss,
        brier_score: Some(brier(y_true, proba, classes)),
        ece: Some(ece(y_true, proba, classes)),
        confusion_matrix: cm,
    }
}

/// scikit-learn's Brier score (see `Scores::brier_score`).
fn brier(y_true: &[u32], proba: &[f64], classes: usize) -> f64 {
    let n = y_true.len().max(1) as f64;
    let rows = proba.chunks_exact(classes.max(1)).zip(y_true);
    if classes == 2 {
        return rows
            .map(|(p, &y)| (p[1] - f64::from(y)).powi(2))
            .sum::<f64>()
            / n;
    }
    rows.map(|(p, &y)| {
        p.iter()
            .enumerate()
            .map(|(k, &v)| (v - f64::from(u8::from(k == y as usize))).powi(2))
            .sum::<f64>()
    })
    .sum::<f64>()
        / n
}

/// Bins of the expected calibration error and the reliability diagram.
pub const ECE_BINS: usize = 15;

/// One bin of a reliability diagram: the rows whose top probability fell in it, their mean
/// top probability and the share of them predicted right.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub confidence: f64,
    pub accuracy: f64,
}

/// The `ECE_BINS` equal-width bins `(i/15, (i+1)/15]` of each row's top probability.
pub fn reliability(y_true: &[u32], proba: &[f64], classes: usize) -> Vec<Bin> {
    let (mut count, mut conf, mut right) =
        ([0usize; ECE_BINS], [0.0f64; ECE_BINS], [0usize; ECE_BINS]);
    for (i, &y) in y_true.iter().enumerate() {
        let row = &proba[i * classes..(i + 1) * classes];
        let pred = argmax(row);
        let top = row[pred];
        // The upper edge belongs to the bin.
        let bin = ((top * ECE_BINS as f64).ceil() as usize).clamp(1, ECE_BINS) - 1;
        count[bin] += 1;
        conf[bin] += top;
        right[bin] += usize::from(pred == y as usize);
    }
    (0..ECE_BINS)
        .map(|b| {
            let c = count[b].max(1) as f64;
            Bin {
                lower: b as f64 / ECE_BINS as f64,
                upper: (b + 1) as f64 / ECE_BINS as f64,
                count: count[b],
                confidence: conf[b] / c,
                accuracy: right[b] as f64 / c,
            }
        })
        .collect()
}

/// The expected calibration error (see `Scores::ece`): `Σ_b n_b/n · |accuracy_b − confidence_b|`.
fn ece(y_true: &[u32], proba: &[f64], classes: usize) -> f64 {
    let n = y_true.len().max(1) as f64;
    reliability(y_true, proba, classes)
        .iter()
        .map(|b| b.count as f64 / n * (b.accuracy - b.confidence).abs())
        .sum()
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Area under the ROC curve (Mann–Whitney U with average ranks for ties); `None` unless both
/// classes occur.
pub fn roc_auc(positive: &[bool], score: &[f64]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += order[i..=j].iter().filter(|&&k| positive[k]).count() as f64 * avg_rank;
        i = j + 1;
    }
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// scikit-learn's `average_precision_score`: Σ (Rₙ − Rₙ₋₁)·Pₙ over distinct thresholds,
/// highest first; `None` without positives.
pub fn average_precision(positive: &[bool], score: &[f64]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0u64, 0u64, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            if positive[k] {
                tp += 1;
            } else {
                fp += 1;
            }
        }
        let recall = tp as f64 / n_pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j + 1;
    }
    Some(ap)
}
