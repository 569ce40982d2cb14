//! A run's epoch records and resume checkpoints on their way to the store. Small epochs take a
//! millisecond, and committing each (an fsync, plus a checkpoint that for an ensemble carries
//! every finished member) would cost more than training it, so records are buffered and written,
//! with the newest checkpoint, in one fenced transaction at most every `write_every`. Nothing is
//! lost by that: a run resumed from an older checkpoint replays the unwritten epochs exactly, and
//! epoch rows are keyed `(run, epoch)`. Between writes a cheap read still picks up a cancel at
//! every epoch.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::store::Db;

use super::flags::{Flags, RunError};
use crate::domain::finding::RunDiagnosis;
use crate::engine::checkpoint;
use crate::engine::train::{EpochRecord, TrainState};
use crate::store::{self, runs::Appended};

/// The most often a running run reads whether its job is being cancelled, between writes: a
/// cancel is seen within a tenth of a second, and a run of short epochs makes one read for
/// several of them (on a shared database each read is a round trip every worker pays).
const CANCEL_CHECK_EVERY: Duration = Duration::from_millis(100);

pub struct EpochWriter {
    handle: tokio::runtime::Handle,
    pool: Db,
    job_id: String,
    run_id: String,
    token: i64,
    flags: Arc<Flags>,
    write_every: Duration,
    pending: Vec<EpochRecord>,
    /// The newest epoch checkpoint not written yet, without its history: cloning the whole
    /// state every epoch made a run O(epochs²).
    latest: Option<TrainState>,
    /// The history of the state last seen, kept in step record by record.
    history: Vec<EpochRecord>,
    last_write: Instant,
    last_cancel_check: Instant,
    /// Finished ensemble members already stored (each is written once).
    members_written: usize,
    /// Largest checkpoint the database takes.
    max_checkpoint_bytes: u64,
    /// `QueueTiming::epoch_pause` (tests only).
    pause: Duration,
    /// The worker's limits and findings refresher: a change the run's diagnosis finds asks for
    /// the job's findings to be refreshed.
    shared: super::shared::Shared,
}

/// A checkpoint too large to store: the run fails permanently with this.
pub fn oversized(bytes: usize, limit: u64) -> String {
    format!(
        "the checkpoint is {} MiB, more than the database stores in one value \
         (max_checkpoint_bytes, {} MiB): use narrower or fewer hidden layers, or fewer ensemble \
         members",
        bytes >> 20,
        limit >> 20
    )
}

impl EpochWriter {
    /// Called from the training thread: blocks on `handle` for its writes.
    pub fn new(
        handle: tokio::runtime::Handle,
        pool: Db,
        (job_id, run_id): (String, String),
        token: i64,
        flags: Arc<Flags>,
        (timing, shared): (super::QueueTiming, super::shared::Shared),
        members_written: usize,
    ) -> Self {
        let (write_every, max_checkpoint_bytes) = (timing.write_every, timing.max_checkpoint_bytes);
        let pause = timing.epoch_pause;
        Self {
            handle,
            pool,
            job_id,
            run_id,
            token,
            flags,
            write_every,
            pending: Vec::new(),
            latest: None,
            history: Vec::new(),
            last_write: Instant::now(),
            last_cancel_check: Instant::now(),
            members_written,
            max_checkpoint_bytes,
            pause,
            shared,
        }
    }

    /// One finished epoch, and the state to resume after it.
    pub fn record(&mut self, record: &EpochRecord, checkpoint: Option<&TrainState>) {
        if self.flags.lost.load(Ordering::SeqCst) {
            return;
        }
        self.pending.push(record.clone());
        if let Some(ck) = checkpoint {
            self.keep(ck);
        }
        if self.last_write.elapsed() >= self.write_every {
            self.flush(true);
        } else {
            self.check_cancel();
        }
        if !self.pause.is_zero() {
            std::thread::sleep(self.pause);
        }
    }

    /// Holds `ck` as the newest checkpoint: its history by appending what is new (or copied
    /// whole when it is not a continuation: a new ensemble member's), the rest cloned.
    fn keep(&mut self, ck: &TrainState) {
        let n = self.history.len();
        let continues =
            n <= ck.history.len() && (n == 0 || self.history[n - 1] == ck.history[n - 1]);
        if continues {
            self.history.extend_from_slice(&ck.history[n..]);
        } else {
            self.history = ck.history.clone();
        }
        self.latest = Some(ck.clone_without_history());
    }

    /// Between writes, a cheap read picks up a cancel at every epoch, or every
    /// `CANCEL_CHECK_EVERY` when epochs are shorter (a read per millisecond-long epoch would
    /// cost more than the epoch).
    fn check_cancel(&mut self) {
        if self.last_cancel_check.elapsed() < CANCEL_CHECK_EVERY {
            return;
        }
        self.last_cancel_check = Instant::now();
        let cancel = self
            .handle
            .block_on(store::runs::cancel_requested(&self.pool, &self.run_id));
        match cancel {
            Ok(true) => self.flags.cancel.store(true, Ordering::SeqCst),
            Ok(false) => {}
            // The next write reads it again; a lasting fault shows there.
            Err(e) => {
                tracing::warn!(run_id = %self.run_id, error = %format!("{e:#}"), "reading a cancel request failed")
            }
        }
    }

    /// Writes the buffered records and, with `checkpoint`, the newest checkpoint (a run about to
    /// complete writes its final one with its result instead). A lost lease or a failed write
    /// stops the run and nothing more is written.
    pub fn flush(&mut self, checkpoint: bool) {
        let mut latest = if checkpoint { self.latest.take() } else { None };
        if self.flags.lost.load(Ordering::SeqCst) || (self.pending.is_empty() && latest.is_none()) {
            return;
        }
        // Members finished since the last write go out once, apart from the checkpoint.
        let mut members = Vec::new();
        let mut bytes = None;
        if let Some(ck) = &mut latest {
            // The history is lent for serializing, then taken back.
            ck.history = std::mem::take(&mut self.history);
            let serialized = checkpoint::to_resume_bytes(ck);
            self.history = std::mem::take(&mut ck.history);
            for m in self.members_written..ck.members.len() {
                match checkpoint::member_bytes(&ck.members[m]) {
                    Ok(b) => members.push((m, b)),
                    Err(e) => return self.fail(RunError::Retryable(e.to_string())),
                }
            }
            match serialized {
                Ok(b) if b.len() as u64 > self.max_checkpoint_bytes => {
                    return self.fail(RunError::Permanent(oversized(
                        b.len(),
                        self.max_checkpoint_bytes,
                    )));
                }
                Ok(b) => bytes = Some(b),
                Err(e) => return self.fail(RunError::Retryable(e.to_string())),
            }
        }
        let written = self.handle.block_on(store::runs::append_epochs(
            &self.pool,
            &self.run_id,
            self.token,
            &self.pending,
            bytes.as_deref(),
            &members,
        ));
        self.pending.clear();
        self.last_write = Instant::now();
        match written {
            Ok(Appended::Written { cancel }) => {
                if let Some(ck) = &latest {
                    self.members_written = ck.members.len();
                }
                if cancel {
                    self.flags.cancel.store(true, Ordering::SeqCst)
                }
            }
            // The lease is gone: stop training, write nothing more.
            Ok(Appended::Lost) => {
                self.flags.lost.store(true, Ordering::SeqCst);
                self.flags.cancel.store(true, Ordering::SeqCst);
            }
            // The write failed: stop, and let the worker record why.
            Err(e) => self.fail(RunError::from_store(
                &e,
                "storing the run's epochs and checkpoint",
            )),
        }
    }

    /// The records not written yet, for a completing run to write with its result.
    pub fn into_pending(self) -> Vec<EpochRecord> {
        self.pending
    }

    /// Stores what diagnosing the run found, and asks for the job's findings (what the API and
    /// the event streams read) to be refreshed. A failed write is logged: findings are
    /// recomputed from the next change, and training goes on.
    pub fn diagnosis(&mut self, diagnosis: &RunDiagnosis) {
        if self.flags.lost.load(Ordering::SeqCst) {
            return;
        }
        let (pool, job, shared) = (&self.pool, &self.job_id, &self.shared);
        let written = self.handle.block_on(async {
            if store::run_notes::set_diagnosis(pool, &self.run_id, self.token, diagnosis).await? {
                super::shared::refresh_when_due(pool, job, shared, false).await;
            }
            anyhow::Ok(())
        });
        if let Err(e) = written {
            tracing::warn!(run_id = %self.run_id, error = %format!("{e:#}"), "storing the run's findings failed");
        }
    }

    /// Stops the run; the worker records `reason` (permanent: no retry).
    fn fail(&mut self, error: RunError) {
        let (reason, permanent) = (error.reason(), error.is_permanent());
        tracing::error!(%reason, permanent, "the run cannot store its progress");
        self.flags.fail(error);
    }
}
