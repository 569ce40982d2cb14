//! Nested cross-validation (`validation.outer_folds`): the nested job's outer folds, each a job
//! of its own that makes the whole selection (its search, or its model and strategy lists) on
//! the other rows and scores the chosen configuration's final model on its fold (planned with
//! the nested job and stored with it in one transaction); and the report that reads them back.
//! The nested job itself selects on every row, as any job does: its final model is the one to
//! use, and its outer jobs say how well that selection does on rows it never saw.

use crate::store::Db;

use super::metrics;
use super::plan::{self, Accepted, Estimate, OuterWork};
use crate::domain::dataset::DatasetSummary;
use crate::domain::job_meta::JobMeta;
use crate::domain::nested::{Nested, OuterFold};
use crate::engine::eval::summary::scalars;
use crate::store;

/// The outer folds' specs of an accepted nested job: its spec with `outer_fold` set (the fold
/// is the test set, so each trains a final model), each within the nested job's memory
/// estimate (it trains on fewer rows).
pub fn outer_specs(accepted: &Accepted) -> Vec<Accepted> {
    let Some(k) = accepted.spec.validation.nests() else {
        return Vec::new();
    };
    (0..k)
        .map(|fold| {
            let mut spec = accepted.spec.clone();
            spec.validation.outer_fold = Some(fold);
            if !spec.final_model.trains() {
                spec.final_model = Default::default();
            }
            let runs_total = accepted.runs_total + usize::from(!accepted.spec.final_model.trains());
            Accepted {
                spec,
                memory: accepted.memory.clone(),
                runs_total,
            }
        })
        .collect()
}

/// The work of an accepted job, with its outer folds' jobs when it is nested.
pub fn estimate(job: &Accepted, ds: &DatasetSummary) -> Estimate {
    let mut estimate = plan::estimate(job, ds);
    let outer: Vec<Estimate> = (outer_specs(job).iter())
        .map(|o| plan::estimate(o, ds))
        .collect();
    if !outer.is_empty() {
        estimate.outer_jobs = Some(OuterWork {
            jobs: outer.len() as u64,
            runs: outer.iter().map(|e| e.runs).sum(),
            epochs: outer.iter().map(|e| e.epochs).sum(),
        });
    }
    estimate
}

/// An outer job's name, description and tags: the nested job's, its name marked with the fold.
pub fn outer_meta(meta: &JobMeta, fold: u64) -> JobMeta {
    JobMeta {
        name: meta
            .name
            .as_ref()
            .map(|n| format!("{n} · outer fold {fold}")),
        ..meta.clone()
    }
}

/// The nested report of job `id` (`None`: it is not a nested job, or there is no such job).
pub async fn report(pool: &Db, id: &str) -> anyhow::Result<Option<Nested>> {
    // The spec as parsed once per job (every metrics read asks), not the job's whole view.
    let Some((spec, _)) = store::jobs::settle_inputs(pool, id).await? else {
        return Ok(None);
    };
    if spec.validation.nests().is_none() {
        return Ok(None);
    }
    let metric = spec.imbalance.rank_by;
    let mut folds = Vec::new();
    for outer in store::jobs::outer_jobs_of(pool, id).await? {
        let Some((status, summary, results)) = metrics::results(pool, &outer.id).await? else {
            continue;
        };
        let leader = results.leaderboard.as_ref().and_then(|b| b.first());
        let inner = match leader {
            Some(row) => row.mean,
            None => (summary.as_ref()).and_then(|s| s.get(metric.name()).map(|s| s.mean)),
        };
        let outer_score =
            (results.test.as_ref()).and_then(|t| scalars(t).get(metric.name()).copied());
        folds.push(OuterFold {
            outer_fold: outer.spec.validation.outer_fold.unwrap_or_default(),
            job_id: outer.id,
            status,
            chosen: leader.map(|row| row.description.clone()),
            inner,
            outer: outer_score,
        });
    }
    Ok(Some(Nested::of(metric, folds)))
}
