//! Every ```sh block of README.md and of docs/*.md runs (and every ```python block, through
//! `python3`): the blocks of a file, in order, as one bash script (`set -euo pipefail`, so a
//! failing command or a `jq -e`/`jq -r` on a missing field fails it) against a live server, the binary cargo built, on a free port and its own
//! database. The script runs in a temporary directory whose `tests/fixtures` is the clone's, so
//! the files it writes go nowhere. ```console blocks (cargo itself: building, testing,
//! benchmarking) are what CI runs around this test, not run here.
//!
//! The examples call `curl`, `jq` and Python's `httpx`, so the test is ignored unless asked for (`.ci/run`
//! installs them and runs it).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a file's examples may take (a debug build trains them).
const FILE_TIMEOUT: Duration = Duration::from_secs(900);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ```sh blocks of `markdown`, in order, and its ```python blocks as `python3` run from
/// the script (so a Python example runs where the shell ones do, against the same server).
fn sh_blocks(markdown: &str) -> Vec<String> {
    const PYTHON_END: &str = "PYTHON\n";
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    let mut python = false;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => (current, python) = (Some(String::new()), false),
            (None, "```python") => {
                (current, python) = (Some("python3 - <<'PYTHON'\n".into()), true)
            }
            (Some(block), "```") => {
                if python {
                    block.push_str(PYTHON_END);
                }
                blocks.extend(current.take());
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The server, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let db = format!("sqlite://{}", dir.path().join("examples.db").display());
        let child = Command::new(env!("CARGO_BIN_EXE_crossfold"))
            .args(["--addr", &format!("127.0.0.1:{port}"), "--database", &db])
            .args(["--workers", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the crossfold binary starts");
        let server = Self {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `file`'s examples; panics with the script's output when one fails.
fn run_examples(file: &str) {
    let markdown = std::fs::read_to_string(root().join(file)).unwrap();
    let blocks = sh_blocks(&markdown);
    assert!(!blocks.is_empty(), "{file} has no sh examples");
    let server = Server::start();
    let address = format!("127.0.0.1:{}", server.port);
    let script = blocks
        .iter()
        .map(|b| {
            b.replace("localhost:8080", &address)
                .replace("127.0.0.1:8080", &address)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("tests")).unwrap();
    std::os::unix::fs::symlink(
        root().join("tests/fixtures"),
        work.path().join("tests/fixtures"),
    )
    .unwrap();
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-x", "-c", &script])
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + FILE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let tail = |s: &str| {
        s.chars()
            .rev()
            .take(6000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
    };
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!(
            "{file}'s examples failed ({s}):\n--- stdout\n{}\n--- trace\n{}",
            tail(&out),
            tail(&err)
        ),
        None => panic!(
            "{file}'s examples took over {FILE_TIMEOUT:?}:\n--- trace\n{}",
            tail(&err)
        ),
    }
}

/// The markdown files whose examples run: the README and every file of docs/.
fn documents() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.ends_with(".md").then(|| format!("docs/{name}"))
        })
        .collect();
    files.sort();
    files.insert(0, "README.md".into());
    files
}

#[test]
fn sh_blocks_are_read_in_order_and_console_blocks_left_out() {
    let md = "text\n```sh\na\nb\n```\n```console\ncargo x\n```\n```sh\nc\n```\n";
    assert_eq!(sh_blocks(md), ["a\nb\n", "c\n"]);
}

/// Each file with examples has its test below (a file added to docs/ needs one).
#[test]
fn every_document_with_examples_is_tested() {
    let tested = [
        "README.md",
        "docs/api.md",
        "docs/families.md",
        "docs/imbalance.md",
        "docs/onnx.md",
        "docs/sequences.md",
    ];
    for file in documents() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        assert_eq!(
            !sh_blocks(&text).is_empty(),
            tested.contains(&file.as_str()),
            "{file}: a document with sh examples is in `tested` and has a test, one without is not"
        );
    }
    assert!(Path::new(env!("CARGO_BIN_EXE_crossfold")).exists());
}

macro_rules! examples {
    ($($name:ident => $file:literal),* $(,)?) => {$(
        #[test]
        #[ignore = "needs curl and jq (.ci/run installs them; run with --include-ignored)"]
        fn $name() {
            run_examples($file);
        }
    )*};
}

examples! {
    the_readmes_examples_run => "README.md",
    the_api_examples_run => "docs/api.md",
    the_families_examples_run => "docs/families.md",
    the_imbalance_examples_run => "docs/imbalance.md",
    the_onnx_examples_run => "docs/onnx.md",
    the_sequences_examples_run => "docs/sequences.md",
}
