//! A halving search's decisions: each time one of its runs pauses at a rung or ends (and at
//! every reaper pass, for a decision a crash cut short), read the job's fold runs, ask
//! `search::asha::decide`, and promote or halt the trials it names.

use crate::domain::results::RunState;
use crate::domain::search::asha::{self, Decision, FoldProgress, Work};
use crate::store::run_data::InputsError;
use crate::store::rungs::RunRung;
use crate::store::{self, Db};

/// Decides for `job`'s waiting trials; nothing for a job that is not a halving search (or is
/// gone). A cancel needs no check: it cancels waiting runs, which no decision moves on.
pub async fn advance(pool: &Db, job: &str) -> anyhow::Result<()> {
    // The spec from this process's memo (it never changes): a decision follows every leg.
    let inputs = match store::run_data::job_inputs(pool, job).await {
        Ok(inputs) => inputs,
        Err(InputsError::Gone(_)) => return Ok(()),
        Err(InputsError::Store(e)) => return Err(e),
    };
    let Some(halving) = inputs.spec.halving() else {
        return Ok(());
    };
    let runs = store::rungs::job_rungs(pool, job).await?;
    let trials = trials(&runs);
    let progress: Vec<Vec<FoldProgress>> = (trials.iter())
        .map(|folds| folds.iter().map(|r| progress(r)).collect())
        .collect();
    let work = if runs.iter().any(|r| r.queued()) {
        Work::Queued
    } else if runs.iter().any(|r| r.trains()) {
        Work::Training
    } else {
        Work::Idle
    };
    for decision in asha::decide(&progress, &halving.rungs, halving.eta, work) {
        let (Decision::Promote { trial, .. } | Decision::Halt { trial }) = decision;
        let waiting: Vec<String> = (trials[trial].iter())
            .filter(|r| r.waits())
            .map(|r| r.id.clone())
            .collect();
        match decision {
            Decision::Promote { to, .. } => {
                tracing::info!(job_id = %job, trial, to, "promoted to the next rung");
                store::rungs::promote(pool, job, &waiting, to).await?;
            }
            Decision::Halt { .. } => store::rungs::halt(pool, job, &waiting).await?,
        }
    }
    Ok(())
}

/// The job's fold runs by trial (a strategy and a variant), in the order planning made them.
fn trials(runs: &[RunRung]) -> Vec<Vec<&RunRung>> {
    let mut out: Vec<Vec<&RunRung>> = Vec::new();
    for run in runs {
        match out
            .iter_mut()
            .find(|t| (t[0].strategy, t[0].variant) == (run.strategy, run.variant))
        {
            Some(trial) => trial.push(run),
            None => out.push(vec![run]),
        }
    }
    out
}

fn progress(run: &RunRung) -> FoldProgress {
    FoldProgress {
        paused_at: run.pause_at.filter(|_| run.waits()),
        ended: run.state == RunState::Succeeded,
        failed: matches!(run.state, RunState::Failed | RunState::Cancelled),
        losses: run.losses.clone(),
    }
}
