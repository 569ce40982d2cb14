//! Diagnosing a run as it trains: the rules over its history after every epoch, its findings
//! stored when they change (the job's list and event streams follow), `training.stop_on`, and
//! the last diagnosis when it ends.

use super::epochs::EpochWriter;
use super::flags::{Flags, RunError};
use crate::diagnose::run_rules::{self, RunContext, RunEnd};
use crate::diagnose::{self};
use crate::domain::finding::{Kind, RunDiagnosis, Severity};
use crate::domain::job::Strategy;
use crate::domain::spec::TrainingSpec;
use crate::engine::data::table::Table;
use crate::engine::train::EpochRecord;

/// The loss of predicting the fold's class frequencies, as the strategy weighs them: the
/// balancing strategies make every class count alike (`ln k`); one-class reconstructs.
pub fn chance_loss(table: &Table<'_>, rows: &[usize], strategy: Strategy) -> Option<f64> {
    let mut counts = vec![0u64; table.classes];
    for &r in rows {
        counts[table.y[r] as usize] += 1;
    }
    match strategy {
        Strategy::OneClass => None,
        Strategy::None => diagnose::chance_loss(&counts, &[]),
        _ => {
            let present = counts.iter().filter(|&&n| n > 0).count();
            Some((present.max(1) as f64).ln())
        }
    }
}

/// Epochs diagnosed one by one at the start of a run; after that the rules run once every
/// `epochs / 25` epochs, so diagnosing costs O(epochs) in all rather than O(epochs²) (each pass
/// reads the whole history). A finding is still seen within 4% of the run's length, and the
/// run's last diagnosis (`end`) reads every epoch.
const EVERY_EPOCH_UNTIL: usize = 100;
const PASSES_PER_LENGTH: usize = 25;

/// One run's diagnosis in progress.
pub struct Watch<'a> {
    ctx: RunContext<'a>,
    /// The whole history (a resumed run's earlier epochs too).
    history: Vec<EpochRecord>,
    /// The kinds and severities last stored.
    shown: Vec<(Kind, Severity)>,
    /// The history's length when the rules last ran.
    diagnosed: usize,
}

impl<'a> Watch<'a> {
    pub fn new(spec: &'a TrainingSpec, chance_loss: Option<f64>, resumed: &[EpochRecord]) -> Self {
        Self {
            ctx: RunContext { spec, chance_loss },
            history: resumed.to_vec(),
            shown: Vec::new(),
            diagnosed: 0,
        }
    }

    /// Whether the rules run after this epoch (see `EVERY_EPOCH_UNTIL`).
    fn due(&self) -> bool {
        let n = self.history.len();
        n <= EVERY_EPOCH_UNTIL || n - self.diagnosed >= n / PASSES_PER_LENGTH
    }

    /// After each epoch: stores the findings if they changed, and stops the run (failing it)
    /// on an error finding `training.stop_on` names.
    pub fn epoch(&mut self, record: &EpochRecord, writer: &mut EpochWriter, flags: &Flags) {
        // A pretraining autoencoder's epochs are not the classifier's: the rules read those.
        if record.phase == crate::engine::train::Phase::Pretrain {
            return;
        }
        self.history.push(record.clone());
        if !self.due() {
            return;
        }
        self.diagnosed = self.history.len();
        let found = run_rules::diagnose(&self.ctx, &self.history, RunEnd::Training);
        let now: Vec<(Kind, Severity)> = found
            .findings
            .iter()
            .map(|f| (f.kind, f.severity))
            .collect();
        if now != self.shown {
            writer.diagnosis(&found);
            self.shown = now;
        }
        let stop_on = &self.ctx.spec.training.stop_on;
        if let Some(f) = found
            .findings
            .iter()
            .find(|f| f.severity == Severity::Error && stop_on.contains(&f.kind))
        {
            flags.fail(RunError::Permanent(format!(
                "stopped in epoch {} by training.stop_on: {} ({})",
                record.epoch,
                f.kind.as_str(),
                f.evidence.summary
            )));
        }
    }

    /// The run's last diagnosis: finished, or diverged in an epoch.
    pub fn end(&self, end: RunEnd) -> RunDiagnosis {
        run_rules::diagnose(&self.ctx, &self.history, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records the rules read over a run of `epochs`, following `Watch::due`.
    fn records_read(epochs: usize) -> usize {
        let spec = TrainingSpec::default();
        let mut watch = Watch::new(&spec, None, &[]);
        let mut read = 0;
        let record: EpochRecord = serde_json::from_value(serde_json::json!({
            "epoch": 1, "train_loss": 0.5, "val_loss": null, "val_accuracy": null,
            "holdout_loss": null, "holdout_accuracy": null, "learning_rate": 0.001,
            "grad_norm": 1.0, "layer_grad_norms": [], "seconds": 0.0}))
        .unwrap();
        for _ in 0..epochs {
            watch.history.push(record.clone());
            if watch.due() {
                watch.diagnosed = watch.history.len();
                read += watch.history.len();
            }
        }
        read
    }

    #[test]
    fn diagnosing_a_run_reads_its_history_a_bounded_number_of_times_over() {
        // Every epoch would be n²/2: 5·10⁹ records for 100,000 epochs.
        for epochs in [1_000, 10_000, 100_000] {
            let read = records_read(epochs);
            assert!(read <= 40 * epochs, "{epochs} epochs: {read} records read");
        }
        // Every epoch of the first hundred is diagnosed.
        assert_eq!(records_read(100), (1..=100).sum::<usize>());
    }
}
