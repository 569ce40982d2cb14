//! The PostgreSQL backend: many processes on many machines share one database. Claims skip
//! rows another claim holds (`FOR UPDATE SKIP LOCKED`); leases run on the database's clock
//! (machines' clocks differ); a write transaction whose reads decide its writes takes one
//! transaction-scoped advisory lock, the serialization SQLite gives every writer.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::redacted_url;

pub(crate) type DB = sqlx::Postgres;

macro_rules! now_ms {
    () => {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    };
}
macro_rules! skip_locked {
    () => {
        " FOR UPDATE OF r SKIP LOCKED"
    };
}
/// The advisory lock's key is arbitrary: one lock for the whole store's serialized writes.
macro_rules! begin_write {
    () => {
        "BEGIN; SELECT pg_advisory_xact_lock(7205759403792793)"
    };
}
/// What a read adds to hold its rows until the transaction ends.
macro_rules! for_update {
    () => {
        " FOR UPDATE"
    };
}
/// Starts a transaction ordered only by the rows it locks (a run's row under its lease, a
/// job's row read `for_update!`), so it need not wait for unrelated writers.
macro_rules! begin_fenced {
    () => {
        "BEGIN"
    };
}
macro_rules! position_in {
    () => {
        "strpos"
    };
}
/// A RETURNING expression that notifies `channel` (a literal) with the row's `job_id`: the
/// notice rides on the write, one round trip instead of two, and only a row written sends one.
macro_rules! notify_job {
    ($channel:expr) => {
        concat!("CAST(pg_notify('", $channel, "', job_id) AS TEXT)")
    };
}
/// A JSON array of `[epochs_done, strategy, state]` of each of a job's runs, as text.
macro_rules! runs_json {
    () => {
        "(SELECT COALESCE(CAST(json_agg(json_build_array(r.epochs_done, r.strategy, r.state)) AS TEXT), '[]')
           FROM runs r WHERE r.job_id = j.id)"
    };
}

/// A store test, run on this backend: it needs a server, which CI provides (`pg_virtualenv`).
#[cfg(test)]
macro_rules! store_test {
    ($(#[$m:meta])* async fn $name:ident() $body:block) => {
        $(#[$m])*
        #[tokio::test]
        #[ignore = "needs PostgreSQL: pg_virtualenv or CROSSFOLD_TEST_POSTGRES (CI has it)"]
        async fn $name() $body
    };
}

/// Whether `LIKE` ignores case (SQLite's does for ASCII; PostgreSQL's does not).
pub(crate) const LIKE_IGNORES_CASE: bool = false;
/// Whether state changes notify listeners (`sql::QUEUE_CHANNEL`, `sql::EVENTS_CHANNEL`):
/// workers and API processes on other machines wake.
pub(crate) const NOTIFIES: bool = true;

#[allow(
    clippy::duplicate_mod,
    reason = "one SQL text compiled once per backend, on purpose"
)]
#[path = "sql/mod.rs"]
pub(crate) mod sql;

/// The migrations in `migrations/postgres/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process: a worker holds none while training, so a few serve many runs.
const MAX_CONNECTIONS: u32 = 8;

/// Connects to `postgres://…`; what the URL leaves out comes from the `PG*` variables.
pub async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(database_url)
        .with_context(|| format!("parsing database URL {:?}", redacted_url(database_url)))?;
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to {}", redacted_url(database_url)))
}

/// What a listening connection heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard<'a> {
    /// The queue changed (`QUEUE_CHANNEL`): this job was submitted or cancelled, or a run of
    /// it ended.
    Queue(&'a str),
    /// This job's epochs, findings or status changed (`EVENTS_CHANNEL`).
    Events(&'a str),
    /// The connection (re)opened: anything may have changed meanwhile.
    Reconnected,
}

/// Tells `heard` each notification on `channels` (its job id), and `Reconnected` after each
/// (re)connect (what was sent meanwhile is lost), until `shutdown`: one connection.
pub(crate) async fn listen(
    pool: PgPool,
    channels: &'static [&'static str],
    heard: impl Fn(Heard<'_>) + Send + Sync + 'static,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen_all(channels.iter().copied()).await?;
            heard(Heard::Reconnected);
            loop {
                // `None`: the connection dropped (sqlx reconnects at the next call).
                match listener.try_recv().await? {
                    Some(n) if n.channel() == sql::QUEUE_CHANNEL => {
                        heard(Heard::Queue(n.payload()))
                    }
                    Some(n) => heard(Heard::Events(n.payload())),
                    None => {
                        tracing::warn!("the notification connection dropped; reconnecting");
                        heard(Heard::Reconnected);
                    }
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            result = listener => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "listening for notifications failed; retrying");
                }
            }
            _ = shutdown.cancelled() => return,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Moves each identity sequence past the largest number a copy inserted.
pub(crate) async fn restart_sequences(pool: &PgPool) -> Result<(), sqlx::Error> {
    for table in ["datasets", "jobs", "runs"] {
        // Table names from this list, not input.
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'seq'),
                           COALESCE((SELECT MAX(seq) FROM {table}), 0) + 1, false)"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Faults are kept per server and database.
pub(crate) fn fault_key(pool: &PgPool) -> String {
    let o = pool.connect_options();
    format!(
        "{}:{}/{}",
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or_default()
    )
}

/// A fresh schema for a store test on the server the `PG*` variables name (as
/// `pg_virtualenv` sets them), or `CROSSFOLD_TEST_POSTGRES`.
#[cfg(test)]
pub(crate) async fn test_pool() -> (String, PgPool) {
    let (schema, pool) = test_pool_unmigrated().await;
    MIGRATOR.run(&pool).await.unwrap();
    (schema, pool)
}

/// As `test_pool`, with no migration applied.
#[cfg(test)]
pub(crate) async fn test_pool_unmigrated() -> (String, PgPool) {
    let base = std::env::var("CROSSFOLD_TEST_POSTGRES").unwrap_or_else(|_| "postgres://".into());
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let admin = connect(&base)
        .await
        .expect("a PostgreSQL server (run under pg_virtualenv, or set CROSSFOLD_TEST_POSTGRES)");
    // The name is ours (a uuid), not input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options = PgConnectOptions::from_str(&base)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .unwrap();
    (schema, pool)
}
