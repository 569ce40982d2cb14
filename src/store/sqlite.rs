//! The SQLite backend: one file, WAL, `synchronous=FULL`, foreign keys, a busy timeout. One
//! process (or several on one machine) writes; a write transaction takes the write lock at
//! once, so writers are serialized by SQLite itself.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::config::redacted_url;

pub(crate) type DB = sqlx::Sqlite;

/// Unix milliseconds on the database's clock.
macro_rules! now_ms {
    () => {
        "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
    };
}
/// What a claim's row choice adds to skip rows other claims hold: nothing, writers are
/// serialized.
macro_rules! skip_locked {
    () => {
        ""
    };
}
/// Starts a write transaction that holds the write lock from its first statement: a deferred
/// one that reads first cannot upgrade after another connection committed
/// (`SQLITE_BUSY_SNAPSHOT`, which the busy timeout does not retry).
macro_rules! begin_write {
    () => {
        "BEGIN IMMEDIATE"
    };
}
/// What a read adds to hold its rows until the transaction ends: nothing, the write lock is
/// already held.
macro_rules! for_update {
    () => {
        ""
    };
}
/// As `begin_write`: SQLite has one writer at a time.
macro_rules! begin_fenced {
    () => {
        "BEGIN IMMEDIATE"
    };
}
/// The position of a text in another, 0 when absent.
macro_rules! position_in {
    () => {
        "instr"
    };
}
/// SQLite notifies no one: the RETURNING expression `notify_job!` stands for is a NULL.
macro_rules! notify_job {
    ($channel:expr) => {
        "NULL"
    };
}
/// A JSON array of `[epochs_done, strategy, state]` of each of a job's runs, as text.
macro_rules! runs_json {
    () => {
        "(SELECT json_group_array(json_array(r.epochs_done, r.strategy, r.state)) FROM runs r
           WHERE r.job_id = j.id)"
    };
}

/// A store test, run on this backend.
#[cfg(test)]
macro_rules! store_test {
    ($(#[$m:meta])* async fn $name:ident() $body:block) => {
        $(#[$m])*
        #[tokio::test]
        async fn $name() $body
    };
}

/// Whether `LIKE` ignores case (SQLite's does for ASCII; PostgreSQL's does not).
pub(crate) const LIKE_IGNORES_CASE: bool = true;
/// Whether state changes notify listeners: one process on one file needs no notifications.
pub(crate) const NOTIFIES: bool = false;

#[allow(
    clippy::duplicate_mod,
    reason = "one SQL text compiled once per backend, on purpose"
)]
#[path = "sql/mod.rs"]
pub(crate) mod sql;

/// The migrations in `migrations/sqlite/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating if needed) the database at `sqlite://path`.
pub async fn connect(database_url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(database_url)
        .with_context(|| format!("parsing database URL {:?}", redacted_url(database_url)))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // A 201/202 means stored: every commit reaches the disk before we answer.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("opening database {}", redacted_url(database_url)))
}

/// Faults are kept per database file, so apps on other files (tests) do not see each other's.
pub(crate) fn fault_key(pool: &SqlitePool) -> String {
    pool.connect_options().get_filename().display().to_string()
}

/// A fresh database for a store test, in a directory removed when the guard drops.
#[cfg(test)]
pub(crate) async fn test_pool() -> (tempfile::TempDir, SqlitePool) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let pool = connect(&url).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    (dir, pool)
}

/// As `test_pool`, with no migration applied.
#[cfg(test)]
pub(crate) async fn test_pool_unmigrated() -> (tempfile::TempDir, SqlitePool) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    (dir, connect(&url).await.unwrap())
}
