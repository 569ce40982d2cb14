//! The job queue's workers: each claims a run, trains it on a blocking thread, and writes its
//! epochs, checkpoints and result through the lease-fenced store; a reaper returns runs of
//! dead workers. Training never runs on the async runtime's threads.

mod epochs;
pub mod results;
pub mod worker;

use std::time::Duration;

/// Queue timing.
#[derive(Debug, Clone, Copy)]
pub struct QueueTiming {
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// Delay before a failed run is retried (times the attempt number).
    pub backoff: Duration,
    /// A running run writes its buffered epochs and newest checkpoint at most this often (and
    /// when it ends).
    pub write_every: Duration,
    /// Not a time: the largest checkpoint a run may write (SQLite stores at most 1 GB in one
    /// value); a larger one fails the run permanently, with the reason.
    pub max_checkpoint_bytes: u64,
}

impl Default for QueueTiming {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(50),
            backoff: Duration::from_secs(2),
            write_every: Duration::from_millis(200),
            max_checkpoint_bytes: 1_000_000_000,
        }
    }
}
