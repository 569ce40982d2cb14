//! A search's rungs: runs that pause at a rung and wait for the search's decision, what the
//! decision reads (each fold run's progress), and its promotions and halts. All conditional on
//! the run still waiting, so two workers deciding at once do the same thing once.

use crate::domain::job::Strategy;
use crate::domain::results::RunState;
use crate::store::runs::RunTail;

/// A fold run of a searching job, as the search's decision reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRung {
    pub id: String,
    pub strategy: Option<Strategy>,
    pub variant: u32,
    pub state: RunState,
    pub rung: Option<Rung>,
    pub pause_at: Option<u64>,
    /// Held-out loss by epoch, as of its last pause or end.
    pub losses: Vec<f64>,
}

/// Where a run of a halving search stands between its legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rung {
    /// Paused at `pause_at`, waiting for the search's decision (not claimable).
    Waiting,
    /// The search stopped it: its next leg ends where it stands.
    Halted,
}

impl Rung {
    pub fn parse(s: &str) -> Option<Rung> {
        match s {
            "waiting" => Some(Rung::Waiting),
            "halted" => Some(Rung::Halted),
            _ => None,
        }
    }
}

impl RunRung {
    /// Queued but waiting for the search's decision.
    pub fn waits(&self) -> bool {
        self.state == RunState::Queued && self.rung == Some(Rung::Waiting)
    }

    /// Queued to train (not waiting for a decision): a worker may claim it.
    pub fn queued(&self) -> bool {
        self.state == RunState::Queued && !self.waits()
    }

    /// Running, or queued to (not waiting for a decision).
    pub fn trains(&self) -> bool {
        self.state == RunState::Running || self.queued()
    }
}

super::dispatch! { rungs:
    /// Pauses a running run at its rung, writing its tail and held-out losses: back in the
    /// queue but not claimable until the search decides, its attempt not counted. `false` if
    /// the lease is gone.
    pub async fn park(run_id: &str, token: i64, tail: &RunTail) -> anyhow::Result<bool>;
    /// The job's fold runs, in order, for its search's decision.
    pub async fn job_rungs(job_id: &str) -> anyhow::Result<Vec<RunRung>>;
    /// Promotes waiting runs: claimable again, pausing next at `to` (the last rung: the end).
    pub async fn promote(job_id: &str, run_ids: &[String], to: u64) -> anyhow::Result<()>;
    /// Halts waiting runs: their next leg ends where they stand.
    pub async fn halt(job_id: &str, run_ids: &[String]) -> anyhow::Result<()>;
    /// Jobs with runs waiting at a rung (a restart decides for them before claiming).
    pub async fn waiting_jobs() -> anyhow::Result<Vec<String>>;
}
