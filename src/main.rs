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
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API with in-process workers (the default).
    Serve,
    /// Run workers only, no HTTP, against the same database (for scale-out).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
}

#[derive(Debug, Args)]
struct Opts {
    /// Address to listen on.
    #[arg(
        long,
        env = "CROSSFOLD_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    addr: String,
    /// SQLite database URL; the file is created and migrated on start.
    #[arg(
        long = "database",
        env = "CROSSFOLD_DATABASE_URL",
        default_value = "sqlite://crossfold.db",
        global = true
    )]
    database_url: String,
    /// Concurrent training runs [default: the number of cores].
    #[arg(long, env = "CROSSFOLD_WORKERS", global = true)]
    workers: Option<usize>,
    /// A running run writes its epochs and newest checkpoint at most this often, in ms: a crash
    /// costs at most this much training (0: every epoch).
    #[arg(
        long,
        env = "CROSSFOLD_CHECKPOINT_EVERY_MS",
        default_value_t = 200,
        global = true
    )]
    checkpoint_every_ms: u64,
    /// API token clients must send as `Authorization: Bearer <token>`; repeat the flag, or
    /// give several comma-separated in the environment variable. None: auth is off.
    #[arg(
        long = "api-token",
        env = "CROSSFOLD_API_TOKENS",
        value_delimiter = ',',
        hide_env_values = true,
        global = true
    )]
    api_tokens: Vec<String>,
    /// Listen on a non-loopback address without API tokens (anyone who can reach it can use it).
    #[arg(long, env = "CROSSFOLD_ALLOW_UNAUTHENTICATED", global = true)]
    allow_unauthenticated: bool,
    /// Log format.
    #[arg(
        long,
        env = "CROSSFOLD_LOG_FORMAT",
        value_enum,
        default_value = "human",
        global = true
    )]
    log_format: LogFormat,
    /// Seconds a client has to send its request headers; then the connection is closed.
    #[arg(
        long,
        env = "CROSSFOLD_HEADER_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    header_timeout_secs: u64,
    /// Longest pause in a request body, in seconds; then the request is a 408.
    #[arg(
        long,
        env = "CROSSFOLD_BODY_IDLE_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    body_idle_timeout_secs: u64,
    /// Longest a whole request body may take, in seconds; then the request is a 408.
    #[arg(
        long,
        env = "CROSSFOLD_BODY_TIMEOUT_SECS",
        default_value_t = 600,
        global = true
    )]
    body_timeout_secs: u64,
    /// Largest dataset upload, in bytes [default: 512 MiB].
    #[arg(long, env = "CROSSFOLD_MAX_BODY_BYTES", global = true)]
    max_body_bytes: Option<u64>,
    /// Largest body of the other routes, in bytes [default: 2 MiB].
    #[arg(long, env = "CROSSFOLD_MAX_JSON_BODY_BYTES", global = true)]
    max_json_body_bytes: Option<u64>,
    /// Most rows in a dataset [default: 10,000,000].
    #[arg(long, env = "CROSSFOLD_MAX_ROWS", global = true)]
    max_rows: Option<u64>,
    /// Most columns in a dataset [default: 10,000].
    #[arg(long, env = "CROSSFOLD_MAX_COLUMNS", global = true)]
    max_columns: Option<u64>,
    /// Most cells (rows × columns) in a dataset [default: 250,000,000].
    #[arg(long, env = "CROSSFOLD_MAX_CELLS", global = true)]
    max_cells: Option<u64>,
    /// Most classes of a label column [default: 1,000].
    #[arg(long, env = "CROSSFOLD_MAX_CLASSES", global = true)]
    max_classes: Option<u64>,
    /// Most steps of one sequence in a sequence dataset [default: 10,000].
    #[arg(long, env = "CROSSFOLD_MAX_SEQUENCE_STEPS", global = true)]
    max_sequence_steps: Option<u64>,
    /// Most distinct values of a one-hot encoded feature [default: 1,000].
    #[arg(long, env = "CROSSFOLD_MAX_CATEGORIES", global = true)]
    max_categories: Option<u64>,
    /// Widest hidden layer a training spec may ask for [default: 4,096].
    #[arg(long, env = "CROSSFOLD_MAX_LAYER_WIDTH", global = true)]
    max_layer_width: Option<u64>,
    /// Most hidden layers a training spec may ask for [default: 64].
    #[arg(long, env = "CROSSFOLD_MAX_HIDDEN_LAYERS", global = true)]
    max_hidden_layers: Option<u64>,
    /// Most epochs a training spec may ask for [default: 10,000].
    #[arg(long, env = "CROSSFOLD_MAX_EPOCHS", global = true)]
    max_epochs: Option<u64>,
    /// Most cross-validation folds a training spec may ask for [default: 50].
    #[arg(long, env = "CROSSFOLD_MAX_FOLDS", global = true)]
    max_folds: Option<u64>,
    /// Most memory one job may need by its estimate, in bytes [default: a quarter of the
    /// machine's memory].
    #[arg(long, env = "CROSSFOLD_MAX_JOB_MEMORY_BYTES", global = true)]
    max_job_memory_bytes: Option<u64>,
    /// Most model inputs after one-hot encoding [default: 65,536].
    #[arg(long, env = "CROSSFOLD_MAX_ENCODED_WIDTH", global = true)]
    max_encoded_width: Option<u64>,
    /// Most rows in one predict request [default: 10,000].
    #[arg(long, env = "CROSSFOLD_MAX_PREDICT_ROWS", global = true)]
    max_predict_rows: Option<u64>,
    /// Most `/events` streams open at once [default: 64].
    #[arg(long, env = "CROSSFOLD_MAX_EVENT_STREAMS", global = true)]
    max_event_streams: Option<u64>,
    /// Largest checkpoint a run may store, in bytes [default: 1,000,000,000, SQLite's limit].
    #[arg(long, env = "CROSSFOLD_MAX_CHECKPOINT_BYTES", global = true)]
    max_checkpoint_bytes: Option<u64>,
    /// Attempts a run gets before it fails for good [default: 3].
    #[arg(long, env = "CROSSFOLD_MAX_ATTEMPTS", global = true)]
    max_attempts: Option<u64>,
    /// Tests only: a pause after each epoch, in ms, so a test can act mid-run on any machine.
    #[arg(long, hide = true, default_value_t = 0, global = true)]
    test_epoch_pause_ms: u64,
}

impl Opts {
    fn settings(self) -> Settings {
        let d = Limits::default();
        let workers = self.workers.unwrap_or_else(default_workers);
        Settings {
            addr: self.addr,
            database_url: self.database_url,
            workers,
            api_tokens: self.api_tokens,
            allow_unauthenticated: self.allow_unauthenticated,
            limits: Limits {
                max_body_bytes: self.max_body_bytes.unwrap_or(d.max_body_bytes),
                max_json_body_bytes: self.max_json_body_bytes.unwrap_or(d.max_json_body_bytes),
                max_rows: self.max_rows.unwrap_or(d.max_rows),
                max_columns: self.max_columns.unwrap_or(d.max_columns),
                max_cells: self.max_cells.unwrap_or(d.max_cells),
                max_classes: self.max_classes.unwrap_or(d.max_classes),
                max_sequence_steps: self.max_sequence_steps.unwrap_or(d.max_sequence_steps),
                max_categories: self.max_categories.unwrap_or(d.max_categories),
                max_layer_width: self.max_layer_width.unwrap_or(d.max_layer_width),
                max_hidden_layers: self.max_hidden_layers.unwrap_or(d.max_hidden_layers),
                max_epochs: self.max_epochs.unwrap_or(d.max_epochs),
                max_folds: self.max_folds.unwrap_or(d.max_folds),
                max_concurrent_runs: workers as u64,
                max_job_memory_bytes: self.max_job_memory_bytes.unwrap_or(d.max_job_memory_bytes),
                max_encoded_width: self.max_encoded_width.unwrap_or(d.max_encoded_width),
                max_predict_rows: self.max_predict_rows.unwrap_or(d.max_predict_rows),
                max_event_streams: self.max_event_streams.unwrap_or(d.max_event_streams),
                max_checkpoint_bytes: self.max_checkpoint_bytes.unwrap_or(d.max_checkpoint_bytes),
                max_attempts: self.max_attempts.unwrap_or(d.max_attempts),
            },
            queue: crossfold::queue::QueueTiming {
                write_every: std::time::Duration::from_millis(self.checkpoint_every_ms),
                epoch_pause: std::time::Duration::from_millis(self.test_epoch_pause_ms),
                ..Default::default()
            },
            http: crossfold::http::serve::HttpTimeouts {
                header_read: std::time::Duration::from_secs(self.header_timeout_secs),
                body_idle: std::time::Duration::from_secs(self.body_idle_timeout_secs),
                body_deadline: std::time::Duration::from_secs(self.body_timeout_secs),
                ..Default::default()
            },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.opts.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    match runtime.block_on(run(command, cli.opts.settings())) {
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
        Command::Serve => {
            let app = Application::build(settings).await?;
            stop_on_signal(app.shutdown_token())?;
            app.run_until_stopped().await
        }
        Command::Migrate => {
            let pool = crossfold::store::connect(&settings.database_url).await?;
            crossfold::store::migrate(&pool).await?;
            pool.close().await;
            println!("migrations applied to {}", settings.database_url);
            Ok(())
        }
        Command::Worker => {
            let pool = crossfold::store::connect(&settings.database_url).await?;
            crossfold::store::migrate(&pool).await?;
            let token = CancellationToken::new();
            stop_on_signal(token.clone())?;
            tracing::info!(workers = settings.workers, "crossfold worker claiming runs");
            // Other nodes may be training: only expired leases are reaped here.
            crossfold::startup::run_workers(&pool, &settings, token).await;
            pool.close().await;
            Ok(())
        }
    }
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
