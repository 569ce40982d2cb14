//! Settings and limits, validated at start-up. No I/O beyond resolving the listen address.

use std::net::{SocketAddr, ToSocketAddrs};

use serde::Serialize;

/// Everything `Application::build` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server binds to (`127.0.0.1:0` in tests).
    pub addr: String,
    /// `sqlite://path` (created if needed) or `postgres://…`; migrated on start.
    pub database_url: String,
    /// `file:///dir` or `s3://bucket/prefix`: where checkpoints, ensemble members and held-out
    /// predictions go. `None`: into the database.
    pub artifacts_url: Option<String>,
    /// How often a process with an object store collects unreferenced objects (`None`: never).
    pub gc_every: Option<std::time::Duration>,
    /// Where workers keep the datasets their runs read (`None`: each run reads the database).
    pub dataset_cache: Option<DatasetCacheSettings>,
    /// Concurrent training runs (used by the job queue).
    pub workers: usize,
    /// Cores this node's runs compute on, shared among the runs training at the moment.
    pub cores: usize,
    /// Bearer tokens accepted on every route but `/healthz` and `/readyz`; empty = no auth.
    pub api_tokens: Vec<String>,
    /// Listen on a non-loopback address without tokens.
    pub allow_unauthenticated: bool,
    /// The limits in force.
    pub limits: Limits,
    /// Lease, poll and retry timing of the job queue.
    pub queue: crate::queue::QueueTiming,
    /// How long the HTTP server waits for slow clients.
    pub http: crate::http::serve::HttpTimeouts,
}

/// A worker's dataset cache (`store::dataset_cache`): its directory and size bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetCacheSettings {
    pub dir: std::path::PathBuf,
    pub max_bytes: u64,
}

/// Limits that keep a request from exhausting the machine; reported by `GET /v1/limits`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Limits {
    /// Largest dataset upload body, in bytes (default 512 MiB).
    pub max_body_bytes: u64,
    /// Largest body of every other route, in bytes (default 2 MiB).
    pub max_json_body_bytes: u64,
    /// Most data rows in one dataset.
    pub max_rows: u64,
    /// Most columns (label included) in one dataset.
    pub max_columns: u64,
    /// Most cells (rows × columns) in one dataset, which bounds its memory (4 bytes a cell).
    pub max_cells: u64,
    /// Most distinct values of a label column.
    pub max_classes: u64,
    /// Most steps of one sequence in a sequence dataset (all its values count toward
    /// `max_cells`).
    pub max_sequence_steps: u64,
    /// Most distinct values of a categorical feature that is one-hot encoded for training.
    pub max_categories: u64,
    /// Widest hidden layer a spec may ask for.
    pub max_layer_width: u64,
    /// Most hidden layers a spec may ask for.
    pub max_hidden_layers: u64,
    /// Most epochs a spec may ask for.
    pub max_epochs: u64,
    /// Most cross-validation folds a spec may ask for.
    pub max_folds: u64,
    /// Concurrent training runs on this node (the `--workers` setting).
    pub max_concurrent_runs: u64,
    /// Most memory one job may need by the estimate made before it is queued (every concurrent
    /// run's model, optimizer state, encoded rows and checkpoint), in bytes.
    pub max_job_memory_bytes: u64,
    /// Most model inputs after one-hot encoding (the sum of numeric columns and categories).
    pub max_encoded_width: u64,
    /// Most rows in one predict request (and at most 1,000,000 probabilities: rows × classes).
    pub max_predict_rows: u64,
    /// Most `/events` streams open at once on this node.
    pub max_event_streams: u64,
    /// Largest checkpoint a run may store (SQLite keeps at most 1 GB in one value).
    pub max_checkpoint_bytes: u64,
    /// Attempts a run gets when its process crashes or a write fails (bad input and divergence
    /// fail at once); set on each run when its job is created.
    pub max_attempts: u64,
}

/// Most probabilities (rows × classes) one predict response carries.
pub const MAX_PREDICT_PROBABILITIES: u64 = 1_000_000;

/// A quarter of the machine's memory (2 GiB where it cannot be read): the default job budget.
pub fn default_job_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    total.map_or(2 << 30, |t| t / 4)
}

impl Limits {
    /// No size limit on what a spec may ask for (the rules of what is trainable still apply).
    pub fn unbounded() -> Self {
        Self {
            max_epochs: u64::MAX,
            max_folds: u64::MAX,
            max_hidden_layers: u64::MAX,
            max_layer_width: u64::MAX,
            ..Self::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 512 * 1024 * 1024,
            max_json_body_bytes: 2 * 1024 * 1024,
            max_rows: 10_000_000,
            max_columns: 10_000,
            max_cells: 250_000_000,
            max_classes: 1_000,
            max_sequence_steps: 10_000,
            max_categories: 1_000,
            max_layer_width: 4_096,
            max_hidden_layers: 64,
            max_epochs: 10_000,
            max_folds: 50,
            max_concurrent_runs: default_workers() as u64,
            max_job_memory_bytes: default_job_memory(),
            max_encoded_width: 65_536,
            max_predict_rows: 10_000,
            max_event_streams: 64,
            max_checkpoint_bytes: 1_000_000_000,
            max_attempts: 3,
        }
    }
}

/// Whether a database URL names PostgreSQL (anything else is a SQLite file).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with its password (in the user part or a `password=` parameter) replaced by `***`:
/// what logs and messages show of a database URL.
pub fn redacted_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}:***@{host}")
        }
        _ => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        None => tail.to_owned(),
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
    };
    match scheme {
        "" => format!("{authority}{tail}"),
        s => format!("{s}://{authority}{tail}"),
    }
}

/// The number of cores, the default for `--workers` and `--cores`.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Why the settings cannot be used; printed before the process exits non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("--addr {addr:?} is not a host:port address: {reason}")]
    BadAddress { addr: String, reason: String },
    #[error(
        "refusing to listen on {addr} (not a loopback address) without API tokens: anyone who can \
         reach it could use the service. Set --api-token / CROSSFOLD_API_TOKENS, listen on \
         127.0.0.1, or pass --allow-unauthenticated if this is really intended"
    )]
    UnauthenticatedPublicAddress { addr: String },
    #[error("--database must be a sqlite:// or postgres:// URL, got {0:?}")]
    BadDatabaseUrl(String),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("an API token is empty (check for a stray comma in CROSSFOLD_API_TOKENS)")]
    EmptyToken,
}

impl Settings {
    /// Checks the settings as a whole, so a bad deployment fails at start, not at first use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_training()?;
        let addrs = resolve(&self.addr)?;
        if self.api_tokens.is_empty()
            && !self.allow_unauthenticated
            && addrs.iter().any(|a| !a.ip().is_loopback())
        {
            return Err(ConfigError::UnauthenticatedPublicAddress {
                addr: self.addr.clone(),
            });
        }
        Ok(())
    }

    /// What a process without the HTTP API (`crossfold worker`) checks: the database URL and
    /// the limits.
    pub fn validate_training(&self) -> Result<(), ConfigError> {
        let url = &self.database_url;
        if !url.starts_with("sqlite:") && !is_postgres_url(url) {
            return Err(ConfigError::BadDatabaseUrl(redacted_url(
                &self.database_url,
            )));
        }
        if self.api_tokens.iter().any(|t| t.is_empty()) {
            return Err(ConfigError::EmptyToken);
        }
        let l = &self.limits;
        for (name, v) in [
            ("--max-body-bytes", l.max_body_bytes),
            ("--max-json-body-bytes", l.max_json_body_bytes),
            ("--max-rows", l.max_rows),
            ("--max-columns", l.max_columns),
            ("--max-cells", l.max_cells),
            ("--max-classes", l.max_classes),
            ("--max-sequence-steps", l.max_sequence_steps),
            ("--max-job-memory-bytes", l.max_job_memory_bytes),
            ("--max-encoded-width", l.max_encoded_width),
            ("--max-predict-rows", l.max_predict_rows),
            ("--max-event-streams", l.max_event_streams),
            ("--max-checkpoint-bytes", l.max_checkpoint_bytes),
            ("--max-attempts", l.max_attempts),
            ("--cores", self.cores as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(())
    }
}

/// Resolves `host:port` to the addresses it names.
pub fn resolve(addr: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    let bad = |reason: String| ConfigError::BadAddress {
        addr: addr.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(bad("it resolves to no address".into()));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_database_urls_password_never_shows() {
        for (url, shown) in [
            ("sqlite://crossfold.db", "sqlite://crossfold.db"),
            (
                "postgres://cf:s3cret@db:5432/cf",
                "postgres://cf:***@db:5432/cf",
            ),
            (
                "postgres://cf@db/cf?sslmode=require",
                "postgres://cf@db/cf?sslmode=require",
            ),
            (
                "postgres://db/cf?user=cf&password=s3cret&sslmode=verify-full",
                "postgres://db/cf?user=cf&password=***&sslmode=verify-full",
            ),
            ("postgres://a:b:c@h", "postgres://a:***@h"),
        ] {
            assert_eq!(redacted_url(url), shown);
            assert!(!redacted_url(url).contains("s3cret"));
        }
    }

    use super::*;

    fn settings(addr: &str) -> Settings {
        Settings {
            addr: addr.into(),
            database_url: "sqlite://x.db".into(),
            artifacts_url: None,
            gc_every: None,
            dataset_cache: None,
            workers: 1,
            cores: default_workers(),
            api_tokens: vec![],
            allow_unauthenticated: false,
            limits: Limits::default(),
            queue: Default::default(),
            http: Default::default(),
        }
    }

    #[test]
    fn zero_cores_is_refused_naming_the_flag() {
        let mut s = settings("127.0.0.1:0");
        s.cores = 0;
        let e = s.validate_training().unwrap_err();
        assert_eq!(e.to_string(), "--cores must be at least 1");
    }

    #[test]
    fn a_public_address_without_tokens_is_refused() {
        let err = settings("0.0.0.0:8080").validate().unwrap_err();
        assert!(matches!(
            err,
            ConfigError::UnauthenticatedPublicAddress { .. }
        ));
        assert!(err.to_string().contains("--allow-unauthenticated"));
    }

    #[test]
    fn a_public_address_is_allowed_with_a_token_or_an_explicit_flag() {
        let mut s = settings("0.0.0.0:8080");
        s.api_tokens = vec!["secret".into()];
        s.validate().unwrap();
        let mut s = settings("0.0.0.0:8080");
        s.allow_unauthenticated = true;
        s.validate().unwrap();
    }

    #[test]
    fn loopback_addresses_need_no_token() {
        settings("127.0.0.1:8080").validate().unwrap();
        settings("[::1]:8080").validate().unwrap();
        settings("localhost:0").validate().unwrap();
    }

    #[test]
    fn an_empty_token_is_rejected() {
        let mut s = settings("127.0.0.1:0");
        s.api_tokens = vec!["a".into(), String::new()];
        assert!(matches!(s.validate(), Err(ConfigError::EmptyToken)));
    }
}
