//! Whether the service can do its work, as its probes and `/metrics` report it: the database
//! answers, is migrated and its last write did not fail for lack of space or an I/O error, the
//! artifact store (if any) answers; and
//! how many jobs and runs are in each state.

use crate::store::Db;

use crate::store;

/// Why the service is not ready, if it is not.
pub async fn not_ready(pool: &Db) -> Option<String> {
    if let Some(reason) = store::health::fault(pool) {
        return Some(format!(
            "the database cannot be written ({reason}); runs fail until a write succeeds again"
        ));
    }
    match store::is_ready(pool).await {
        Ok(true) => {
            match pool.artifacts() {
                Some(artifacts) => artifacts.check().await.err().map(|e| {
                    format!("{e}; runs that store or read artifacts fail and are retried")
                }),
                None => None,
            }
        }
        Ok(false) => Some("the database is not fully migrated".into()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Some("the database is unreachable".into())
        }
    }
}

/// Jobs per status, and runs queued and running.
pub async fn queue_stats(pool: &Db) -> anyhow::Result<(Vec<(String, i64)>, i64, i64)> {
    store::jobs::queue_stats(pool).await
}
