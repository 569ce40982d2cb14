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

use serde_json::{Value, json};
use sqlx::SqlitePool;

use super::worker::Flags;
use crate::engine::checkpoint::Checkpoint;
use crate::engine::train::EpochRecord;
use crate::store::{self, runs::Appended};

pub struct EpochWriter {
    handle: tokio::runtime::Handle,
    pool: SqlitePool,
    run_id: String,
    token: i64,
    flags: Arc<Flags>,
    write_every: Duration,
    pending: Vec<(u64, Value)>,
    /// The newest epoch checkpoint not written yet.
    latest: Option<Checkpoint>,
    last_write: Instant,
}

impl EpochWriter {
    /// Called from the training thread: blocks on `handle` for its writes.
    pub fn new(
        handle: tokio::runtime::Handle,
        pool: SqlitePool,
        run_id: String,
        token: i64,
        flags: Arc<Flags>,
        write_every: Duration,
    ) -> Self {
        Self {
            handle,
            pool,
            run_id,
            token,
            flags,
            write_every,
            pending: Vec::new(),
            latest: None,
            last_write: Instant::now(),
        }
    }

    /// One finished epoch, and the state to resume after it.
    pub fn record(&mut self, record: &EpochRecord, checkpoint: Option<&Checkpoint>) {
        if self.flags.lost.load(Ordering::SeqCst) {
            return;
        }
        self.pending.push((record.epoch, json!(record)));
        if let Some(ck) = checkpoint {
            self.latest = Some(ck.clone());
        }
        if self.last_write.elapsed() >= self.write_every {
            self.flush(true);
            return;
        }
        let cancel = self
            .handle
            .block_on(store::runs::cancel_requested(&self.pool, &self.run_id));
        if let Ok(true) = cancel {
            self.flags.cancel.store(true, Ordering::SeqCst);
        }
    }

    /// Writes the buffered records and, with `checkpoint`, the newest checkpoint (a run about to
    /// complete writes its final one with its result instead). A lost lease or a failed write
    /// stops the run and nothing more is written.
    pub fn flush(&mut self, checkpoint: bool) {
        let bytes = if checkpoint {
            self.latest.take().and_then(|c| c.to_bytes().ok())
        } else {
            None
        };
        if self.flags.lost.load(Ordering::SeqCst) || (self.pending.is_empty() && bytes.is_none()) {
            return;
        }
        let written = self.handle.block_on(store::runs::append_epochs(
            &self.pool,
            &self.run_id,
            self.token,
            &self.pending,
            bytes.as_deref(),
        ));
        self.pending.clear();
        self.last_write = Instant::now();
        match written {
            Ok(Appended::Written { cancel: false }) => {}
            Ok(Appended::Written { cancel: true }) => {
                self.flags.cancel.store(true, Ordering::SeqCst)
            }
            // The lease is gone (or the database is): stop training, write nothing more.
            Ok(Appended::Lost) | Err(_) => {
                self.flags.lost.store(true, Ordering::SeqCst);
                self.flags.cancel.store(true, Ordering::SeqCst);
            }
        }
    }
}
