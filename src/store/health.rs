//! Whether the database can be written: a write that fails because the disk is full or the
//! file system fails (`SQLITE_FULL`, `SQLITE_IOERR`) marks the database unwritable, and the next
//! write that succeeds clears it. `/readyz` answers 503 with the reason meanwhile. Kept per
//! database file, so apps on other files (tests) do not see each other's faults.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use sqlx::SqlitePool;

static FAULTS: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

fn key(pool: &SqlitePool) -> PathBuf {
    pool.connect_options().get_filename().to_path_buf()
}

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

/// Classifies `error` by SQLite's result code (its low byte: extended codes share it).
pub fn classify(error: &anyhow::Error) -> Fault {
    for cause in error.chain() {
        if let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() {
            let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
            return match code & 0xff {
                10 | 13 | 14 => Fault::Storage(db.message().to_owned()),
                18 => Fault::TooBig(db.message().to_owned()),
                _ => Fault::Other,
            };
        }
        if let Some(sqlx::Error::Io(e)) = cause.downcast_ref::<sqlx::Error>() {
            return Fault::Storage(e.to_string());
        }
    }
    Fault::Other
}

/// Records how a write went: a storage fault marks the database unwritable, a success clears it.
pub fn note<T>(pool: &SqlitePool, result: &anyhow::Result<T>) {
    let mut faults = FAULTS.lock().unwrap_or_else(|e| e.into_inner());
    let faults = faults.get_or_insert_with(HashMap::new);
    match result {
        Ok(_) => {
            faults.remove(&key(pool));
        }
        Err(e) => {
            if let Fault::Storage(reason) = classify(e) {
                tracing::error!(%reason, "the database cannot be written");
                faults.insert(key(pool), reason);
            }
        }
    }
}

/// Awaits a write and notes how it went.
pub async fn noted<T>(
    pool: &SqlitePool,
    write: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let result = write.await;
    note(pool, &result);
    result
}

/// Why the database cannot be written, if it cannot.
pub fn fault(pool: &SqlitePool) -> Option<String> {
    let faults = FAULTS.lock().unwrap_or_else(|e| e.into_inner());
    faults.as_ref()?.get(&key(pool)).cloned()
}
