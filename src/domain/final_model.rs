//! `final_model` of a job: whether a model is trained on every non-test row after the folds,
//! and for how many epochs — its own early stopping, or (`{"epochs": "cv"}`) the rounded mean
//! of the folds' best epochs, the k-fold recipe for choosing the epoch count, or
//! (`{"epochs": "fold_loss"}`) until its training loss reaches the folds'.

use serde::{Deserialize, Serialize};

/// `true` (default), `false`, `{"epochs": "cv"}` or `{"epochs": "fold_loss"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalModel {
    /// No final model (`false`).
    None,
    /// Trained like a fold, early-stopping on its own inner split (`true`).
    #[default]
    Own,
    /// Trained without early stopping for `round(mean(best epoch of each fold))` epochs.
    CvEpochs,
    /// Trained without early stopping until an epoch's training loss is at most the median of
    /// its folds' last training losses, for at most twice `training.epochs` (the second recipe
    /// of Goodfellow et al. 2016, §7.8, algorithm 7.3): a final model that leaves a plateau
    /// later than its folds, or would spike after reaching their loss, trains to where they
    /// ended instead of for a fixed count.
    FoldLoss,
}

/// How many times `training.epochs` a `{"epochs": "fold_loss"}` final model may train.
pub const FOLD_LOSS_EPOCHS_FACTOR: u64 = 2;

impl FinalModel {
    /// Whether the job trains a final model.
    pub fn trains(self) -> bool {
        self != FinalModel::None
    }
}

/// The epochs a `{"epochs": "cv"}` final model trained, and the folds' best epochs they came
/// from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CvEpochs {
    pub epochs: u64,
    pub fold_best_epochs: Vec<u64>,
}

impl CvEpochs {
    /// `round(mean(best))`, at least 1 (half rounds up).
    pub fn of(fold_best_epochs: Vec<u64>) -> Self {
        let n = fold_best_epochs.len().max(1) as f64;
        let mean = fold_best_epochs.iter().sum::<u64>() as f64 / n;
        Self {
            epochs: (mean.round() as u64).max(1),
            fold_best_epochs,
        }
    }
}

impl Serialize for FinalModel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FinalModel::None => s.serialize_bool(false),
            FinalModel::Own => s.serialize_bool(true),
            FinalModel::CvEpochs => serde_json::json!({"epochs": "cv"}).serialize(s),
            FinalModel::FoldLoss => serde_json::json!({"epochs": "fold_loss"}).serialize(s),
        }
    }
}

/// By hand, so a bad value says what is accepted (and stored specs' booleans still read).
impl<'de> Deserialize<'de> for FinalModel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let accepted = "true, false, {\"epochs\": \"cv\"} (train for the mean of the folds' best \
             epochs) or {\"epochs\": \"fold_loss\"} (train until the training loss reaches the \
             folds')";
        match &v {
            serde_json::Value::Bool(true) => Ok(FinalModel::Own),
            serde_json::Value::Bool(false) => Ok(FinalModel::None),
            serde_json::Value::Object(m) if m.len() == 1 => {
                match m.get("epochs").and_then(|e| e.as_str()) {
                    Some("cv") => Ok(FinalModel::CvEpochs),
                    Some("fold_loss") => Ok(FinalModel::FoldLoss),
                    _ => Err(D::Error::custom(format!("{v} is not {accepted}"))),
                }
            }
            other => Err(D::Error::custom(format!("{other} is not {accepted}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_cv_epochs_read_and_write_back() {
        for (text, want) in [
            ("true", FinalModel::Own),
            ("false", FinalModel::None),
            (r#"{"epochs":"cv"}"#, FinalModel::CvEpochs),
            (r#"{"epochs":"fold_loss"}"#, FinalModel::FoldLoss),
        ] {
            let got: FinalModel = serde_json::from_str(text).unwrap();
            assert_eq!(got, want);
            assert_eq!(serde_json::to_string(&got).unwrap(), text);
        }
        for bad in [
            r#"{"epochs": 5}"#,
            r#""cv""#,
            r#"{"epochs":"cv","x":1}"#,
            r#"{"until":"cv"}"#,
        ] {
            let e = serde_json::from_str::<FinalModel>(bad).unwrap_err();
            assert!(e.to_string().contains("epochs"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_cv_epoch_count_is_the_rounded_mean_of_the_best_epochs() {
        assert_eq!(CvEpochs::of(vec![3, 4, 6]).epochs, 4); // 4.33
        assert_eq!(CvEpochs::of(vec![3, 4]).epochs, 4); // 3.5 rounds up
        assert_eq!(CvEpochs::of(vec![]).epochs, 1);
    }
}
