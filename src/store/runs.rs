//! `runs` and `epoch_metrics`: the claimable unit of work. A claim is one conditional
//! `UPDATE … RETURNING`; every later write of a running run names its `lease_token`, so a
//! worker that lost its lease (expired, reaped, re-claimed elsewhere) writes nothing.

use super::artifacts::{Blob, Stored};
use super::blobs;
use crate::domain::finding::RunDiagnosis;
use crate::domain::heldout::HeldOut;
use crate::domain::job::Strategy;
use crate::domain::results::{RunKind, RunResult};
use crate::engine::train::{EpochRecord, Leg};

/// What a completing run has not written yet: its last epochs and its last findings, written
/// with its result in one transaction (three round trips' worth of writes at every run's end).
#[derive(Debug, Clone, Default)]
pub struct RunTail {
    pub epochs: Vec<EpochRecord>,
    pub diagnosis: Option<RunDiagnosis>,
    /// Its held-out loss by epoch, all of them: what a halving search ranks it by at a rung
    /// (empty for a run of any other job).
    pub losses: Vec<f64>,
}

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
    /// The last epoch checkpoint, when resuming (`run_data::run_inputs` reads it).
    pub checkpoint: Option<Blob>,
    /// The imbalance strategy; `None` for a comparison's final run (train the winner).
    pub strategy: Option<Strategy>,
    /// The model variant (index into a `model` list).
    pub variant: u32,
    /// Where this leg ends: a search's rung, halted by it, or the end.
    pub leg: Leg,
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
    /// Claims the oldest due queued run of a live job, leasing it to `owner` for `lease_ms`, and
    /// records that it trains on kernel set `kernels` (a later attempt on another set is added
    /// to `resumed_on_kernels`).
    pub async fn claim_next(
        owner: &str,
        lease_ms: i64,
        kernels: &str,
    ) -> anyhow::Result<Option<Claimed>>;
    /// Whether lease `token` of the run is still held.
    pub(crate) async fn holds_lease(run_id: &str, token: i64) -> anyhow::Result<bool>;
    /// Extends the lease, if still held.
    pub async fn heartbeat(run_id: &str, token: i64, lease_ms: i64) -> anyhow::Result<Beat>;
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
    /// Hands a run back to the queue without counting the attempt, claimable after `after_ms`:
    /// at shutdown (with no `reason`), or while a store is unreachable (`reason` recorded).
    pub async fn release(
        run_id: &str,
        token: i64,
        after_ms: i64,
        reason: Option<&str>,
    ) -> anyhow::Result<()>;
}

super::dispatch! { requeue:
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

/// Records epochs (keyed by number: a replayed epoch overwrites) and, if given, the checkpoint to
/// resume from and an ensemble's newly finished members, in one transaction; nothing is written
/// if the lease is gone. Also reports a pending cancel. With an object store the checkpoint and
/// members are written there first, under keys of this attempt, and the transaction commits
/// their keys.
pub async fn append_epochs(
    db: &super::Db,
    run_id: &str,
    token: i64,
    records: &[EpochRecord],
    checkpoint: Option<&[u8]>,
    members: &[(usize, Vec<u8>)],
) -> anyhow::Result<Appended> {
    let attempt = (run_id, token);
    let objects = db.artifacts().is_some() && (checkpoint.is_some() || !members.is_empty());
    if objects && !holds_lease(db, run_id, token).await? {
        return Ok(Appended::Lost);
    }
    let checkpoint = match checkpoint {
        Some(bytes) => {
            let what = crate::domain::ids::new_id("checkpoint");
            Some(blobs::stash(db, attempt, &what, bytes).await?)
        }
        None => None,
    };
    let mut stored = Vec::with_capacity(members.len());
    for (member, weights) in members {
        let what = format!("member-{member}");
        stored.push((*member, blobs::stash(db, attempt, &what, weights).await?));
    }
    super::on_backend!(
        db,
        runs::append_epochs(run_id, token, records, checkpoint.as_ref(), &stored)
    )
}

/// Marks a run succeeded with its results, final checkpoint and held-out predictions (written
/// to the object store first, if there is one) and its `tail`; `false` if the lease is gone.
pub async fn complete(
    db: &super::Db,
    (run_id, token): (&str, i64),
    result: &RunResult,
    (heldout, checkpoint): (Option<&HeldOut>, &[u8]),
    tail: &RunTail,
) -> anyhow::Result<bool> {
    let attempt = (run_id, token);
    if db.artifacts().is_some() && !holds_lease(db, run_id, token).await? {
        return Ok(false);
    }
    let heldout = heldout.map(HeldOut::to_bytes);
    let heldout = match &heldout {
        Some(bytes) => Some(blobs::stash(db, attempt, "heldout", bytes).await?),
        None => None,
    };
    let checkpoint: Stored<'_> = blobs::stash(db, attempt, "final", checkpoint).await?;
    super::on_backend!(
        db,
        runs::complete(run_id, token, result, (heldout.as_ref(), &checkpoint), tail)
    )
}
