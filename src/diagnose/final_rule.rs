//! A final model that did not converge as its folds did: trained on every row, it ended far
//! above the training loss they reached, so the cross-validation scored better models than the
//! one predict would use (predict then answers with the fold ensemble by default).

use super::draft::{Draft, folds_of};
use crate::domain::finding::{Kind, Severity};
use crate::domain::results::{RunKind, RunState, Variant};
use crate::store::run_data::RunRow;

/// Its last training loss this share of the chance loss above the median of its folds' last
/// training losses. On GunPoint's GRU (seeds 0–4) the final models that scored 0.69–0.86 on
/// the test split ended 0.2–0.7 of the chance loss above their folds; the one that scored 0.97
/// ended 0.03 above.
pub const FINAL_UNCONVERGED_GAP: f64 = 0.1;

/// The median (the upper one of an even count) of variant `v`'s succeeded fold runs' last
/// training losses: what its final model is compared with, and what a `{"epochs": "fold_loss"}`
/// final model trains to.
pub fn folds_median_train_loss(runs: &[RunRow], v: Variant) -> Option<f64> {
    let mut losses: Vec<f64> = (folds_of(runs, v).iter())
        .filter_map(|(r, _)| r.diagnosis.train_loss)
        .collect();
    losses.sort_by(f64::total_cmp);
    losses.get(losses.len() / 2).copied()
}

/// The finding, when the job's final model ended that far above its variant's folds.
pub(super) fn final_model(runs: &[RunRow]) -> Option<Draft> {
    let fin = (runs.iter()).find(|r| r.kind == RunKind::Final && r.state == RunState::Succeeded)?;
    let (result, last) = (fin.result.as_ref()?, fin.diagnosis.train_loss?);
    let v = Variant::of(result);
    let folds = folds_of(runs, v).len();
    let median = folds_median_train_loss(runs, v)?;
    let counts = match result.resampled_class_counts.is_empty() {
        true => &result.train_class_counts,
        false => &result.resampled_class_counts,
    };
    let chance = super::chance_loss(counts, &result.class_weights)?;
    if last - median < FINAL_UNCONVERGED_GAP * chance {
        return None;
    }
    let summary = format!(
        "the final model ends at a training loss of {last:.4}, its {} folds at a median of \
         {median:.4} (the chance loss is {chance:.4}): it did not converge as they did, and \
         predict answers with the fold ensemble by default",
        folds
    );
    let values = [
        ("final_train_loss", last),
        ("folds_median_train_loss", median),
        ("chance_loss", chance),
    ];
    let mut d = Draft::of_variant(
        Kind::FinalModelUnconverged,
        Severity::Warning,
        v,
        &[(fin, result)],
        summary,
        &values,
    );
    d.runs_checked = 1;
    Some(d)
}
