//! The only place SQL lives: the SQLite pool (WAL, `synchronous=FULL`, foreign keys, a busy
//! timeout), migrations, and one file per table group.

mod dataset_values;
pub mod datasets;
pub mod health;
pub mod idempotency;
pub mod job_view;
pub mod jobs;
pub mod run_data;
pub mod run_notes;
pub mod runs;
pub(crate) mod typed;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use crate::config::redacted_url;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

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

/// Applies every pending migration.
pub async fn migrate(pool: &SqlitePool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying migrations")
}

/// Whether the database answers and has every embedded migration applied.
pub async fn is_ready(pool: &SqlitePool) -> Result<bool, sqlx::Error> {
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(pool)
            .await?;
    Ok(applied as usize >= MIGRATOR.iter().count())
}

/// A write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`). A deferred
/// transaction that reads first cannot upgrade to a write after another connection committed
/// (`SQLITE_BUSY_SNAPSHOT`, which the busy timeout does not retry); this one waits its turn.
///
/// Begun and ended with plain SQL rather than sqlx's `Transaction`: when SQLite rolls a
/// transaction back by itself (a full disk, `SQLITE_FULL`), sqlx's own `ROLLBACK` fails and it
/// returned the connection to the pool believing a transaction still open, so every later
/// write on it failed. Here a transaction that did not end cleanly closes its connection.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Sqlite>>,
}

pub(crate) async fn write_tx(pool: &SqlitePool) -> Result<WriteTx, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    Ok(WriteTx { conn: Some(conn) })
}

impl WriteTx {
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let mut conn = self.conn.take().expect("a transaction has its connection");
        match sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                // Whatever state the connection is in, it does not go back to the pool.
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                drop(conn.detach());
                Err(e)
            }
        }
    }

    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        let mut conn = self.conn.take().expect("a transaction has its connection");
        if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
            drop(conn.detach());
            return Err(e);
        }
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a transaction has its connection")
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a transaction has its connection")
    }
}

/// Dropped without commit or rollback (an error part-way, or a cancelled request): the
/// connection is closed, which rolls the transaction back, instead of returning to the pool
/// mid-transaction.
impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// Whether an error is a UNIQUE or PRIMARY KEY violation (a lost race on an insert).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
