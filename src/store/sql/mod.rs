//! The store's SQL, written once and compiled for each backend (`super::DB`): placeholders are
//! `$1`, `$2`… (both drivers read them), integers are 64-bit, and the phrases that differ come
//! from the backend's macros (`now_ms!`, `skip_locked!`, `for_update!`, `begin_write!`,
//! `begin_fenced!`, `position_in!`, `runs_json!`).

/// The channels' names as literals, for SQL that notifies in its RETURNING (`notify_job!`).
macro_rules! queue_channel {
    () => {
        "crossfold_queue"
    };
}
macro_rules! events_channel {
    () => {
        "crossfold_events"
    };
}

pub(crate) mod artifact_keys;
pub(crate) mod copy_rows;
pub(crate) mod dataset_values;
pub(crate) mod datasets;
pub(crate) mod epoch_rows;
pub(crate) mod idempotency;
pub(crate) mod job_list;
pub(crate) mod job_meta;
pub(crate) mod job_view;
pub(crate) mod jobs;
pub(crate) mod requeue;
pub(crate) mod run_data;
pub(crate) mod run_notes;
pub(crate) mod rungs;
pub(crate) mod runs;

use sqlx::pool::PoolConnection;

pub(crate) type Db = super::DB;
pub(crate) type Pool = sqlx::Pool<Db>;
pub(crate) type Row = <Db as sqlx::Database>::Row;
pub(crate) type Conn = <Db as sqlx::Database>::Connection;

/// The channel a submit, a cancel and a run's end notify on, waking idle workers: never an
/// epoch (a NOTIFY takes a global lock at commit).
pub(crate) const QUEUE_CHANNEL: &str = queue_channel!();
/// The channel an epoch write, new findings and a job's settling notify on, waking the API
/// processes' event streams (workers do not listen to it). At most one per epoch write, which a
/// run makes at most every `write_every`, however short its epochs.
pub(crate) const EVENTS_CHANNEL: &str = events_channel!();

/// Notifies `channel` with `job_id`, on a backend that notifies.
pub(crate) async fn notify<'e>(
    db: impl sqlx::Executor<'e, Database = Db>,
    channel: &str,
    job_id: &str,
) -> Result<(), sqlx::Error> {
    if super::NOTIFIES {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(job_id)
            .execute(db)
            .await?;
    }
    Ok(())
}

/// Migrations applied successfully.
pub(crate) async fn applied_migrations(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
}

/// Awaits a write and notes how it went (`store::health`).
pub(crate) async fn noted<T>(
    pool: &Pool,
    write: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let result = write.await;
    crate::store::health::note(&super::fault_key(pool), &result);
    result
}

/// A write transaction, begun and ended with plain SQL rather than sqlx's `Transaction`: when
/// SQLite rolls a transaction back by itself (a full disk, `SQLITE_FULL`), sqlx's own
/// `ROLLBACK` fails and it returned the connection to the pool believing a transaction still
/// open, so every later write on it failed. Here a transaction that did not end cleanly closes
/// its connection.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Db>>,
}

/// A transaction serialized with every other `write_tx` (its reads decide its writes).
pub(crate) async fn write_tx(pool: &Pool) -> Result<WriteTx, sqlx::Error> {
    begin(pool, begin_write!()).await
}

/// A transaction ordered only by the rows it locks: a run's under its lease, or a job's read
/// `for_update!` (`begin_fenced!`).
pub(crate) async fn fenced_tx(pool: &Pool) -> Result<WriteTx, sqlx::Error> {
    begin(pool, begin_fenced!()).await
}

async fn begin(pool: &Pool, sql: &'static str) -> Result<WriteTx, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql(sql).execute(&mut *conn).await?;
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
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("a transaction has its connection")
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
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

/// Declares a store test, run on this backend (`store_test!` of the backend's module).
#[cfg(test)]
pub(crate) use super::{test_pool, test_pool_unmigrated};

/// Rolls a fresh test database back in time: only the embedded migrations up to `version` are
/// applied (from copies of their texts, so their checksums match and the rest apply later).
/// The pool must come from `test_pool_unmigrated`.
#[cfg(test)]
pub(crate) async fn migrate_until(pool: &Pool, version: i64) {
    let dir = tempfile::tempdir().unwrap();
    for m in super::MIGRATOR.iter().filter(|m| m.version <= version) {
        let name = format!("{:04}_{}.sql", m.version, m.description.replace(' ', "_"));
        std::fs::write(dir.path().join(name), m.sql.as_str()).unwrap();
    }
    let older = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    older.run(pool).await.unwrap();
}
