//! What plots read: the request's format, the job with its runs, and the held-out predictions of
//! each fold run of its leading variant (every fold run's in a single-variant job), one run at
//! a time.

use super::extract::QueryParams;
use super::plot_response::Format;
use super::state::AppState;
use crate::domain::heldout::HeldOut;
use crate::domain::results::RunKind;
use crate::error::ApiError;
use crate::jobs::results::{self, Variant};
use crate::store;
use crate::store::job_view::JobView;
use crate::store::run_data::RunRow;

/// One fold run's held-out predictions.
pub struct HeldOutSet {
    pub fold: Option<u32>,
    pub repeat: Option<u32>,
    pub heldout: HeldOut,
}

impl HeldOutSet {
    /// `fold 2`, `fold 2, repeat 1`.
    pub fn name(&self) -> String {
        let fold = self
            .fold
            .map_or("final".to_owned(), |f| format!("fold {f}"));
        match self.repeat.filter(|&r| r > 0) {
            Some(r) => format!("{fold}, repeat {r}"),
            None => fold,
        }
    }
}

/// What every plot request starts from: its `format` (the query holding no other parameter
/// than `extra`, which the caller took), the job (or a 404) and its runs, summarized.
pub async fn plot_request(
    state: &AppState,
    id: &str,
    query: QueryParams,
    extra: &[&str],
) -> Result<(Format, JobView, Vec<RunRow>), ApiError> {
    let format = Format::take(query, extra)?;
    let job = super::jobs::job_or_404(state, id).await?;
    let runs =
        store::run_data::runs_of_job(&state.pool, id, store::run_data::Detail::Summary).await?;
    Ok((format, job, runs))
}

/// The leading variant's finished fold runs' held-out predictions (of one class count).
pub async fn leader_sets(
    state: &AppState,
    job: &JobView,
    runs: &[RunRow],
) -> Result<Vec<HeldOutSet>, ApiError> {
    let leader = results::leader(&job.spec, &results::fold_results(runs));
    let mut sets: Vec<HeldOutSet> = Vec::new();
    for run in runs {
        let pooled = run.kind == RunKind::Fold
            && run
                .result
                .as_ref()
                .is_some_and(|r| leader.is_none_or(|l| Variant::of(r) == l));
        if !pooled {
            continue;
        }
        let Some(heldout) = store::run_data::heldout(&state.pool, &run.id).await? else {
            continue;
        };
        if sets
            .first()
            .is_some_and(|s| s.heldout.classes != heldout.classes)
        {
            continue;
        }
        sets.push(HeldOutSet {
            fold: run.fold,
            repeat: run.repeat,
            heldout,
        });
    }
    Ok(sets)
}
