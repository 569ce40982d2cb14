//! How many times the job spec and the feature encoding have been parsed from JSON in this
//! process: each is resolved once and read back typed, and a test holds requests to that (one
//! parse each to submit a job, none to read its metrics).

use std::sync::atomic::{AtomicUsize, Ordering};

static SPECS: AtomicUsize = AtomicUsize::new(0);
static ENCODINGS: AtomicUsize = AtomicUsize::new(0);

/// Counts one parse of a job spec.
pub fn spec() {
    SPECS.fetch_add(1, Ordering::Relaxed);
}

/// Counts one parse of a feature encoding.
pub fn encoding() {
    ENCODINGS.fetch_add(1, Ordering::Relaxed);
}

/// (specs, encodings) parsed so far.
pub fn counts() -> (usize, usize) {
    (
        SPECS.load(Ordering::Relaxed),
        ENCODINGS.load(Ordering::Relaxed),
    )
}
