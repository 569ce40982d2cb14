//! The `crossfold` command: `serve` (the default), `worker` and `migrate`, with flags that fall
//! back to `CROSSFOLD_*` environment variables.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use crossfold::config::{Limits, Settings, default_workers};
use crossfold::startup::Application;
use crossfold::telemetry::{self, LogFormat};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "crossfold",
    version,
    about = "Trains neural-network classifiers over HTTP, with stratified k-fold cross-validation",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no command, `serve` and its flags.
    #[command(flatten)]
    serve: ServeArgs,
}

/// Each command takes only the flags it uses.
// Parsed once at start-up: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API with in-process workers (the default; `--workers 0`: the API alone,
    /// for `worker` processes to train).
    Serve(ServeArgs),
    /// Run workers only, no HTTP, against the same database (for scale-out).
    Worker(WorkerArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Copy every dataset, job, run, epoch and finding from one database into another, empty
    /// one (e.g. SQLite to PostgreSQL), then check both hold the same rows.
    Copy(CopyArgs),
    /// Delete the objects in the artifact store that no run points to (replaced checkpoints,
    /// writes of attempts that lost their lease, deleted jobs' artifacts), then exit.
    Gc(GcArgs),
}

#[derive(Debug, Args)]
struct CopyArgs {
    /// The database to copy (`sqlite://…` or `postgres://…`); it is only read.
    #[arg(long)]
    from: String,
    /// The database to copy into: migrated first, and refused unless it is empty.
    #[arg(long)]
    to: String,
    /// The object store the source's artifacts are in, if any: the copy points to the same
    /// objects, and checks every one is there.
    #[command(flatten)]
    artifacts: ArtifactArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Args)]
struct GcArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    artifacts: ArtifactArgs,
    /// Keep objects younger than this, in seconds, even without a pointer (their writer may be
    /// about to commit it).
    #[arg(long, default_value_t = 3600)]
    min_age_secs: u64,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    training: TrainingArgs,
    #[command(flatten)]
    specs: SpecLimitArgs,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    /// Serve `/healthz`, `/readyz` and `/metrics` (nothing else) on this address.
    #[arg(long, env = "CROSSFOLD_PROBE_ADDR", help_heading = "Probes")]
    addr: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    training: TrainingArgs,
    #[command(flatten)]
    specs: SpecLimitArgs,
}

/// The log format, which every command takes.
#[derive(Debug, Args)]
struct LogArgs {
    /// Log format.
    #[arg(
        long,
        env = "CROSSFOLD_LOG_FORMAT",
        value_enum,
        default_value = "human"
    )]
    log_format: LogFormat,
}

/// The database and the logs.
#[derive(Debug, Args)]
#[command(next_help_heading = "Database and logs")]
struct DatabaseArgs {
    /// `sqlite://path` (created and migrated on start) or `postgres://user@host/db` (password
    /// from the URL or PGPASSWORD, TLS by `?sslmode=`; migrated on start).
    #[arg(
        long = "database",
        env = "CROSSFOLD_DATABASE_URL",
        default_value = "sqlite://crossfold.db"
    )]
    database_url: String,
    #[command(flatten)]
    log: LogArgs,
}

/// Where artifacts go.
#[derive(Debug, Args)]
struct ArtifactArgs {
    /// Checkpoints, ensemble members and held-out predictions in an object store:
    /// `file:///dir` or `s3://bucket/prefix` (endpoint, region, credentials and plain HTTP
    /// from AWS_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP).
    /// Unset: in the database.
    #[arg(
        long,
        env = "CROSSFOLD_ARTIFACTS",
        hide_env_values = true,
        help_heading = "Database and logs"
    )]
    artifacts: Option<String>,
}

/// What the training and serving commands use: the database, the artifacts and the logs.
#[derive(Debug, Args)]
struct StoreArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    artifacts: ArtifactArgs,
    /// With --artifacts, collect unreferenced objects this often, in seconds (0: never; `crossfold
    /// gc` does it by hand).
    #[arg(
        long,
        env = "CROSSFOLD_GC_EVERY_SECS",
        default_value_t = 3600,
        help_heading = "Database and logs"
    )]
    gc_every_secs: u64,
}

/// The HTTP server: address, auth, timeouts, and the limits of what requests may send.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP")]
struct HttpArgs {
    /// Address to listen on.
    #[arg(long, env = "CROSSFOLD_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// API token clients must send as `Authorization: Bearer <token>`; repeat the flag, or
    /// give several comma-separated in the environment variable. None: auth is off.
    #[arg(
        long = "api-token",
        env = "CROSSFOLD_API_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_tokens: Vec<String>,
    /// Listen on a non-loopback address without API tokens (anyone who can reach it can use it).
    #[arg(long, env = "CROSSFOLD_ALLOW_UNAUTHENTICATED")]
    allow_unauthenticated: bool,
    /// Seconds a client has to send its request headers; then the connection is closed.
    #[arg(long, env = "CROSSFOLD_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Longest pause in a request body, in seconds; then the request is a 408.
    #[arg(long, env = "CROSSFOLD_BODY_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    body_idle_timeout_secs: u64,
    /// Longest a whole request body may take, in seconds; then the request is a 408.
    #[arg(long, env = "CROSSFOLD_BODY_TIMEOUT_SECS", default_value_t = 600)]
    body_timeout_secs: u64,
    /// Largest dataset upload, in bytes [default: 512 MiB].
    #[arg(long, env = "CROSSFOLD_MAX_BODY_BYTES")]
    max_body_bytes: Option<u64>,
    /// Largest body of the other routes, in bytes [default: 2 MiB].
    #[arg(long, env = "CROSSFOLD_MAX_JSON_BODY_BYTES")]
    max_json_body_bytes: Option<u64>,
    /// Most rows in a dataset [default: 10,000,000].
    #[arg(long, env = "CROSSFOLD_MAX_ROWS")]
    max_rows: Option<u64>,
    /// Most columns in a dataset [default: 10,000].
    #[arg(long, env = "CROSSFOLD_MAX_COLUMNS")]
    max_columns: Option<u64>,
    /// Most cells (rows × columns) in a dataset [default: 250,000,000].
    #[arg(long, env = "CROSSFOLD_MAX_CELLS")]
    max_cells: Option<u64>,
    /// Most classes of a label column [default: 1,000].
    #[arg(long, env = "CROSSFOLD_MAX_CLASSES")]
    max_classes: Option<u64>,
    /// Most steps of one sequence in a sequence dataset [default: 10,000].
    #[arg(long, env = "CROSSFOLD_MAX_SEQUENCE_STEPS")]
    max_sequence_steps: Option<u64>,
    /// Most distinct values of a one-hot encoded feature [default: 1,000].
    #[arg(long, env = "CROSSFOLD_MAX_CATEGORIES")]
    max_categories: Option<u64>,
    /// Most memory one job may need by its estimate, in bytes [default: a quarter of the
    /// machine's memory].
    #[arg(long, env = "CROSSFOLD_MAX_JOB_MEMORY_BYTES")]
    max_job_memory_bytes: Option<u64>,
    /// Most model inputs after one-hot encoding [default: 65,536].
    #[arg(long, env = "CROSSFOLD_MAX_ENCODED_WIDTH")]
    max_encoded_width: Option<u64>,
    /// Most rows in one predict request [default: 10,000].
    #[arg(long, env = "CROSSFOLD_MAX_PREDICT_ROWS")]
    max_predict_rows: Option<u64>,
    /// Most `/events` streams open at once [default: 64].
    #[arg(long, env = "CROSSFOLD_MAX_EVENT_STREAMS")]
    max_event_streams: Option<u64>,
    /// Attempts a run gets before it fails for good [default: 3].
    #[arg(long, env = "CROSSFOLD_MAX_ATTEMPTS")]
    max_attempts: Option<u64>,
}

/// Training: how many runs at once, how often progress is written.
#[derive(Debug, Args)]
#[command(next_help_heading = "Training")]
struct TrainingArgs {
    /// Concurrent training runs [default: the number of cores].
    #[arg(long, env = "CROSSFOLD_WORKERS")]
    workers: Option<usize>,
    /// Cores this node's runs compute on: a run alone widens to all of them, runs side by side
    /// split them; results do not depend on it [default: the number of cores].
    #[arg(long, env = "CROSSFOLD_CORES")]
    cores: Option<usize>,
    /// A running run writes its epochs and newest checkpoint at most this often, in ms: a crash
    /// costs at most this much training (0: every epoch).
    #[arg(long, env = "CROSSFOLD_CHECKPOINT_EVERY_MS", default_value_t = 200)]
    checkpoint_every_ms: u64,
    /// Largest checkpoint a run may store, in bytes [default: 1,000,000,000, SQLite's limit].
    #[arg(long, env = "CROSSFOLD_MAX_CHECKPOINT_BYTES")]
    max_checkpoint_bytes: Option<u64>,
    /// On PostgreSQL, wake idle workers and event streams by LISTEN/NOTIFY (`off`: poll only,
    /// for a pooler in transaction mode).
    #[arg(long, env = "CROSSFOLD_NOTIFY", default_value = "on", value_parser = ["on", "off"])]
    notify: String,
    /// Where workers keep the datasets their runs read, keyed by content: a directory, or `off`
    /// [default: on PostgreSQL $XDG_CACHE_HOME/crossfold/datasets (or ~/.cache/…); on SQLite
    /// off, the database being a local file already].
    #[arg(long, env = "CROSSFOLD_DATASET_CACHE")]
    dataset_cache: Option<String>,
    /// Most datasets the cache keeps on disk, in MiB (the least recently read go first).
    #[arg(long, env = "CROSSFOLD_DATASET_CACHE_MB", default_value_t = 2048)]
    dataset_cache_mb: u64,
    /// Tests only: a pause after each epoch, in ms, so a test can act mid-run on any machine.
    #[arg(long, hide = true, default_value_t = 0)]
    test_epoch_pause_ms: u64,
    /// Tests only: the lease a claim holds without a heartbeat, in ms [default: 30 s].
    #[arg(long, hide = true)]
    test_lease_ms: Option<u64>,
}

/// What a spec may ask for: checked at submit, and by workers before they offer a remedy.
#[derive(Debug, Args)]
#[command(next_help_heading = "Spec limits")]
struct SpecLimitArgs {
    /// Widest hidden layer a training spec may ask for [default: 4,096].
    #[arg(long, env = "CROSSFOLD_MAX_LAYER_WIDTH")]
    max_layer_width: Option<u64>,
    /// Most hidden layers a training spec may ask for [default: 64].
    #[arg(long, env = "CROSSFOLD_MAX_HIDDEN_LAYERS")]
    max_hidden_layers: Option<u64>,
    /// Most epochs a training spec may ask for [default: 10,000].
    #[arg(long, env = "CROSSFOLD_MAX_EPOCHS")]
    max_epochs: Option<u64>,
    /// Most cross-validation folds a training spec may ask for [default: 50].
    #[arg(long, env = "CROSSFOLD_MAX_FOLDS")]
    max_folds: Option<u64>,
}

impl SpecLimitArgs {
    /// `limits` with these set.
    fn apply(&self, limits: &mut Limits) {
        let d = Limits::default();
        limits.max_layer_width = self.max_layer_width.unwrap_or(d.max_layer_width);
        limits.max_hidden_layers = self.max_hidden_layers.unwrap_or(d.max_hidden_layers);
        limits.max_epochs = self.max_epochs.unwrap_or(d.max_epochs);
        limits.max_folds = self.max_folds.unwrap_or(d.max_folds);
    }
}

impl TrainingArgs {
    /// The dataset cache `--dataset-cache` asks for, or the backend's default.
    fn dataset_cache(&self, database_url: &str) -> Option<crossfold::config::DatasetCacheSettings> {
        let dir = match self.dataset_cache.as_deref() {
            Some("off") => return None,
            Some(dir) => std::path::PathBuf::from(dir),
            None if crossfold::config::is_postgres_url(database_url) => {
                let home =
                    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache"));
                let cache = std::env::var_os("XDG_CACHE_HOME").map(std::path::PathBuf::from);
                cache
                    .or(home)
                    .unwrap_or_else(std::env::temp_dir)
                    .join("crossfold/datasets")
            }
            None => return None,
        };
        Some(crossfold::config::DatasetCacheSettings {
            dir,
            max_bytes: self.dataset_cache_mb.saturating_mul(1 << 20),
        })
    }
}

impl HttpArgs {
    /// `limits` with the request limits set.
    fn apply(&self, limits: &mut Limits) {
        let d = Limits::default();
        limits.max_body_bytes = self.max_body_bytes.unwrap_or(d.max_body_bytes);
        limits.max_json_body_bytes = self.max_json_body_bytes.unwrap_or(d.max_json_body_bytes);
        limits.max_rows = self.max_rows.unwrap_or(d.max_rows);
        limits.max_columns = self.max_columns.unwrap_or(d.max_columns);
        limits.max_cells = self.max_cells.unwrap_or(d.max_cells);
        limits.max_classes = self.max_classes.unwrap_or(d.max_classes);
        limits.max_sequence_steps = self.max_sequence_steps.unwrap_or(d.max_sequence_steps);
        limits.max_categories = self.max_categories.unwrap_or(d.max_categories);
        limits.max_job_memory_bytes = self.max_job_memory_bytes.unwrap_or(d.max_job_memory_bytes);
        limits.max_encoded_width = self.max_encoded_width.unwrap_or(d.max_encoded_width);
        limits.max_predict_rows = self.max_predict_rows.unwrap_or(d.max_predict_rows);
        limits.max_event_streams = self.max_event_streams.unwrap_or(d.max_event_streams);
        limits.max_attempts = self.max_attempts.unwrap_or(d.max_attempts);
    }

    fn timeouts(&self) -> crossfold::http::serve::HttpTimeouts {
        crossfold::http::serve::HttpTimeouts {
            header_read: std::time::Duration::from_secs(self.header_timeout_secs),
            body_idle: std::time::Duration::from_secs(self.body_idle_timeout_secs),
            body_deadline: std::time::Duration::from_secs(self.body_timeout_secs),
            ..Default::default()
        }
    }
}

/// Settings of the parts a command runs; what it does not run keeps its defaults.
fn settings(
    database: &DatabaseArgs,
    training: Option<(&TrainingArgs, &SpecLimitArgs)>,
    http: Option<&HttpArgs>,
) -> Settings {
    let workers = training
        .and_then(|(t, _)| t.workers)
        .unwrap_or_else(default_workers);
    let mut limits = Limits::default();
    let mut queue = crossfold::queue::QueueTiming::default();
    if let Some((t, specs)) = training {
        specs.apply(&mut limits);
        limits.max_checkpoint_bytes = t
            .max_checkpoint_bytes
            .unwrap_or(limits.max_checkpoint_bytes);
        queue.write_every = std::time::Duration::from_millis(t.checkpoint_every_ms);
        queue.notify = t.notify == "on";
        queue.epoch_pause = std::time::Duration::from_millis(t.test_epoch_pause_ms);
        if let Some(ms) = t.test_lease_ms {
            queue.lease = std::time::Duration::from_millis(ms);
        }
    }
    limits.max_concurrent_runs = workers as u64;
    let mut settings = Settings {
        addr: String::new(),
        database_url: database.database_url.clone(),
        artifacts_url: None,
        gc_every: None,
        dataset_cache: training.and_then(|(t, _)| t.dataset_cache(&database.database_url)),
        workers,
        cores: training
            .and_then(|(t, _)| t.cores)
            .unwrap_or_else(default_workers),
        api_tokens: Vec::new(),
        allow_unauthenticated: false,
        limits,
        queue,
        http: Default::default(),
    };
    if let Some(h) = http {
        h.apply(&mut settings.limits);
        settings.addr = h.addr.clone();
        settings.api_tokens = h.api_tokens.clone();
        settings.allow_unauthenticated = h.allow_unauthenticated;
        settings.http = h.timeouts();
    }
    settings
}

impl Command {
    fn log_format(&self) -> LogFormat {
        match self {
            Command::Serve(a) => a.store.database.log.log_format,
            Command::Worker(a) => a.store.database.log.log_format,
            Command::Migrate(a) => a.log.log_format,
            Command::Copy(a) => a.log.log_format,
            Command::Gc(a) => a.database.log.log_format,
        }
    }

    fn settings(&self) -> Settings {
        match self {
            Command::Serve(a) => {
                let s = settings(
                    &a.store.database,
                    Some((&a.training, &a.specs)),
                    Some(&a.http),
                );
                a.store.apply(s)
            }
            Command::Worker(a) => {
                let s = settings(&a.store.database, Some((&a.training, &a.specs)), None);
                a.store.apply(s)
            }
            Command::Migrate(a) => settings(a, None, None),
            Command::Gc(a) => Settings {
                artifacts_url: a.artifacts.artifacts.clone(),
                ..settings(&a.database, None, None)
            },
            Command::Copy(a) => {
                let database = DatabaseArgs {
                    database_url: a.from.clone(),
                    log: LogArgs {
                        log_format: a.log.log_format,
                    },
                };
                Settings {
                    artifacts_url: a.artifacts.artifacts.clone(),
                    ..settings(&database, None, None)
                }
            }
        }
    }
}

impl StoreArgs {
    /// `settings` with the artifact store and its collection set.
    fn apply(&self, settings: Settings) -> Settings {
        let every = std::time::Duration::from_secs(self.gc_every_secs);
        Settings {
            artifacts_url: self.artifacts.artifacts.clone(),
            gc_every: Some(every).filter(|d| !d.is_zero()),
            ..settings
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    telemetry::init(command.log_format());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = command.settings();
    match runtime.block_on(run(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => {
            let app = Application::build(settings).await?;
            stop_on_signal(app.shutdown_token())?;
            app.run_until_stopped().await
        }
        Command::Migrate(_) => {
            let pool = crossfold::store::connect(&settings.database_url).await?;
            crossfold::store::migrate(&pool).await?;
            pool.close().await;
            let url = crossfold::config::redacted_url(&settings.database_url);
            println!("migrations applied to {url}");
            Ok(())
        }
        Command::Copy(args) => copy(&args.from, &args.to, settings.artifacts_url.as_deref()).await,
        Command::Gc(args) => gc(&settings, args.min_age_secs).await,
        Command::Worker(args) => {
            settings.validate_training()?;
            anyhow::ensure!(
                settings.workers > 0,
                "a worker needs --workers of at least 1"
            );
            let pool = crossfold::startup::open_store(&settings).await?;
            crossfold::store::migrate(&pool).await?;
            let token = CancellationToken::new();
            stop_on_signal(token.clone())?;
            let probes = match &args.addr {
                Some(addr) => Some(probes(addr, &pool, token.clone()).await?),
                None => None,
            };
            tracing::info!(workers = settings.workers, "crossfold worker claiming runs");
            // Other nodes may be training: only expired leases are reaped here.
            let wake = match settings.queue.notify {
                true => crossfold::store::wake_ups(&pool, token.clone()),
                false => None,
            };
            crossfold::startup::run_workers(&pool, &settings, wake, token).await;
            if let Some(probes) = probes {
                let _ = probes.await;
            }
            pool.close().await;
            Ok(())
        }
    }
}

/// Binds `addr` and serves a worker's probes there until `shutdown`.
async fn probes(
    addr: &str,
    pool: &crossfold::store::Db,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "crossfold worker probes listening");
    let router =
        crossfold::http::probes::router(pool.clone(), crossfold::http::metrics::recorder());
    Ok(tokio::spawn(crossfold::http::probes::serve(
        listener, router, shutdown,
    )))
}

/// Cancels `token` on SIGINT or SIGTERM. The handlers are registered before this returns,
/// so a signal that arrives right after start-up is never missed (or fatal).
fn stop_on_signal(token: CancellationToken) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutdown signal received; finishing in-flight requests");
            token.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        token.cancel();
    });
    Ok(())
}

/// `crossfold copy`: migrates the target, copies, and prints each table's rows and checksum.
async fn copy(from: &str, to: &str, artifacts: Option<&str>) -> anyhow::Result<()> {
    use crossfold::config::redacted_url;
    let source = crossfold::store::open(from, artifacts).await?;
    let target = crossfold::store::open(to, artifacts).await?;
    crossfold::store::migrate(&target).await?;
    let copied = crossfold::store::copy::copy(&source, &target).await?;
    for (table, rows, sha256) in &copied.tables {
        println!("{table:<18} {rows:>9} rows  sha256 {sha256}");
    }
    if let Some(objects) = copied.objects {
        println!("{objects} objects in the artifact store, every one present");
    }
    println!(
        "copied {} to {}: every table's rows and checksum match",
        redacted_url(from),
        redacted_url(to)
    );
    source.close().await;
    target.close().await;
    Ok(())
}

/// `crossfold gc`: one collection, reported.
async fn gc(settings: &Settings, min_age_secs: u64) -> anyhow::Result<()> {
    let artifacts = settings.artifacts_url.as_deref();
    anyhow::ensure!(
        artifacts.is_some(),
        "gc needs --artifacts (the object store to collect)"
    );
    let db = crossfold::store::open(&settings.database_url, artifacts).await?;
    crossfold::store::migrate(&db).await?;
    let min_age = std::time::Duration::from_secs(min_age_secs);
    let c = crossfold::store::gc::collect(&db, min_age).await?;
    db.close().await;
    println!(
        "{} objects listed, {} deleted, {} without a pointer kept (younger than {min_age_secs} s)",
        c.listed, c.deleted, c.young
    );
    anyhow::ensure!(
        c.dangling.is_empty(),
        "{} pointers name a missing object: {}",
        c.dangling.len(),
        c.dangling.join(", ")
    );
    Ok(())
}
