//! Settling a job once every run has ended: failed if a run failed, cancelled if a cancel was
//! asked, else succeeded with what its runs add up to (the summary, the pooled out-of-fold and
//! test scores, a comparison's leaderboard, a final model's epochs), computed here once and
//! stored, so reading a job's metrics never scores anything again.

use crate::store::Db;

use super::results::{self, Variant};
use super::thresholds;
use crate::domain::job::{JobSpec, JobStatus};
use crate::domain::results::{JobResults, RunKind, RunState, Settled};
use crate::engine::eval::scores::{Pooled, Scores};
use crate::store::{self, run_data::RunRow};

/// Settles the job if all its runs have ended; `Some(status)` when this call settled it.
pub async fn settle_if_done(pool: &Db, job_id: &str) -> anyhow::Result<Option<JobStatus>> {
    if store::jobs::open_runs(pool, job_id).await? > 0 {
        return Ok(None);
    }
    let Some((spec, cancel_requested)) = store::jobs::settle_inputs(pool, job_id).await? else {
        return Ok(None);
    };
    let runs = store::run_data::runs_of_job(pool, job_id, store::run_data::Detail::Summary).await?;
    let settled = if let Some(failed) = fatal_failure(&spec, &runs) {
        Settled::Failed(failed.error.clone())
    } else if cancel_requested || runs.iter().any(|r| r.state == RunState::Cancelled) {
        Settled::Cancelled
    } else {
        Settled::Succeeded {
            summary: results::job_summary(&spec, &runs),
            results: Box::new(job_results(pool, &spec, &runs, Tuning::Tune).await?),
        }
    };
    store::jobs::settle(pool, job_id, &settled).await
}

/// The failed run that fails the job: any, but in a search, where a trial whose run failed
/// (diverged, say) is out of the search and the others go on, the final run's or, when every
/// fold run failed, the first.
fn fatal_failure<'r>(spec: &JobSpec, runs: &'r [RunRow]) -> Option<&'r RunRow> {
    let failed = |r: &&RunRow| r.state == RunState::Failed;
    if spec.search.is_none() {
        return runs.iter().find(failed);
    }
    let scored = (runs.iter()).any(|r| r.kind == RunKind::Fold && r.state == RunState::Succeeded);
    (runs.iter())
        .filter(failed)
        .find(|r| r.kind == RunKind::Final || !scored)
}

/// Whether results tune the job's decision thresholds: when it settles, not on every read
/// of a job still training (each tuning reads every fold run's predictions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    Tune,
    Skip,
}

/// What the runs of a succeeded job add up to beside its summary.
pub async fn job_results(
    pool: &Db,
    spec: &JobSpec,
    runs: &[RunRow],
    tune: Tuning,
) -> anyhow::Result<JobResults> {
    let folds = results::fold_results(runs);
    let leader = results::leader(spec, &folds);
    let final_run = runs.iter().find(|r| r.kind == RunKind::Final);
    let tested = spec.validation.has_test_set();
    // The test set's scores in full (a run's summary drops the confusion matrix).
    let test = match final_run.filter(|r| r.result.is_some() && tested) {
        Some(run) => store::run_data::result(pool, &run.id)
            .await?
            .and_then(|r| r.metrics),
        None => None,
    };
    let mut thresholds = match tune {
        Tuning::Tune => thresholds::tuned(pool, spec, runs, None).await?,
        Tuning::Skip => Default::default(),
    };
    let mut leaderboard = results::leaderboard(spec, &folds);
    for row in leaderboard.iter_mut().flatten() {
        row.threshold = thresholds.get(&row.variant_of()).cloned();
    }
    Ok(JobResults {
        pooled: pooled(pool, runs, leader).await?,
        test,
        leaderboard,
        final_epochs: final_run.and_then(|r| r.result.as_ref()?.cv_epochs.clone()),
        threshold: thresholds.remove(&results::chosen_variant(spec, &folds)),
    })
}

/// Every out-of-fold prediction of `leader`'s fold runs (every fold run's, without a
/// comparison) scored as one set, read one run at a time.
pub async fn pooled(
    pool: &Db,
    runs: &[RunRow],
    leader: Option<Variant>,
) -> anyhow::Result<Option<Scores>> {
    let mut pooled = Pooled::default();
    for run in runs {
        let scored = run
            .result
            .as_ref()
            .is_some_and(|r| leader.is_none_or(|l| Variant::of(r) == l));
        if run.kind != RunKind::Fold || !scored {
            continue;
        }
        let Some(h) = store::run_data::heldout(pool, &run.id).await? else {
            continue;
        };
        if !pooled.add(&h.labels, h.proba.iter().map(|&p| f64::from(p)), h.classes) {
            tracing::warn!(run_id = %run.id, "held-out predictions of another width; not pooled");
        }
    }
    // Scoring sorts every class's column: off the async runtime.
    tokio::task::spawn_blocking(move || pooled.score())
        .await
        .map_err(|e| anyhow::anyhow!("scoring the pooled predictions: {e}"))
}
