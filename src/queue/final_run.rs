//! What a run trains beyond its rows: its variant and, for a `{"epochs": "cv"}` final model
//! or a search's winner that was halted at a rung, the folds' epochs, derived from the stored
//! fold results when it is claimed.

use crate::store::Db;

use crate::domain::final_model::CvEpochs;
use crate::domain::job::{FinalModel, JobSpec};
use crate::domain::results::{RunKind, RunResult};
use crate::jobs::results::{self, Variant};
use crate::store::{self, runs::Claimed};

/// The variant a run trains and, for a `{"epochs": "cv"}` final model, the folds' epochs. A
/// final run that waited for the folds (a comparison's, or one trained for the folds' epochs)
/// reads them: every fold run has ended, so the leaderboard is final. Both are derived from the
/// stored fold results every time the run is claimed, so a resumed final run trains what it
/// started (the variant it recorded, for as many epochs).
pub(super) async fn variant_of(
    pool: &Db,
    claimed: &Claimed,
    spec: &JobSpec,
) -> anyhow::Result<(Variant, Option<CvEpochs>)> {
    let recorded = claimed.strategy.map(|strategy| Variant {
        model: claimed.variant as usize,
        strategy,
    });
    let final_run = claimed.kind == RunKind::Final;
    let cv = final_run && spec.final_model == FinalModel::CvEpochs;
    // A search's winner may have been halted at a rung: its final model trains the epochs it
    // was measured at, which the fold results say.
    let reads_folds = cv || (final_run && spec.halving().is_some());
    if let Some(v) = recorded
        && !reads_folds
    {
        return Ok((v, None));
    }
    let folds = store::run_data::fold_results(pool, &claimed.job_id).await?;
    let folds: Vec<&RunResult> = folds.iter().collect();
    let winner = recorded.unwrap_or_else(|| results::chosen_variant(spec, &folds));
    if recorded.is_none() {
        store::run_notes::set_variant(
            pool,
            &claimed.id,
            claimed.token,
            winner.model as u32,
            winner.strategy,
        )
        .await?;
    }
    let cv = cv || (final_run && results::halted(&folds, winner));
    Ok((winner, cv.then(|| results::cv_epochs(&folds, winner))))
}
