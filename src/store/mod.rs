//! The only place SQL lives. Two backends behind one handle, `Db`: SQLite (the default: one
//! file, WAL, `synchronous=FULL`) and PostgreSQL (`postgres://…`, for many processes on many
//! machines). The SQL is written once, in `sql/`, and compiled for each backend, with the few
//! phrases that differ (the clock, row locks, a write transaction's start) supplied by each
//! backend's module; each backend has its own migrations. The public functions here dispatch.

pub mod copy;
pub mod datasets;
pub mod health;
pub mod idempotency;
pub mod job_view;
pub mod jobs;
pub(crate) mod postgres;
pub mod run_data;
pub mod run_notes;
pub mod runs;
pub(crate) mod sqlite;
pub(crate) mod typed;

/// A connection pool to the store: which backend it is decides the SQL dialect.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Opens the database at `url`: `postgres://…` (credentials from the URL or the `PG*`
/// variables, TLS by `sslmode`), or `sqlite://path`, created if needed.
pub async fn connect(url: &str) -> anyhow::Result<Db> {
    if crate::config::is_postgres_url(url) {
        postgres::connect(url).await.map(Db::Postgres)
    } else {
        sqlite::connect(url).await.map(Db::Sqlite)
    }
}

/// Applies every pending migration of the backend.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    use anyhow::Context;
    match db {
        Db::Sqlite(pool) => sqlite::MIGRATOR.run(pool).await,
        Db::Postgres(pool) => postgres::MIGRATOR.run(pool).await,
    }
    .context("applying migrations")
}

/// Whether the database answers and has every embedded migration applied.
pub async fn is_ready(db: &Db) -> Result<bool, sqlx::Error> {
    let (applied, embedded) = match db {
        Db::Sqlite(pool) => (
            sqlite::sql::applied_migrations(pool).await?,
            sqlite::MIGRATOR.iter().count(),
        ),
        Db::Postgres(pool) => (
            postgres::sql::applied_migrations(pool).await?,
            postgres::MIGRATOR.iter().count(),
        ),
    };
    Ok(applied as usize >= embedded)
}

/// What wakes this process's idle workers besides their poll: PostgreSQL's notifications of
/// a submit, a cancel or a run's end, listened to on one connection until `shutdown`; `None`
/// on SQLite (one machine polls cheaply).
pub fn wake_ups(
    db: &Db,
    shutdown: tokio_util::sync::CancellationToken,
) -> Option<std::sync::Arc<tokio::sync::Notify>> {
    let Db::Postgres(pool) = db else { return None };
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    tokio::spawn(postgres::listen(pool.clone(), wake.clone(), shutdown));
    Some(wake)
}

impl Db {
    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection (waits for ones in use).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }

    /// The SQLite pool, for tests and tools that read a file directly.
    pub fn as_sqlite(&self) -> Option<&sqlx::SqlitePool> {
        match self {
            Db::Sqlite(pool) => Some(pool),
            Db::Postgres(_) => None,
        }
    }

    /// What `health` keys this database's faults by.
    fn fault_key(&self) -> String {
        match self {
            Db::Sqlite(pool) => sqlite::fault_key(pool),
            Db::Postgres(pool) => postgres::fault_key(pool),
        }
    }
}

/// Declares the public functions of a table group: each takes a `&Db` and calls the same
/// function of `sql::$module` compiled for its backend.
macro_rules! dispatch {
    ($module:ident: $(
        $(#[$attr:meta])*
        pub async fn $name:ident ( $( $arg:ident : $ty:ty ),* $(,)? ) -> $ret:ty;
    )*) => {
        $(
            $(#[$attr])*
            pub async fn $name(db: &$crate::store::Db, $( $arg: $ty ),*) -> $ret {
                match db {
                    $crate::store::Db::Sqlite(pool) => {
                        $crate::store::sqlite::sql::$module::$name(pool, $( $arg ),*).await
                    }
                    $crate::store::Db::Postgres(pool) => {
                        $crate::store::postgres::sql::$module::$name(pool, $( $arg ),*).await
                    }
                }
            }
        )*
    };
}
use dispatch;

/// Whether an error is a UNIQUE or PRIMARY KEY violation (a lost race on an insert).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Counting the statements a store call runs on the `jobs` or `runs` tables, from sqlx's query
/// log. One count at a time, process-wide (each backend's copy of a test takes turns).
#[cfg(test)]
pub(crate) mod query_count {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    static JOB_QUERIES: AtomicUsize = AtomicUsize::new(0);
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    struct CountJobQueries;

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountJobQueries {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            struct Text(String);
            impl tracing::field::Visit for Text {
                fn record_debug(&mut self, _: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    self.0.push_str(&format!("{v:?} "));
                }
            }
            if event.metadata().target() != "sqlx::query" {
                return;
            }
            let mut text = Text(String::new());
            event.record(&mut text);
            if text.0.contains("jobs") || text.0.contains("runs") {
                JOB_QUERIES.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// What `call` returned, and the statements on `jobs` or `runs` it ran.
    pub(crate) async fn of_jobs<T>(call: impl std::future::Future<Output = T>) -> (T, usize) {
        let _ = tracing_subscriber::registry()
            .with(CountJobQueries)
            .try_init();
        let _turn = ONE_AT_A_TIME.lock().await;
        JOB_QUERIES.store(0, Ordering::SeqCst);
        let out = call.await;
        (out, JOB_QUERIES.load(Ordering::SeqCst))
    }
}
