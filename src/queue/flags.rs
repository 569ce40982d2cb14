//! What a running run's threads tell each other: stop (cancel, shutdown, lost lease) and why a
//! write failed. Set by the heartbeat and the epoch writer, read by the trainer and the worker.

use std::sync::atomic::{AtomicBool, Ordering};

/// Why training stopped early, as the worker sees it.
#[derive(Default)]
pub struct Flags {
    pub cancel: AtomicBool,
    pub lost: AtomicBool,
    pub shutting_down: AtomicBool,
    /// Why the run must fail rather than stop (a write failed, `training.stop_on` fired).
    failure: std::sync::Mutex<Option<RunError>>,
}

/// Why a run failed: whether retrying can help, and the reason recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum RunError {
    /// Bad input, or a rule the run broke: retrying cannot help.
    Permanent(String),
    /// Infrastructure or a crash: retry while attempts remain.
    Retryable(String),
    /// The database or the artifact store could not be reached: retry later, without counting
    /// the attempt (an outage must not use up a run's attempts).
    Unavailable(String),
}

impl RunError {
    /// `Permanent` or `Retryable` by `permanent`.
    pub fn new(permanent: bool, reason: String) -> Self {
        match permanent {
            true => Self::Permanent(reason),
            false => Self::Retryable(reason),
        }
    }

    /// A failed store call's error, by its kind: a value too big to store is permanent, an
    /// unreachable database or artifact store is `Unavailable`, the rest retryable.
    pub fn from_store(error: &anyhow::Error, doing: &str) -> Self {
        use crate::store::health;
        let reason = format!("{doing} failed: {error:#}");
        if matches!(health::classify(error), health::Fault::TooBig(_)) {
            Self::Permanent(reason)
        } else if health::unreachable(error).is_some() {
            Self::Unavailable(reason)
        } else {
            Self::Retryable(reason)
        }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Permanent(r) | Self::Retryable(r) | Self::Unavailable(r) => r,
        }
    }
}

impl Flags {
    /// Stops the run with a failure to record (the first one wins).
    pub fn fail(&self, error: RunError) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert(error);
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// The failure recorded, if any.
    pub fn failure(&self) -> Option<RunError> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
