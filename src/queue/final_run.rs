//! What a run trains beyond its rows: its variant and, for a `{"epochs": "cv"}` final model
//! or a search's winner that was halted at a rung, the folds' epochs, and a final model's tuned
//! decision threshold, derived from the stored fold results when it is claimed.

use crate::store::Db;

use crate::domain::final_model::CvEpochs;
use crate::domain::job::{DecisionThreshold, FinalModel, JobSpec};
use crate::domain::results::{RunKind, RunResult};
use crate::jobs::results::{self, Variant};
use crate::jobs::thresholds;
use crate::store::{self, runs::Claimed};

/// What a claimed run trains: its variant, the folds' epochs for a final model trained for
/// them, and the threshold its predictions are decided at (`imbalance.threshold: "tuned"`).
#[derive(Debug, Clone)]
pub struct Recipe {
    pub variant: Variant,
    pub cv_epochs: Option<CvEpochs>,
    /// `{"epochs": "fold_loss"}`: the training loss the final model trains to.
    pub loss_target: Option<f64>,
    pub threshold: Option<f64>,
}

/// The recipe of a claimed run. A final run that waited for the folds (a comparison's, or one
/// trained for the folds' epochs or with a threshold tuned on their predictions) reads them:
/// every fold run has ended, so the leaderboard is final. All of it is derived from the stored
/// fold results every time the run is claimed, so a resumed final run trains what it started
/// (the variant it recorded, for as many epochs).
pub(super) async fn recipe(pool: &Db, claimed: &Claimed, spec: &JobSpec) -> anyhow::Result<Recipe> {
    let recorded = claimed.strategy.map(|strategy| Variant {
        model: claimed.variant as usize,
        strategy,
    });
    let final_run = claimed.kind == RunKind::Final;
    let cv = final_run && spec.final_model == FinalModel::CvEpochs;
    // A search's winner may have been halted at a rung: its final model trains the epochs it
    // was measured at, which the fold results say.
    let reads_folds = final_run && (spec.final_reads_folds() || spec.halving().is_some());
    if let Some(variant) = recorded
        && !reads_folds
    {
        return Ok(Recipe {
            variant,
            cv_epochs: None,
            loss_target: None,
            threshold: None,
        });
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
    let threshold = match final_run {
        true => threshold(pool, spec, &claimed.job_id, winner).await?,
        false => None,
    };
    // An ensemble's members and one_class's autoencoder train whole, to their count.
    let whole = winner.strategy.trains_members();
    let loss_target = match final_run && !whole && spec.final_model == FinalModel::FoldLoss {
        true => loss_target(pool, &claimed.job_id, winner).await?,
        false => None,
    };
    Ok(Recipe {
        variant: winner,
        cv_epochs: cv.then(|| results::cv_epochs(&folds, winner)),
        loss_target,
        threshold,
    })
}

/// The median of `winner`'s fold runs' last training losses, which a `{"epochs": "fold_loss"}`
/// final model trains to (`None` when no fold recorded one: it trains its epochs).
async fn loss_target(pool: &Db, job_id: &str, winner: Variant) -> anyhow::Result<Option<f64>> {
    let runs = store::run_data::runs_of_job(pool, job_id, store::run_data::Detail::Summary).await?;
    Ok(crate::diagnose::final_rule::folds_median_train_loss(
        &runs, winner,
    ))
}

/// The threshold `winner`'s folds tuned, when the job tunes one.
async fn threshold(
    pool: &Db,
    spec: &JobSpec,
    job_id: &str,
    winner: Variant,
) -> anyhow::Result<Option<f64>> {
    if spec.imbalance.threshold != DecisionThreshold::Tuned {
        return Ok(None);
    }
    let runs = store::run_data::runs_of_job(pool, job_id, store::run_data::Detail::Summary).await?;
    let mut tuned = thresholds::tuned(pool, spec, &runs, Some(winner)).await?;
    Ok(tuned.remove(&winner).map(|t| t.value))
}
