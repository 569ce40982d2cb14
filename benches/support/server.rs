//! The release binary as its own process on its own database, for benchmarks: started on port
//! 0 (its address read from its log), killed when dropped.

// Each benchmark includes this file and uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Server {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

/// `crossfold worker` processes, killed when dropped.
pub struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Workers {
    /// `processes` worker processes of `each` workers on `database`.
    pub fn start(database: &str, processes: usize, each: usize) -> Self {
        let children = (0..processes)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_crossfold"))
                    .args([
                        "worker",
                        "--workers",
                        &each.to_string(),
                        "--database",
                        database,
                    ])
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        Self(children)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `crossfold serve` with `args` on a fresh database.
    pub fn start(args: &[&str]) -> Self {
        Self::start_on(None, args)
    }

    /// `crossfold serve` with `args` on `database`, or a fresh SQLite file.
    pub fn start_on(database: Option<&str>, args: &[&str]) -> Self {
        Self::start_with_env(database, args, &[])
    }

    /// `start_on` with environment variables `env` (an object store's `AWS_*`).
    pub fn start_with_env(database: Option<&str>, args: &[&str], env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = match database {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}", dir.path().join("b.db").display()),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_crossfold"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .arg("--database")
            .arg(database)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(i) = line.find("addr=") {
                break line[i + 5..].split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            base: format!("http://{addr}"),
            _dir: dir,
        }
    }

    /// The process's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /v1/datasets?<query>` of a CSV body, answered as JSON.
    pub async fn upload_csv(
        &self,
        c: &reqwest::Client,
        query: &str,
        csv: Vec<u8>,
    ) -> serde_json::Value {
        self.upload(c, query, "text/csv", csv).await
    }

    /// The id of `../shared/data/<file>` (its label column `label`), uploaded the first time
    /// `cache` is asked for it.
    pub async fn shared_dataset(
        &self,
        c: &reqwest::Client,
        file: &str,
        cache: &mut std::collections::BTreeMap<String, String>,
    ) -> String {
        let path = format!("{}/../shared/data/{file}", env!("CARGO_MANIFEST_DIR"));
        self.local_dataset(c, std::path::Path::new(&path), cache)
            .await
    }

    /// The dataset uploaded from the CSV at `path` (label `label`), once per path in `cache`.
    pub async fn local_dataset(
        &self,
        c: &reqwest::Client,
        path: &std::path::Path,
        cache: &mut std::collections::BTreeMap<String, String>,
    ) -> String {
        let key = path.display().to_string();
        if let Some(id) = cache.get(&key) {
            return id.clone();
        }
        let csv = std::fs::read(path).unwrap_or_else(|e| panic!("{key}: {e}"));
        let name = path.file_name().unwrap().to_string_lossy();
        let ds = self
            .upload_csv(c, &format!("label=label&name={name}"), csv)
            .await;
        let id = ds["id"].as_str().unwrap().to_owned();
        cache.insert(key, id.clone());
        id
    }

    /// `POST /v1/datasets?<query>` of a body of `content_type`, answered as JSON.
    pub async fn upload(
        &self,
        c: &reqwest::Client,
        query: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> serde_json::Value {
        c.post(self.url(&format!("/v1/datasets?{query}")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET path` as JSON.
    pub async fn get_json(&self, c: &reqwest::Client, path: &str) -> serde_json::Value {
        c.get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `POST /v1/jobs` of `spec`: the new job's id.
    pub async fn submit(&self, c: &reqwest::Client, spec: &serde_json::Value) -> String {
        let job = c
            .post(self.url("/v1/jobs"))
            .json(spec)
            .send()
            .await
            .unwrap();
        let job: serde_json::Value = job.json().await.unwrap();
        (job["id"].as_str())
            .unwrap_or_else(|| panic!("no job id: {job}"))
            .to_owned()
    }

    /// The job once it has ended (polled every 20 ms).
    pub async fn wait_job(&self, c: &reqwest::Client, id: &str) -> serde_json::Value {
        loop {
            let job = self.get_json(c, &format!("/v1/jobs/{id}")).await;
            if ["succeeded", "failed", "cancelled"].contains(&job["status"].as_str().unwrap()) {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Returns once `n` runs of job `id` are training (polled every 20 ms).
    pub async fn wait_running(&self, c: &reqwest::Client, id: &str, n: usize) {
        loop {
            let runs = self.get_json(c, &format!("/v1/jobs/{id}/runs")).await;
            let running = runs["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["status"] == "running")
                .count();
            if running == n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
