//! Early stopping: after each epoch, whether the monitored inner-validation value improved on
//! the best so far (then those weights are kept) or patience ran out.

use super::state::{Best, TrainState};
use crate::domain::spec::EarlyStopping;

/// The rule of one run.
pub struct EarlyStop<'a> {
    es: &'a EarlyStopping,
    lower_is_better: bool,
}

impl<'a> EarlyStop<'a> {
    pub fn new(es: &'a EarlyStopping) -> Self {
        Self {
            es,
            lower_is_better: es.monitor == "val_loss",
        }
    }

    /// Whether `waited` epochs without improvement end the run.
    pub fn exhausted(&self, waited: u64) -> bool {
        waited >= self.es.patience
    }

    /// Records epoch `epoch`'s (1-based) validation loss and accuracy in `state`; returns
    /// whether the run stops here.
    pub fn observe(
        &self,
        state: &mut TrainState,
        epoch: u64,
        loss: f64,
        accuracy: Option<f64>,
    ) -> bool {
        // A reconstruction has no accuracy: its loss decides.
        let lower_is_better = self.lower_is_better || accuracy.is_none();
        let value = if lower_is_better {
            loss
        } else {
            accuracy.unwrap_or(loss)
        };
        let improved = match &state.best {
            None => value.is_finite(),
            Some(b) if lower_is_better => value < b.value - self.es.min_delta,
            Some(b) => value > b.value + self.es.min_delta,
        };
        if improved {
            state.best = Some(Best {
                model: state.model.clone(),
                epoch,
                value,
            });
            state.waited = 0;
            false
        } else {
            state.waited += 1;
            self.exhausted(state.waited)
        }
    }
}
