//! Nested cross-validation's report: per outer fold, what the selection inside its training rows
//! chose and how that scored there (the inner best) and on the outer fold (the outer score);
//! over the folds, the outer estimate, the inner best and their difference, the selection's
//! optimism (Cawley & Talbot 2010: selecting on the folds one reports is biased by about as
//! much as algorithms differ).

use serde::Serialize;

use super::job::JobStatus;
use super::metric::Metric;
use crate::engine::eval::summary::Stat;

/// One outer fold's job and what it gave (`None` until it has).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OuterFold {
    pub outer_fold: u64,
    pub job_id: String,
    pub status: JobStatus,
    /// What its selection chose, in words (the leader's description; empty for one variant).
    pub chosen: Option<String>,
    /// The chosen variant's mean over its inner folds.
    pub inner: Option<f64>,
    /// Its final model's score on the outer fold.
    pub outer: Option<f64>,
}

/// `nested` in a nested job's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nested {
    /// The job's `imbalance.rank_by`: what selects and what is reported.
    pub metric: Metric,
    pub folds: Vec<OuterFold>,
    /// The outer scores' mean, std, min and max (over the folds that have one).
    pub outer_estimate: Option<Stat>,
    /// The mean of the inner bests (over the same folds).
    pub inner_best: Option<f64>,
    /// How much better the inner best looks than the outer estimate (positive: the selection
    /// flattered itself; a loss counts the other way).
    pub optimism: Option<f64>,
    /// Every outer fold's job has both scores.
    pub complete: bool,
}

impl Nested {
    pub fn of(metric: Metric, folds: Vec<OuterFold>) -> Self {
        let scored: Vec<(f64, f64)> = (folds.iter())
            .filter_map(|f| Some((f.inner?, f.outer?)))
            .collect();
        let complete = !folds.is_empty() && scored.len() == folds.len();
        let outer: Vec<f64> = scored.iter().map(|s| s.1).collect();
        let outer_estimate = (!outer.is_empty()).then(|| Stat::of(&outer));
        let inner_best = (!scored.is_empty())
            .then(|| scored.iter().map(|s| s.0).sum::<f64>() / scored.len() as f64);
        let optimism = match (inner_best, &outer_estimate) {
            (Some(inner), Some(o)) if metric.higher_is_better() => Some(inner - o.mean),
            (Some(inner), Some(o)) => Some(o.mean - inner),
            _ => None,
        };
        Nested {
            metric,
            folds,
            outer_estimate,
            inner_best,
            optimism,
            complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(i: u64, inner: Option<f64>, outer: Option<f64>) -> OuterFold {
        OuterFold {
            outer_fold: i,
            job_id: format!("job_{i}"),
            status: JobStatus::Succeeded,
            chosen: None,
            inner,
            outer,
        }
    }

    #[test]
    fn the_optimism_is_the_inner_best_over_the_outer_estimate_and_a_loss_counts_the_other_way() {
        let folds = vec![fold(0, Some(0.8), Some(0.7)), fold(1, Some(0.9), Some(0.6))];
        let n = Nested::of(Metric::Accuracy, folds.clone());
        assert!(n.complete);
        assert!((n.inner_best.unwrap() - 0.85).abs() < 1e-12);
        assert!((n.outer_estimate.unwrap().mean - 0.65).abs() < 1e-12);
        assert!((n.optimism.unwrap() - 0.2).abs() < 1e-12);
        let loss = Nested::of(Metric::LogLoss, folds);
        assert!((loss.optimism.unwrap() + 0.2).abs() < 1e-12);
        // A fold still training counts in neither mean, and the report says it is partial.
        let partial = Nested::of(
            Metric::Accuracy,
            vec![fold(0, Some(0.8), Some(0.7)), fold(1, Some(0.9), None)],
        );
        assert!(!partial.complete);
        assert!((partial.optimism.unwrap() - 0.1).abs() < 1e-12);
    }
}
