//! `runs` and `epoch_metrics`: the claimable unit of work. A claim is one conditional
//! `UPDATE … RETURNING`; every later write of a running run names its `lease_token`, so a
//! worker that lost its lease (expired, reaped, re-claimed elsewhere) writes nothing.

use crate::domain::heldout::HeldOut;
use crate::domain::job::Strategy;
use crate::domain::results::{RunKind, RunResult};
use crate::engine::train::EpochRecord;

/// A run a worker now holds.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub job_id: String,
    pub kind: RunKind,
    pub fold: Option<u32>,
    pub repeat: Option<u32>,
    pub seed: u64,
    pub attempt: u32,
    pub max_attempts: u32,
    pub token: i64,
    /// The last epoch checkpoint, when resuming.
    pub checkpoint: Option<Vec<u8>>,
    /// The imbalance strategy; `None` for a comparison's final run (train the winner).
    pub strategy: Option<Strategy>,
    /// The model variant (index into a `model` list).
    pub variant: u32,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Lease extended.
    Held,
    /// Lease extended; the job is being cancelled.
    CancelRequested,
    /// The lease is gone: stop and write nothing.
    Lost,
}

/// What recording an epoch found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Written; `cancel` says whether the job is being cancelled (stop now).
    Written { cancel: bool },
    /// The lease is gone: nothing was written.
    Lost,
}

super::dispatch! { runs:
    /// Whether the job of `run_id` has been asked to cancel (a read, no write).
    pub async fn cancel_requested(run_id: &str) -> anyhow::Result<bool>;
    /// Claims the oldest due queued run of a live job, leasing it to `owner` for `lease_ms`.
    pub async fn claim_next(owner: &str, lease_ms: i64) -> anyhow::Result<Option<Claimed>>;
    /// Extends the lease, if still held.
    pub async fn heartbeat(run_id: &str, token: i64, lease_ms: i64) -> anyhow::Result<Beat>;
    /// Records epochs (keyed by number: a replayed epoch overwrites) and, if given, the checkpoint
    /// to resume from, in one transaction; nothing is written if the lease is gone. Also reports a
    /// pending cancel.
    pub async fn append_epochs(
        run_id: &str,
        token: i64,
        records: &[EpochRecord],
        checkpoint: Option<&[u8]>,
        members: &[(usize, Vec<u8>)],
    ) -> anyhow::Result<Appended>;
    /// Marks a run succeeded with its results; `false` if the lease is gone.
    pub async fn complete(
        run_id: &str,
        token: i64,
        result: &RunResult,
        heldout: Option<&HeldOut>,
        checkpoint: &[u8],
    ) -> anyhow::Result<bool>;
    /// Records a failure: permanent failures (bad input) and runs out of attempts end `failed`;
    /// others go back to the queue after `backoff_ms`.
    pub async fn fail(
        run_id: &str,
        token: i64,
        error: &str,
        permanent: bool,
        backoff_ms: i64,
    ) -> anyhow::Result<()>;
    /// Marks a run cancelled (it stopped on request).
    pub async fn cancelled(run_id: &str, token: i64) -> anyhow::Result<()>;
    /// Hands a run back to the queue at shutdown, without counting the attempt.
    pub async fn release(run_id: &str, token: i64) -> anyhow::Result<()>;
    /// Returns runs whose lease expired (their worker died) to the queue after `backoff_ms`, or
    /// fails them when their attempts are used up; returns the affected jobs.
    pub async fn reap_expired(backoff_ms: i64) -> anyhow::Result<Vec<String>>;
    /// Finishes cancels that were asked for but never carried out (the process died between the
    /// request and the stop, so the run went back to the queue of a job no claim looks at): such
    /// runs end `cancelled`. Returns the jobs touched, to settle.
    pub async fn finish_requested_cancels() -> anyhow::Result<Vec<String>>;
    /// At start-up of a single node: every run still marked running belongs to a process that
    /// died; return them to the queue now (their attempt counts) instead of waiting for leases.
    pub async fn requeue_orphans() -> anyhow::Result<Vec<String>>;
}
