//! The job queue's workers: each claims a run, trains it on a blocking thread, and writes its
//! epochs, checkpoints and result through the lease-fenced store; a reaper returns runs of
//! dead workers. Training never runs on the async runtime's threads.

mod diagnosis;
mod epochs;
mod final_run;
pub mod flags;
mod heartbeat;
pub mod refresh;
mod run_input;
pub mod shared;
mod training;
pub mod worker;

use std::time::Duration;

/// Queue timing.
#[derive(Debug, Clone, Copy)]
pub struct QueueTiming {
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    /// How often an idle worker looks for work (on PostgreSQL with notifications, it also
    /// wakes at each one, and polls only every `NOTIFIED_POLL`, jittered).
    pub poll: Duration,
    /// Whether idle workers listen for PostgreSQL's notifications (`--notify`; off for a
    /// pooler in transaction mode, which cannot LISTEN): poll-only when off.
    pub notify: bool,
    /// Delay before a failed run's first retry; it doubles with each attempt (see
    /// `retry_delay`).
    pub backoff: Duration,
    /// A running run writes its buffered epochs and newest checkpoint at most this often (and
    /// when it ends).
    pub write_every: Duration,
    /// Not a time: the largest checkpoint a run may write (SQLite stores at most 1 GB in one
    /// value); a larger one fails the run permanently, with the reason.
    pub max_checkpoint_bytes: u64,
    /// For tests only (zero otherwise): a pause after each epoch, so a test can act while a
    /// run trains however fast the machine is. Results do not depend on it.
    pub epoch_pause: Duration,
}

/// How often a worker woken by notifications polls anyway: for retries whose backoff ended
/// and notifications lost while the listening connection reconnected.
pub const NOTIFIED_POLL: Duration = Duration::from_secs(1);

/// Longest wait before a retry, however many attempts came before.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// The wait before retrying a run that failed on attempt `attempt` (1-based): `base · 2^(a−1)`,
/// at most five minutes, times a jitter in [0.75, 1.25) so runs that failed together do not
/// retry together.
pub fn retry_delay(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    doubled
        .min(MAX_RETRY_DELAY)
        .mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
}

impl Default for QueueTiming {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(50),
            notify: true,
            backoff: Duration::from_secs(2),
            write_every: Duration::from_millis(200),
            max_checkpoint_bytes: 1_000_000_000,
            epoch_pause: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_a_ceiling() {
        let base = Duration::from_secs(2);
        assert_eq!(retry_delay(base, 1, 0.5), Duration::from_secs(2));
        assert_eq!(retry_delay(base, 2, 0.5), Duration::from_secs(4));
        assert_eq!(retry_delay(base, 3, 0.5), Duration::from_secs(8));
        assert_eq!(retry_delay(base, 3, 0.0), Duration::from_secs(6));
        assert!(retry_delay(base, 3, 0.999) < Duration::from_secs(10));
        assert_eq!(retry_delay(base, 40, 0.5), MAX_RETRY_DELAY);
    }
}
