//! Whether the database can be written: a write that fails because the disk is full or the
//! file system fails (`SQLITE_FULL`, `SQLITE_IOERR`; PostgreSQL's class 53, insufficient
//! resources) marks the database unwritable, and the next write that succeeds clears it.
//! `/readyz` answers 503 with the reason meanwhile. Kept per database (file, or server and
//! database), so apps on other databases (tests) do not see each other's faults.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

use super::Db;

static FAULTS: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// What kind of failure a database error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The disk is full or the file system failed: no write can succeed until that changes.
    Storage(String),
    /// One value is larger than SQLite stores (`SQLITE_TOOBIG`, 1 GB): this write can never
    /// succeed.
    TooBig(String),
    /// Anything else.
    Other,
}

/// Classifies `error` by SQLite's result code (its low byte: extended codes share it) or
/// PostgreSQL's SQLSTATE.
pub fn classify(error: &anyhow::Error) -> Fault {
    for cause in error.chain() {
        if let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() {
            let message = db.message().to_owned();
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                return match pg.code() {
                    c if c.starts_with("53") => Fault::Storage(message),
                    // A value past 1 GB (program_limit_exceeded).
                    "54000" => Fault::TooBig(message),
                    _ => Fault::Other,
                };
            }
            if db.try_downcast_ref::<SqliteError>().is_none() {
                return Fault::Other;
            }
            let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
            return match code & 0xff {
                10 | 13 | 14 => Fault::Storage(message),
                18 => Fault::TooBig(message),
                _ => Fault::Other,
            };
        }
        if let Some(sqlx::Error::Io(e)) = cause.downcast_ref::<sqlx::Error>() {
            return Fault::Storage(e.to_string());
        }
    }
    Fault::Other
}

/// Why the database could not be reached, if that is what `error` is: the connection failed
/// or was closed (a restart, a network fault), or no connection came free in time. A request
/// that meets it is a 503, not a 500: nothing of it was stored, and a retry may succeed.
pub fn unreachable(error: &anyhow::Error) -> Option<String> {
    for cause in error.chain() {
        if let Some(e @ super::artifacts::ArtifactError::Unreachable { .. }) = cause.downcast_ref()
        {
            return Some(e.to_string());
        }
        let Some(e) = cause.downcast_ref::<sqlx::Error>() else {
            continue;
        };
        return match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_) => Some(e.to_string()),
            // Connection exceptions (08…) and a server shutting down or starting (57P…).
            sqlx::Error::Database(db) => db
                .try_downcast_ref::<PgDatabaseError>()
                .filter(|pg| pg.code().starts_with("08") || pg.code().starts_with("57P"))
                .map(|pg| pg.message().to_owned()),
            _ => None,
        };
    }
    None
}

/// Records how a write went: a storage fault marks the database unwritable, a success clears it.
pub(crate) fn note<T>(key: &str, result: &anyhow::Result<T>) {
    let mut faults = FAULTS.lock().unwrap_or_else(|e| e.into_inner());
    let faults = faults.get_or_insert_with(HashMap::new);
    match result {
        Ok(_) => {
            faults.remove(key);
        }
        Err(e) => {
            if let Fault::Storage(reason) = classify(e) {
                tracing::error!(%reason, "the database cannot be written");
                faults.insert(key.to_owned(), reason);
            }
        }
    }
}

/// Why the database cannot be written, if it cannot.
pub fn fault(db: &Db) -> Option<String> {
    let faults = FAULTS.lock().unwrap_or_else(|e| e.into_inner());
    faults.as_ref()?.get(&db.fault_key()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_or_refused_connection_is_unreachable_and_a_query_error_is_not() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let io = anyhow::Error::new(sqlx::Error::Io(refused)).context("database");
        assert!(unreachable(&io).unwrap().contains("refused"));
        let waited = anyhow::Error::new(sqlx::Error::PoolTimedOut);
        assert!(unreachable(&waited).is_some());
        assert_eq!(
            unreachable(&anyhow::Error::new(sqlx::Error::RowNotFound)),
            None
        );
        assert_eq!(unreachable(&anyhow::anyhow!("not a database error")), None);
    }
}
