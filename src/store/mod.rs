//! The only place SQL lives. Two backends behind one handle, `Db`: SQLite (the default: one
//! file, WAL, `synchronous=FULL`) and PostgreSQL (`postgres://…`, for many processes on many
//! machines). The SQL is written once, in `sql/`, and compiled for each backend, with the few
//! phrases that differ (the clock, row locks, a write transaction's start) supplied by each
//! backend's module; each backend has its own migrations. The public functions here dispatch.

pub mod artifacts;
mod blobs;
pub mod copy;
pub mod dataset_cache;
pub mod datasets;
pub mod gc;
pub mod health;
pub mod idempotency;
pub mod job_meta;
pub mod job_view;
pub mod jobs;
mod le;
pub mod memo;
pub(crate) mod postgres;
pub use postgres::Heard;
pub mod run_data;
pub mod run_notes;
pub mod rungs;
pub mod runs;
pub(crate) mod sqlite;
pub(crate) mod typed;

/// The store: a connection pool (its backend decides the SQL dialect) and, where configured,
/// the object store that artifacts go to.
#[derive(Debug, Clone)]
pub struct Db {
    backend: Backend,
    artifacts: Option<artifacts::Artifacts>,
    /// Where this process keeps the datasets its runs read, if anywhere.
    dataset_cache: Option<std::sync::Arc<dataset_cache::DatasetCache>>,
    /// What this process remembers of jobs and datasets that cannot change.
    memo: std::sync::Arc<memo::Memo>,
}

/// A connection pool of one backend.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Opens the database at `url`: `postgres://…` (credentials from the URL or the `PG*`
/// variables, TLS by `sslmode`), or `sqlite://path`, created if needed. Artifacts stay in the
/// database until `Db::with_artifacts`.
pub async fn connect(url: &str) -> anyhow::Result<Db> {
    let backend = if crate::config::is_postgres_url(url) {
        Backend::Postgres(postgres::connect(url).await?)
    } else {
        Backend::Sqlite(sqlite::connect(url).await?)
    };
    Ok(Db::new(backend))
}

/// Opens the database at `url` and, if given, the object store at `artifacts` (see
/// `artifacts::Artifacts::open`) that new artifacts go to.
pub async fn open(url: &str, artifacts: Option<&str>) -> anyhow::Result<Db> {
    let db = connect(url).await?;
    Ok(match artifacts {
        Some(a) => db.with_artifacts(artifacts::Artifacts::open(a)?),
        None => db,
    })
}

/// Applies every pending migration of the backend.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    use anyhow::Context;
    match &db.backend {
        Backend::Sqlite(pool) => sqlite::MIGRATOR.run(pool).await,
        Backend::Postgres(pool) => postgres::MIGRATOR.run(pool).await,
    }
    .context("applying migrations")
}

/// Whether the database answers and has every embedded migration applied.
pub async fn is_ready(db: &Db) -> Result<bool, sqlx::Error> {
    let (applied, embedded) = match &db.backend {
        Backend::Sqlite(pool) => (
            sqlite::sql::applied_migrations(pool).await?,
            sqlite::MIGRATOR.iter().count(),
        ),
        Backend::Postgres(pool) => (
            postgres::sql::applied_migrations(pool).await?,
            postgres::MIGRATOR.iter().count(),
        ),
    };
    Ok(applied as usize >= embedded)
}

/// What wakes the idle workers of a process without event streams (`crossfold worker`)
/// besides their poll: PostgreSQL's notifications of a submit, a cancel or a run's end,
/// listened to on one connection until `shutdown`; `None` on SQLite (one machine polls
/// cheaply).
pub fn wake_ups(
    db: &Db,
    shutdown: tokio_util::sync::CancellationToken,
) -> Option<std::sync::Arc<tokio::sync::Notify>> {
    let Backend::Postgres(pool) = &db.backend else {
        return None;
    };
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let woken = wake.clone();
    let heard = move |_: Heard<'_>| woken.notify_waiters();
    tokio::spawn(postgres::listen(
        pool.clone(),
        &[postgres::sql::QUEUE_CHANNEL],
        heard,
        shutdown,
    ));
    Some(wake)
}

/// Tells `heard` of every change to any job, on one listening connection until `shutdown`
/// (an API process's event streams and its workers follow it); nothing on SQLite, which does
/// not notify.
pub fn follow_changes(
    db: &Db,
    heard: impl Fn(Heard<'_>) + Send + Sync + 'static,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if let Backend::Postgres(pool) = &db.backend {
        let channels = &[postgres::sql::QUEUE_CHANNEL, postgres::sql::EVENTS_CHANNEL];
        tokio::spawn(postgres::listen(pool.clone(), channels, heard, shutdown));
    }
}

impl Db {
    /// Whether changes are notified to listeners (PostgreSQL's LISTEN/NOTIFY).
    pub fn notifies(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The store over `backend`, artifacts in the database.
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            artifacts: None,
            dataset_cache: None,
            memo: Default::default(),
        }
    }

    /// The same store, writing artifacts to `artifacts` from now on (ones already in the
    /// database are still read from there).
    pub fn with_artifacts(mut self, artifacts: artifacts::Artifacts) -> Self {
        self.artifacts = Some(artifacts);
        self
    }

    /// The same store, its runs reading datasets through `cache` (see `datasets::values`).
    pub fn with_dataset_cache(mut self, cache: dataset_cache::DatasetCache) -> Self {
        self.dataset_cache = Some(std::sync::Arc::new(cache));
        self
    }

    /// The cache of datasets runs read, if this process keeps one.
    pub fn dataset_cache(&self) -> Option<&std::sync::Arc<dataset_cache::DatasetCache>> {
        self.dataset_cache.as_ref()
    }

    /// What this process remembers of jobs and datasets that cannot change.
    pub(crate) fn memo(&self) -> &memo::Memo {
        &self.memo
    }

    /// The object store artifacts go to, if not the database.
    pub fn artifacts(&self) -> Option<&artifacts::Artifacts> {
        self.artifacts.as_ref()
    }

    /// The connection pool.
    pub fn pool(&self) -> &Backend {
        &self.backend
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection (waits for ones in use).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// The SQLite pool, for tests and tools that read a file directly.
    pub fn as_sqlite(&self) -> Option<&sqlx::SqlitePool> {
        match &self.backend {
            Backend::Sqlite(pool) => Some(pool),
            Backend::Postgres(_) => None,
        }
    }

    /// What `health` keys this database's faults by.
    fn fault_key(&self) -> String {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::fault_key(pool),
            Backend::Postgres(pool) => postgres::fault_key(pool),
        }
    }
}

/// Calls `sql::$module::$name` compiled for `$db`'s backend, with its pool first.
macro_rules! on_backend {
    ($db:expr, $module:ident :: $name:ident ( $( $arg:expr ),* $(,)? )) => {
        match $db.pool() {
            $crate::store::Backend::Sqlite(pool) => {
                $crate::store::sqlite::sql::$module::$name(pool, $( $arg ),*).await
            }
            $crate::store::Backend::Postgres(pool) => {
                $crate::store::postgres::sql::$module::$name(pool, $( $arg ),*).await
            }
        }
    };
}
use on_backend;

/// Declares the functions of a table group: each takes a `&Db` and calls the same function of
/// `sql::$module` compiled for its backend.
macro_rules! dispatch {
    ($module:ident: $(
        $(#[$attr:meta])*
        $vis:vis async fn $name:ident ( $( $arg:ident : $ty:ty ),* $(,)? ) -> $ret:ty;
    )*) => {
        $(
            $(#[$attr])*
            $vis async fn $name(db: &$crate::store::Db, $( $arg: $ty ),*) -> $ret {
                $crate::store::on_backend!(db, $module::$name($( $arg ),*))
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
