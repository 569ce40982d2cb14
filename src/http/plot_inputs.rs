//! What every plot request starts from: its format, the job with its runs (`jobs::views`),
//! and the held-out predictions of the leading variant (`jobs::heldout`).

use super::extract::QueryParams;
use super::plot_response::Format;
use super::state::AppState;
use crate::error::ApiError;
use crate::jobs::heldout;
pub use crate::jobs::heldout::HeldOutSet;
use crate::jobs::views::{self, JobView, RunRow};

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
    let runs = views::runs(&state.pool, id).await?;
    Ok((format, job, runs))
}

/// The leading variant's finished fold runs' held-out predictions (of one class count).
pub async fn leader_sets(
    state: &AppState,
    job: &JobView,
    runs: &[RunRow],
) -> Result<Vec<HeldOutSet>, ApiError> {
    Ok(heldout::leader_sets(&state.pool, &job.spec, runs).await?)
}
