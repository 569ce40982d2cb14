//! `imbalance.threshold: "tuned"`: each variant's decision threshold, tuned on its fold runs'
//! stored held-out predictions (`engine::eval::threshold`), one variant's predictions in
//! memory at a time, the tuning off the async runtime.

use std::collections::BTreeMap;

use crate::domain::heldout::HeldOut;
use crate::domain::job::{DecisionThreshold, JobSpec};
use crate::domain::results::{RunKind, Summary, TunedThreshold};
use crate::engine::eval::summary::summarize;
use crate::engine::eval::threshold::{HeldFold, cross_fitted};
use crate::store::{self, Db, run_data::RunRow};

use super::results::Variant;

/// Each variant's tuned threshold (none unless the job tunes one).
pub type Thresholds = BTreeMap<Variant, TunedThreshold>;

/// The tuned thresholds of the variants among `wanted` (all, when `None`) whose fold runs
/// have finished and predicted two classes.
pub async fn tuned(
    pool: &Db,
    spec: &JobSpec,
    runs: &[RunRow],
    wanted: Option<Variant>,
) -> anyhow::Result<Thresholds> {
    let mut out = Thresholds::new();
    if spec.imbalance.threshold != DecisionThreshold::Tuned {
        return Ok(out);
    }
    let mut by_variant: BTreeMap<Variant, Vec<&str>> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.kind == RunKind::Fold) {
        let Some(result) = &run.result else { continue };
        let variant = Variant::of(result);
        if wanted.is_none_or(|w| w == variant) {
            by_variant.entry(variant).or_default().push(&run.id);
        }
    }
    let metric = spec.imbalance.rank_by.tuned_by();
    for (variant, ids) in by_variant {
        let mut folds = Vec::with_capacity(ids.len());
        for id in ids {
            match store::run_data::heldout(pool, id).await? {
                Some(h) if h.classes == 2 && !h.is_empty() => folds.push(h),
                _ => {}
            }
        }
        if folds.is_empty() {
            continue;
        }
        let tuned = tokio::task::spawn_blocking(move || tune(&folds, metric.name()))
            .await
            .map_err(|e| anyhow::anyhow!("tuning a decision threshold: {e}"))?;
        out.insert(
            variant,
            TunedThreshold {
                value: tuned.0,
                metric,
                summary: tuned.1,
            },
        );
    }
    Ok(out)
}

/// The threshold over `folds` and the summary of their cross-fitted scores.
fn tune(folds: &[HeldOut], metric: &str) -> (f64, Summary) {
    let held: Vec<HeldFold<'_>> = (folds.iter())
        .map(|h| HeldFold {
            rows: &h.rows,
            y: &h.labels,
            proba: &h.proba,
        })
        .collect();
    let tuning = cross_fitted(&held, |d| d.get(metric).unwrap_or(0.0));
    (tuning.threshold, summarize(&tuning.folds))
}

/// A settled job's per-variant summaries with each variant's decided metrics taken at its
/// tuned threshold (the cross-fitted scores its leaderboard row or results carry), so a
/// threshold-tuned job compares by the decisions it makes; unchanged for other jobs.
pub async fn decided_summaries(
    pool: &Db,
    job_id: &str,
    spec: &JobSpec,
    mut summaries: Vec<(Variant, Summary)>,
) -> anyhow::Result<Vec<(Variant, Summary)>> {
    if spec.imbalance.threshold != DecisionThreshold::Tuned {
        return Ok(summaries);
    }
    let Some((_, _, Some(results))) = store::jobs::results(pool, job_id).await? else {
        return Ok(summaries);
    };
    let rows = results.leaderboard.unwrap_or_default();
    for (variant, summary) in summaries.iter_mut() {
        let tuned = match rows.iter().find(|r| r.variant_of() == *variant) {
            Some(row) => row.threshold.as_ref(),
            None if rows.is_empty() => results.threshold.as_ref(),
            None => None,
        };
        if let Some(t) = tuned {
            *summary = t.summary.clone();
        }
    }
    Ok(summaries)
}
