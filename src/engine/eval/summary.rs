//! Metrics across folds: each metric's mean, standard deviation, minimum and maximum.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scores::Scores;

/// Mean, population standard deviation (NumPy's default), minimum and maximum across folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

/// The scalar metrics of `Scores`, by name.
pub fn scalars(s: &Scores) -> BTreeMap<&'static str, f64> {
    let mut m = BTreeMap::from([
        ("accuracy", s.accuracy),
        ("balanced_accuracy", s.balanced_accuracy),
        ("precision_macro", s.precision_macro),
        ("recall_macro", s.recall_macro),
        ("f1_macro", s.f1_macro),
        ("g_mean", s.g_mean),
        ("log_loss", s.log_loss),
    ]);
    if let Some(v) = s.roc_auc {
        m.insert("roc_auc", v);
    }
    if let Some(v) = s.pr_auc {
        m.insert("pr_auc", v);
    }
    if let Some(v) = s.brier_score {
        m.insert("brier_score", v);
    }
    if let Some(v) = s.ece {
        m.insert("ece", v);
    }
    m
}

/// Per-metric statistics across folds (a metric missing from any fold is left out).
pub fn summarize<'a>(folds: impl IntoIterator<Item = &'a Scores>) -> BTreeMap<String, Stat> {
    let maps: Vec<BTreeMap<String, f64>> = folds
        .into_iter()
        .map(|s| {
            scalars(s)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()
        })
        .collect();
    summarize_maps(&maps)
}

/// Stats per metric from fold metric maps (as stored with each run).
pub fn summarize_maps(folds: &[BTreeMap<String, f64>]) -> BTreeMap<String, Stat> {
    let Some(first) = folds.first() else {
        return BTreeMap::new();
    };
    first
        .keys()
        .filter(|k| folds.iter().all(|m| m.contains_key(*k)))
        .map(|k| {
            let v: Vec<f64> = folds.iter().map(|m| m[k]).collect();
            (k.clone(), Stat::of(&v))
        })
        .collect()
}

impl Stat {
    /// Of `v` (not empty).
    pub fn of(v: &[f64]) -> Stat {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Stat {
            mean,
            std,
            min,
            max,
        }
    }
}
