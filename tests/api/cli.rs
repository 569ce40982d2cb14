//! The `crossfold` binary: start-up refusals, `--help`, `migrate`.

use std::process::Command;
use std::time::Duration;

fn crossfold() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crossfold"));
    // The environment must not leak settings into these tests.
    for (k, _) in std::env::vars() {
        if k.starts_with("CROSSFOLD_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn a_public_address_without_a_token_exits_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    let out = crossfold()
        .args(["--addr", "0.0.0.0:8080", "--database", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:8080"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-unauthenticated"), "{stderr}");
}

#[test]
fn help_explains_every_flag() {
    let out = crossfold().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--addr",
        "--database",
        "--workers",
        "--api-token",
        "--allow-unauthenticated",
        "--max-body-bytes",
        "--log-format",
        "serve",
        "worker",
        "migrate",
        "CROSSFOLD_ADDR",
        "CROSSFOLD_API_TOKENS",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[test]
fn migrate_creates_and_migrates_the_database_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let out = crossfold()
        .args([
            "migrate",
            "--database",
            &format!("sqlite://{}", path.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(path.exists());
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut child = crossfold()
        .args(["serve", "--addr", "127.0.0.1:0", "--database", &db])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it is listening (its log says so), then send SIGTERM.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the server logs that it listens");
        if line.contains("crossfold listening") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}
