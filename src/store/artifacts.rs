//! Artifacts in an object store: a run's checkpoints, ensemble members and held-out
//! predictions, through the `object_store` crate (`file:///dir`, or `s3://bucket/prefix` with
//! endpoint, region, credentials and plain HTTP from the usual `AWS_*` variables). The database
//! holds each object's key (its pointer); an object is written before its pointer is committed
//! under the run's lease, so a pointer always names a whole object, and an object whose writer
//! lost its lease has no pointer and is collected (`super::gc`). Keys name the run and the
//! attempt's lease token, so two attempts of one run never write the same key.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// How long one object store call may take, retries included, before the run fails
/// retryably (a stopped store must not hang a worker).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A blob as the database holds it: its bytes, or the key of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    Inline(Vec<u8>),
    Object(String),
}

/// A blob about to be written: its bytes into the database, or the key of the object already
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored<'a> {
    Inline(&'a [u8]),
    Object(String),
}

impl Stored<'_> {
    /// What the blob column holds (`None` for an object).
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Stored::Inline(b) => Some(b),
            Stored::Object(_) => None,
        }
    }

    /// What the key column holds (`None` for bytes in the database).
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            Stored::Inline(_) => None,
            Stored::Object(k) => Some(k),
        }
    }
}

impl Blob {
    /// The blob a row holds in `bytes` and `key` columns (`None`: neither is set).
    pub(crate) fn from_columns(bytes: Option<Vec<u8>>, key: Option<String>) -> Option<Blob> {
        match (key, bytes) {
            (Some(key), _) => Some(Blob::Object(key)),
            (None, Some(bytes)) => Some(Blob::Inline(bytes)),
            (None, None) => None,
        }
    }
}

/// The object store this process's artifacts go to.
#[derive(Debug, Clone)]
pub struct Artifacts {
    store: Arc<dyn ObjectStore>,
    url: String,
    /// Why the last call failed, until one succeeds (`/readyz` reports it).
    fault: Arc<Mutex<Option<String>>>,
}

/// Why an object store call failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The store could not be reached or did not answer: the run that met it fails retryably,
    /// a request that met it is a 503.
    #[error("the artifact store {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// The store answered that the object is not there.
    #[error("the artifact {key} is missing from {url}")]
    Missing { url: String, key: String },
}

impl Artifacts {
    /// Opens `file:///dir` (created if needed) or `s3://bucket/prefix`.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let store: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?)
        } else if let Some(rest) = url.strip_prefix("s3://") {
            s3(url, rest)?
        } else {
            anyhow::bail!(
                "--artifacts must be file:///dir or s3://bucket/prefix, not {:?}",
                redacted(url)
            );
        };
        Ok(Self {
            store,
            url: redacted(url),
            fault: Arc::default(),
        })
    }

    /// The store's URL (it holds no credentials: those come from the environment).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Why the store could not be reached last time, until a call succeeds again.
    pub fn fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Lists the store's root: whether it answers now.
    pub async fn check(&self) -> Result<(), ArtifactError> {
        self.call(self.store.list_with_delimiter(None))
            .await
            .map(drop)
    }

    /// Writes `bytes` at `key`.
    pub(crate) async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ArtifactError> {
        let payload = PutPayload::from(bytes);
        self.call(self.store.put(&Path::from(key), payload))
            .await
            .map(drop)
    }

    /// The object at `key`; an error if it is missing (a pointer without its object).
    pub async fn get(&self, key: &str) -> anyhow::Result<Vec<u8>> {
        let path = Path::from(key);
        let got = self
            .call(async { self.store.get(&path).await?.bytes().await })
            .await?;
        Ok(got.to_vec())
    }

    /// Deletes `key`; a missing object is not an error (another collector was first).
    pub(crate) async fn delete(&self, key: &str) -> Result<(), ArtifactError> {
        match self.call(self.store.delete(&Path::from(key))).await {
            Err(ArtifactError::Missing { .. }) => Ok(()),
            other => other,
        }
    }

    /// Every object under `prefix`, with its age in seconds.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, i64)>, ArtifactError> {
        let now = unix_seconds();
        let listing = async {
            let mut stream = self.store.list(Some(&Path::from(prefix)));
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta?;
                let age = now - meta.last_modified.timestamp();
                out.push((meta.location.to_string(), age));
            }
            Ok(out)
        };
        self.call(listing).await
    }

    /// Runs one call with the timeout, noting whether the store answered.
    async fn call<T>(
        &self,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T, ArtifactError> {
        let outcome = tokio::time::timeout(CALL_TIMEOUT, call).await;
        let mut fault = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        let reason = match outcome {
            Ok(Ok(v)) => {
                *fault = None;
                return Ok(v);
            }
            // A missing object is an answer: the store is reachable.
            Ok(Err(object_store::Error::NotFound { path, .. })) => {
                *fault = None;
                return Err(ArtifactError::Missing {
                    url: self.url.clone(),
                    key: path,
                });
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer in {} s", CALL_TIMEOUT.as_secs()),
        };
        *fault = Some(reason.clone());
        Err(ArtifactError::Unreachable {
            url: self.url.clone(),
            reason,
        })
    }
}

/// What an `s3://` URL's query may set, besides the `AWS_*` variables. Secrets among them
/// never show: `Artifacts::url` and every message carry the URL with them masked.
const S3_URL_OPTIONS: &[(&str, &str)] = &[
    ("endpoint", "aws_endpoint"),
    ("region", "aws_region"),
    ("allow_http", "aws_allow_http"),
    ("skip_signature", "aws_skip_signature"),
    ("access_key_id", "aws_access_key_id"),
    ("secret_access_key", "aws_secret_access_key"),
    ("session_token", "aws_session_token"),
];

/// The query options whose values are secrets.
const SECRET_OPTIONS: &[&str] = &["secret_access_key", "session_token"];

/// `url` with the values of secret options masked.
fn redacted(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if SECRET_OPTIONS.contains(&k) => format!("{k}=***"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

/// An S3 store from `s3://bucket/prefix[?endpoint=…&region=…&allow_http=true]` and the
/// `AWS_*` variables (the URL's options win), with bounded retries.
fn s3(url: &str, rest: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    anyhow::ensure!(!bucket.is_empty(), "{:?} names no bucket", redacted(url));
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: CALL_TIMEOUT,
    };
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5 seconds",
        );
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, "true"));
        let Some((_, key)) = S3_URL_OPTIONS.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = S3_URL_OPTIONS.iter().map(|o| o.0).collect();
            anyhow::bail!("--artifacts: unknown option {name:?} (known: {known:?})");
        };
        builder = builder.with_config(key.parse()?, value);
    }
    let store = builder
        .build()
        .with_context(|| format!("opening the artifact store {}", redacted(url)))?;
    let prefix = prefix.trim_matches('/');
    Ok(match prefix {
        "" => Arc::new(store),
        p => Arc::new(object_store::prefix::PrefixStore::new(store, p)),
    })
}

/// Seconds since the Unix epoch, to age listed objects by.
fn unix_seconds() -> i64 {
    crate::domain::ids::now_millis() / 1000
}

/// The key of a run's artifact under the attempt holding lease `token`: `what` is
/// `checkpoint-…`, `member-N`, `final` or `heldout`.
pub(crate) fn key(run_id: &str, token: i64, what: &str) -> String {
    format!("runs/{run_id}/{token}/{what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_are_written_read_listed_and_deleted_under_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Artifacts::open(&format!("file://{}", dir.path().display())).unwrap();
        let k = key("run_1", 3, "final");
        assert_eq!(k, "runs/run_1/3/final");
        store.put(&k, vec![1, 2, 3]).await.unwrap();
        assert_eq!(store.get(&k).await.unwrap(), vec![1, 2, 3]);
        let listed = store.list("runs").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, k);
        assert!(listed[0].1 <= 1, "a new object is seconds old: {listed:?}");
        store.delete(&k).await.unwrap();
        store.delete(&k).await.unwrap();
        let missing = store.get(&k).await.unwrap_err();
        assert!(format!("{missing:#}").contains("is missing"), "{missing:#}");
        assert_eq!(store.fault(), None, "a missing object is an answer");
    }

    #[test]
    fn secrets_in_an_s3_url_never_show() {
        let url =
            "s3://b/p?endpoint=http://h:1&access_key_id=AK&secret_access_key=SK&session_token=ST";
        let store = Artifacts::open(url).unwrap();
        assert_eq!(
            store.url(),
            "s3://b/p?endpoint=http://h:1&access_key_id=AK&secret_access_key=***&session_token=***"
        );
        let e = Artifacts::open("s3://b/p?secret_access_key=SK&colour=red").unwrap_err();
        assert!(
            !format!("{e:#}").contains("SK") && e.to_string().contains("colour"),
            "{e:#}"
        );
    }

    #[test]
    fn only_file_and_s3_urls_open() {
        let e = Artifacts::open("gs://bucket").unwrap_err();
        assert!(e.to_string().contains("file:///dir or s3://"), "{e}");
        assert!(Artifacts::open("s3:///prefix").is_err());
    }
}
