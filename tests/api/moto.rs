//! A moto S3 server (`moto_server`, from PyPI's `moto[server]`: CI installs it in a virtual
//! environment and puts it last on PATH) on a free port of 127.0.0.1, killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    port: u16,
    bucket: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// A fresh server with one empty bucket.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server on PATH: pip install 'moto[server]' (CI does)");
        let moto = Self {
            child,
            port,
            bucket: "crossfold".into(),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        // moto creates a bucket on an unsigned PUT; it answers once it is up.
        loop {
            let made = client.put(moto.endpoint() + "/crossfold").send().await;
            if made.is_ok_and(|r| r.status().is_success()) {
                return moto;
            }
            assert!(Instant::now() < deadline, "moto_server never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `--artifacts` for an in-process app: endpoint and credentials in the URL (the test
    /// process's environment is shared by every test).
    pub fn url(&self, prefix: &str) -> String {
        format!(
            "s3://{}/{prefix}?endpoint={}&allow_http=true&region=us-east-1\
             &access_key_id=testing&secret_access_key=testing",
            self.bucket,
            self.endpoint()
        )
    }

    /// `--artifacts` and the `AWS_*` variables for a process, as a deployment would set them.
    pub fn for_process(&self, prefix: &str) -> (String, Vec<(&'static str, String)>) {
        let env = vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ];
        (format!("s3://{}/{prefix}", self.bucket), env)
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the server: stopped, it accepts connections and
    /// answers nothing, as a hung store does.
    pub fn signal(&self, sig: &str) {
        let sent = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
        assert!(sent.unwrap().success(), "kill {sig}");
    }
}
