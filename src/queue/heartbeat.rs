//! A running run's heartbeat: extends its lease every third of it, and tells the trainer to
//! stop when the job is being cancelled, the lease is lost, or the worker shuts down.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::store::Db;
use tokio_util::sync::CancellationToken;

use super::QueueTiming;
use super::flags::Flags;
use crate::store::{self, runs::Beat};

pub async fn heartbeat(
    pool: Db,
    run_id: String,
    token: i64,
    timing: QueueTiming,
    flags: Arc<Flags>,
    shutdown: CancellationToken,
) {
    let lease_ms = timing.lease.as_millis() as i64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(timing.lease / 3) => {}
            _ = shutdown.cancelled() => {
                flags.shutting_down.store(true, Ordering::SeqCst);
                flags.cancel.store(true, Ordering::SeqCst);
                return;
            }
        }
        match store::runs::heartbeat(&pool, &run_id, token, lease_ms).await {
            Ok(Beat::Held) => {}
            Ok(Beat::CancelRequested) => flags.cancel.store(true, Ordering::SeqCst),
            Ok(Beat::Lost) => {
                tracing::warn!(run_id = %run_id, "the run's lease is lost: stopping it, writing nothing more");
                flags.lost.store(true, Ordering::SeqCst);
                flags.cancel.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "heartbeat failed"),
        }
    }
}
