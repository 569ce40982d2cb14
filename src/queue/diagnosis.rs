//! Diagnosing a run as it trains: the rules over its history after every epoch, its findings
//! stored when they change (the job's list and event streams follow), `training.stop_on`, and
//! the last diagnosis when it ends.

use super::epochs::EpochWriter;
use super::flags::Flags;
use crate::diagnose::run_rules::{self, RunContext, RunEnd};
use crate::diagnose::{self};
use crate::domain::finding::{Kind, Severity};
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

/// One run's diagnosis in progress.
pub struct Watch<'a> {
    ctx: RunContext<'a>,
    /// The whole history (a resumed run's earlier epochs too).
    history: Vec<EpochRecord>,
    /// The kinds and severities last stored.
    shown: Vec<(Kind, Severity)>,
}

impl<'a> Watch<'a> {
    pub fn new(spec: &'a TrainingSpec, chance_loss: Option<f64>, resumed: &[EpochRecord]) -> Self {
        Self {
            ctx: RunContext { spec, chance_loss },
            history: resumed.to_vec(),
            shown: Vec::new(),
        }
    }

    /// After each epoch: stores the findings if they changed, and stops the run (failing it)
    /// on an error finding `training.stop_on` names.
    pub fn epoch(&mut self, record: &EpochRecord, writer: &mut EpochWriter, flags: &Flags) {
        // A pretraining autoencoder's epochs are not the classifier's: the rules read those.
        if record.phase == crate::engine::train::Phase::Pretrain {
            return;
        }
        self.history.push(record.clone());
        let found = run_rules::diagnose(&self.ctx, &self.history, RunEnd::Training);
        let now: Vec<(Kind, Severity)> = found
            .findings
            .iter()
            .map(|f| (f.kind, f.severity))
            .collect();
        if now != self.shown {
            writer.diagnosis(&found, true);
            self.shown = now;
        }
        let stop_on = &self.ctx.spec.training.stop_on;
        if let Some(f) = found
            .findings
            .iter()
            .find(|f| f.severity == Severity::Error && stop_on.contains(&f.kind))
        {
            flags.fail(
                true,
                format!(
                    "stopped in epoch {} by training.stop_on: {} ({})",
                    record.epoch,
                    f.kind.as_str(),
                    f.evidence.summary
                ),
            );
        }
    }

    /// The run's last diagnosis: finished, or diverged in an epoch.
    pub fn end(&self, end: RunEnd, writer: &mut EpochWriter) {
        writer.diagnosis(&run_rules::diagnose(&self.ctx, &self.history, end), false);
    }
}
