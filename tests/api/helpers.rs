//! The test harness every API test uses: `TestApp::spawn()` starts the real application on port
//! 0 with its own SQLite file; `restart()` starts it again on the same file.

use std::path::Path;
use std::time::{Duration, Instant};

use crossfold::config::{Limits, Settings};
use crossfold::startup::Application;
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[path = "../../benches/support/postgres.rs"]
mod postgres;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: Client,
    pub settings: Settings,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the database file lives here.
    _dir: tempfile::TempDir,
}

/// Settings for a test: loopback, port 0, a fresh database file, default limits.
pub fn test_settings(db: &Path) -> Settings {
    Settings {
        addr: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}", db.display()),
        artifacts_url: None,
        gc_every: None,
        dataset_cache: None,
        workers: 1,
        // Tests run side by side in one process: a run keeps to one core.
        cores: 1,
        api_tokens: vec![],
        allow_unauthenticated: false,
        limits: Limits::default(),
        queue: crossfold::queue::QueueTiming {
            lease: std::time::Duration::from_secs(3),
            poll: std::time::Duration::from_millis(20),
            backoff: std::time::Duration::from_millis(50),
            ..Default::default()
        },
        http: Default::default(),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with adjusted settings (tokens, limits).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut settings = test_settings(&dir.path().join("crossfold.db"));
        adjust(&mut settings);
        let mut app = TestApp {
            address: String::new(),
            port: 0,
            client: Client::new(),
            settings,
            shutdown: CancellationToken::new(),
            server: None,
            _dir: dir,
        };
        app.start().await;
        app
    }

    async fn start(&mut self) {
        let application = Application::build(self.settings.clone())
            .await
            .expect("the application builds");
        self.port = application.port();
        self.address = format!("http://127.0.0.1:{}", self.port);
        self.shutdown = application.shutdown_token();
        self.server = Some(tokio::spawn(application.run_until_stopped()));
    }

    /// Stops the server gracefully and starts a new one on the same database file.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    /// Stops the server gracefully; `start_again` brings it back on the same database file.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task")
                .expect("a clean stop");
        }
    }

    /// Starts the server again after `stop` (on the same settings and database).
    pub async fn start_again(&mut self) {
        self.start().await;
    }

    /// A connection pool on the app's database file, to set up states a test cannot reach
    /// through the API (what a crash leaves behind).
    pub async fn database(&self) -> sqlx::SqlitePool {
        let db = crossfold::store::connect(&self.settings.database_url)
            .await
            .expect("the test database opens");
        db.as_sqlite().expect("a SQLite test database").clone()
    }

    /// The app's database, on whichever backend it is.
    pub async fn db(&self) -> crossfold::store::Db {
        let artifacts = self.settings.artifacts_url.as_deref();
        crossfold::store::open(&self.settings.database_url, artifacts)
            .await
            .expect("the test database opens")
    }

    /// GETs `path`, expecting 200 and a JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        json(self.get(path).send().await.unwrap(), 200).await
    }

    /// A GET with `Accept: text/csv`: the body as text (any status).
    pub async fn get_csv(&self, path: &str) -> String {
        let res = self.get(path).header("accept", "text/csv").send().await;
        res.unwrap().text().await.unwrap()
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.address))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.address))
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.client.patch(format!("{}{path}", self.address))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(format!("{}{path}", self.address))
    }

    /// The id of the job's final run.
    pub async fn final_run(&self, job: &str) -> String {
        let runs = self.get_json(&format!("/v1/jobs/{job}/runs")).await;
        runs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "final")
            .unwrap_or_else(|| panic!("job {job} has no final run: {runs}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A run's downloaded checkpoint (expecting 200).
    pub async fn checkpoint(&self, run: &str) -> Vec<u8> {
        let res = self
            .get(&format!("/v1/runs/{run}/checkpoint"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "checkpoint of {run}");
        res.bytes().await.unwrap().to_vec()
    }

    /// `POST /v1/jobs?dry_run=true` with `spec`; returns the response.
    pub async fn dry_run(&self, spec: &Value) -> Response {
        self.post("/v1/jobs?dry_run=true")
            .json(spec)
            .send()
            .await
            .expect("the request is sent")
    }

    /// The feature encoding (JSON text) in the checkpoint of job `job`'s final model.
    pub async fn final_encoding(&self, job: &str) -> String {
        let bytes = self.checkpoint(&self.final_run(job).await).await;
        crossfold::engine::checkpoint::from_bytes(&bytes)
            .expect("a checkpoint")
            .encoding
            .expect("with its encoding")
    }

    /// Uploads a CSV body; returns the response.
    pub async fn upload_csv(&self, query: &str, csv: impl Into<reqwest::Body>) -> Response {
        self.post(&format!("/v1/datasets?{query}"))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("the request is sent")
    }
}

/// The fixture file's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Asserts a problem+json response with `status`; returns its body.
pub async fn problem(res: Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.expect("a JSON body");
    assert_eq!(got, status, "unexpected status; body: {body}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "body: {body}"
    );
    assert_eq!(body["status"], status, "{body}");
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

/// Asserts `status` and returns the JSON body.
pub async fn json(res: Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let body: Value = res.json().await.expect("a JSON body");
    assert_eq!(got, status, "unexpected status; body: {body}");
    body
}

/// The field paths a problem names.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON array of counts (class counts in the metrics' audit trail).
pub fn counts(v: &Value) -> Vec<u64> {
    serde_json::from_value(v.clone()).expect("an array of counts")
}

/// Python's safetensors reads `bytes`, and `tensor` has `shape` (fails without Python's
/// safetensors, which .ci/run installs: the tests calling it are ignored unless asked for).
pub fn python_loads(bytes: &[u8], tensor: &str, shape: &str) {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import safetensors.numpy"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "needs python3 with safetensors (pip install -r tests/python/requirements.txt; .ci/run \
         installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let script = format!(
        "from safetensors.numpy import load_file; t = load_file({:?}); \
         assert t[{tensor:?}].shape == {shape}, t[{tensor:?}].shape",
        path.display().to_string()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Uploads breast_cancer.csv (label `label`), returns its id.
pub async fn upload_breast_cancer(app: &TestApp) -> String {
    let ds = json(
        app.upload_csv("name=bc&label=label", fixture("breast_cancer.csv"))
            .await,
        201,
    )
    .await;
    ds["id"].as_str().unwrap().to_owned()
}

/// caravan's fixture uploaded with its label column `label`: the dataset's id.
pub async fn upload_caravan(app: &TestApp) -> String {
    let ds = json(
        app.upload_csv("label=label", fixture("caravan.csv")).await,
        201,
    )
    .await;
    ds["id"].as_str().unwrap().to_owned()
}

pub async fn submit(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/v1/jobs").json(&body).send().await.unwrap()
}

/// Submits `body`, expects a 202, returns the job's id.
pub async fn queued(app: &TestApp, body: Value) -> String {
    let job = json(submit(app, body).await, 202).await;
    job["id"].as_str().unwrap().to_owned()
}

/// Queues `base` with `patch`'s top-level fields put over it, waits, and expects the job
/// (`name` in the panic) to succeed; returns its id.
pub async fn succeeded_with(app: &TestApp, base: &Value, patch: &Value, name: &str) -> String {
    let mut spec = base.clone();
    let fields = patch.as_object().expect("a patch is an object").clone();
    spec.as_object_mut().unwrap().extend(fields);
    let id = queued(app, spec).await;
    let job = wait_until_finished(app, &id).await;
    assert_eq!(job["status"], "succeeded", "{name}: {job}");
    id
}

/// Polls until the job ends (or panics after a minute).
pub async fn wait_until_finished(app: &TestApp, id: &str) -> Value {
    wait_until_finished_within(app, id, 60).await
}

/// Polls until the job ends (or panics after `secs` seconds).
pub async fn wait_until_finished_within(app: &TestApp, id: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let job = app.get_json(&format!("/v1/jobs/{id}")).await;
        if ["succeeded", "failed", "cancelled"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job still {} after {secs} s: {job}",
            job["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `.ts` file of `tests/fixtures/sequences/`.
pub fn ts_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/sequences/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub async fn upload_ts(
    app: &TestApp,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.post(&format!("/v1/datasets?{query}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The first five rows of breast_cancer.csv without their label, as predict takes them.
pub fn five_rows() -> Vec<serde_json::Map<String, Value>> {
    let bytes = fixture("breast_cancer.csv");
    let mut rdr = csv::Reader::from_reader(bytes.as_slice());
    let headers = rdr.headers().unwrap().clone();
    rdr.records()
        .take(5)
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .filter(|(h, _)| *h != "label")
                .map(|(h, v)| (h.to_owned(), json!(v.parse::<f64>().unwrap())))
                .collect()
        })
        .collect()
}

/// The throwaway PostgreSQL cluster is shared by every test of this binary, and the chaos
/// test restarts it: tests on it hold a share (`share_postgres`), the chaos test the whole of
/// it (`own_postgres`), so no test meets the restart. Take one share per test (a second,
/// taken while the chaos test waits, would wait for ever).
static POSTGRES: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub type PostgresShare = tokio::sync::RwLockReadGuard<'static, ()>;

/// A share of the PostgreSQL cluster, held for the test's duration.
pub async fn share_postgres() -> PostgresShare {
    POSTGRES.read().await
}

/// The PostgreSQL cluster to itself (to restart it), held for the test's duration.
pub async fn own_postgres() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    POSTGRES.write().await
}

/// What keeps a fresh store alive: SQLite's directory, or a share of the PostgreSQL cluster.
pub type StoreGuard = (Option<tempfile::TempDir>, Option<PostgresShare>);

/// A fresh, migrated store on `backend` (`"sqlite"`, or `"postgres"`: a new database on the
/// server the `PG*` variables name, as `pg_virtualenv` sets them), and its URL.
pub async fn fresh_store(backend: &str) -> (StoreGuard, String, crossfold::store::Db) {
    let (guard, url) = match backend {
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("store.db").display());
            ((Some(dir), None), url)
        }
        _ => {
            let share = share_postgres().await;
            ((None, Some(share)), fresh_postgres_database().await)
        }
    };
    let db = crossfold::store::connect(&url).await.unwrap();
    crossfold::store::migrate(&db).await.unwrap();
    (guard, url, db)
}

/// A new, empty database on the PostgreSQL server of the `PG*` variables: its URL.
pub use postgres::fresh_database as fresh_postgres_database;

/// `$body` with `$p` bound to the pool of `$db`, whichever backend it is (the body is
/// compiled once per backend: one SQL text, `$1`-style parameters).
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match $db.pool() {
            crossfold::store::Backend::Sqlite($p) => $body,
            crossfold::store::Backend::Postgres($p) => $body,
        }
    };
}

/// Runs each named `async fn(Db)` as a test on SQLite and on PostgreSQL (one conformance
/// suite: `…::sqlite::name` and `…::postgres::name`).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_guard, _url, db) = $crate::helpers::fresh_store("sqlite").await;
                    super::$name(db).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: run under pg_virtualenv (CI does)"]
                async fn $name() {
                    let (_guard, _url, db) = $crate::helpers::fresh_store("postgres").await;
                    super::$name(db).await
                }
            )*
        }
    };
}

/// Runs one statement with text parameters (`$1`, `$2`…) on either backend: for setting up
/// states a test cannot reach through the store's API.
pub async fn execute(db: &crossfold::store::Db, sql: &'static str, params: &[&str]) -> u64 {
    use crossfold::store::Backend;
    match db.pool() {
        Backend::Sqlite(pool) => {
            let mut q = sqlx::query(sql);
            for p in params {
                q = q.bind(*p);
            }
            q.execute(pool).await.unwrap().rows_affected()
        }
        Backend::Postgres(pool) => {
            let mut q = sqlx::query(sql);
            for p in params {
                q = q.bind(*p);
            }
            q.execute(pool).await.unwrap().rows_affected()
        }
    }
}

/// Ten sigmoid layers on `ds`, SGD 0.01, 2 folds, no final model: vanishing gradients from
/// epoch 1 (a finding with a remedy).
pub fn vanishing(ds: &str, epochs: u64, seed: u64) -> Value {
    json!({"dataset_id": ds, "seed": seed, "final_model": false,
           "model": {"hidden_layers": [32, 32, 32, 32, 32, 32, 32, 32, 32, 32],
                     "activation": "sigmoid", "init": "xavier"},
           "optimizer": {"kind": "sgd", "learning_rate": 0.01},
           "training": {"epochs": epochs, "early_stopping": null},
           "validation": {"folds": 2}})
}
