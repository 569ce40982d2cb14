//! `validation` of a job: how its rows are split (k folds, repeats, a test set), or the user's
//! own folds, groups kept together, a separate test dataset, or outer folds (nested
//! cross-validation).

use serde::{Deserialize, Serialize};

use super::spec::SpecError;
use crate::config::Limits;

/// Cross-validation. Defaults: `impl Default` (the one place they are stated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSpec {
    /// Default 5.
    pub folds: u64,
    /// Only stratified folds are offered. Default true.
    pub stratified: bool,
    /// Repetitions with different shuffles. Default 1.
    pub repeats: u64,
    /// Share of rows (stratified) held out before the folds, never seen by any fold, and scored
    /// once with the final model (which this turns on). Default 0: no test set.
    pub test_fraction: f64,
    /// The user's own folds: a numeric column of integers `0..folds−1`, one per row, which is
    /// then not a feature. Default none (stratified folds from the seed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold_column: Option<String>,
    /// Rows sharing a value of this column are never in two folds (stratified group k-fold,
    /// as scikit-learn's `StratifiedGroupKFold`); the column is then not a feature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_column: Option<String>,
    /// A separate dataset with the same columns, scored once by the final model (which this
    /// turns on): a fixed train/test protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_dataset_id: Option<String>,
    /// Nested cross-validation: stratified outer folds drawn with the seed; for each, a job of
    /// its own (`outer_fold`) makes the whole selection on the other rows and scores its final
    /// model on that fold. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outer_folds: Option<u64>,
    /// One outer fold of a nested job (the jobs `outer_folds` creates carry it): its rows are
    /// this job's test set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outer_fold: Option<u64>,
}

impl ValidationSpec {
    /// Nested cross-validation: outer folds as many as folds may be, each outer fold one of them;
    /// the outer folds are the test sets, so no other test set.
    pub fn validate_outer(&self, limits: &Limits) -> Vec<SpecError> {
        let mut errors = Vec::new();
        match (self.outer_folds, self.outer_fold) {
            (None, None) => return errors,
            (None, Some(_)) => errors.push(SpecError::new(
                "validation.outer_fold",
                "an outer fold of validation.outer_folds: set outer_folds",
            )),
            (Some(k), fold) => {
                if k < 2 || k > limits.max_folds {
                    errors.push(SpecError::new(
                        "validation.outer_folds",
                        format!("from 2 to {} (max_folds)", limits.max_folds),
                    ));
                }
                if fold.is_some_and(|f| f >= k) {
                    errors.push(SpecError::new(
                        "validation.outer_fold",
                        format!("from 0 to outer_folds − 1 ({})", k.saturating_sub(1)),
                    ));
                }
            }
        }
        let other_test = [
            (self.test_fraction > 0.0, "test_fraction must be 0"),
            (
                self.test_dataset_id.is_some(),
                "test_dataset_id must be unset",
            ),
            (
                self.fold_column.is_some(),
                "fold_column must be unset (it fixes every row's fold)",
            ),
            (
                self.group_column.is_some(),
                "group_column must be unset (outer folds split rows)",
            ),
        ];
        for (clash, why) in other_test {
            if clash {
                errors.push(SpecError::new(
                    "validation.outer_folds",
                    format!("each outer fold is the test set of its own job: {why}"),
                ));
            }
        }
        errors
    }

    /// A nested job's outer folds, when this job is the one that makes them.
    pub fn nests(&self) -> Option<u64> {
        self.outer_folds.filter(|_| self.outer_fold.is_none())
    }

    /// Scored once on rows no fold sees: a test fraction, a test dataset or an outer fold.
    pub fn has_test_set(&self) -> bool {
        self.test_fraction > 0.0 || self.test_dataset_id.is_some() || self.outer_fold.is_some()
    }
}

impl Default for ValidationSpec {
    fn default() -> Self {
        Self {
            folds: 5,
            stratified: true,
            repeats: 1,
            test_fraction: 0.0,
            fold_column: None,
            group_column: None,
            test_dataset_id: None,
            outer_folds: None,
            outer_fold: None,
        }
    }
}
