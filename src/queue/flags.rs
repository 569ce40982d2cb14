//! What a running run's threads tell each other: stop (cancel, shutdown, lost lease) and why a
//! write failed. Set by the heartbeat and the epoch writer, read by the trainer and the worker.

use std::sync::atomic::{AtomicBool, Ordering};

/// Why training stopped early, as the worker sees it.
#[derive(Default)]
pub struct Flags {
    pub cancel: AtomicBool,
    pub lost: AtomicBool,
    pub shutting_down: AtomicBool,
    /// A write failed: whether retrying can help, and why.
    failure: std::sync::Mutex<Option<(bool, String)>>,
}

impl Flags {
    /// Stops the run with a failure to record (the first one wins).
    pub fn fail(&self, permanent: bool, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert((permanent, reason));
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// The failure recorded, if any: whether it is permanent, and why.
    pub fn failure(&self) -> Option<(bool, String)> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
