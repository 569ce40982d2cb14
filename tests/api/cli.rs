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
    stops_cleanly_on_sigterm(child);
}

/// Sends SIGTERM to `child` and expects it to exit 0.
fn stops_cleanly_on_sigterm(mut child: std::process::Child) {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

/// `--help` of `command`.
fn help_of(command: &str) -> String {
    let out = crossfold().args([command, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_commands_help_lists_only_the_flags_it_uses() {
    let serve = help_of("serve");
    let worker = help_of("worker");
    let migrate = help_of("migrate");
    let http_only = [
        "--api-token",
        "--allow-unauthenticated",
        "--header-timeout-secs",
        "--max-body-bytes",
        "--max-predict-rows",
        "--max-event-streams",
    ];
    let training = [
        "--workers",
        "--checkpoint-every-ms",
        "--max-checkpoint-bytes",
        "--max-epochs",
        "--max-layer-width",
        "--dataset-cache",
        "--dataset-cache-mb",
    ];
    for flag in http_only.iter().chain(&training).chain(&["--database"]) {
        assert!(serve.contains(flag), "serve --help lacks {flag}:\n{serve}");
    }
    for flag in training.iter().chain(&["--database", "--log-format"]) {
        assert!(
            worker.contains(flag),
            "worker --help lacks {flag}:\n{worker}"
        );
    }
    for flag in http_only {
        assert!(
            !worker.contains(flag),
            "worker --help shows {flag}:\n{worker}"
        );
        assert!(
            !migrate.contains(flag),
            "migrate --help shows {flag}:\n{migrate}"
        );
    }
    for flag in training {
        assert!(
            !migrate.contains(flag),
            "migrate --help shows {flag}:\n{migrate}"
        );
    }
    assert!(migrate.contains("--database"), "{migrate}");
    assert!(!migrate.contains("--addr"), "{migrate}");
    // The artifact store: where training and serving write it, and gc collects it.
    let gc = help_of("gc");
    for help in [&serve, &worker, &gc] {
        assert!(help.contains("--artifacts"), "{help}");
    }
    for flag in ["--artifacts", "--gc-every-secs", "--min-age-secs"] {
        assert!(
            !migrate.contains(flag),
            "migrate --help shows {flag}:\n{migrate}"
        );
    }
    assert!(
        worker.contains("--gc-every-secs") && gc.contains("--min-age-secs"),
        "{gc}"
    );
    assert!(
        !gc.contains("--workers") && !gc.contains("--gc-every-secs"),
        "{gc}"
    );
    assert!(
        worker.contains("--addr") && worker.contains("/metrics"),
        "{worker}"
    );
    // A flag a command does not use is refused, not silently ignored.
    let out = crossfold()
        .args(["worker", "--api-token", "t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-token"));
}

#[test]
fn a_worker_serves_only_its_probes_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = crossfold()
        .args([
            "worker",
            "--workers",
            "1",
            "--addr",
            &addr,
            "--database",
            &db,
        ])
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<(u16, String)> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let res = reqwest::get(format!("http://{addr}{path}")).await.ok()?;
            let status = res.status().as_u16();
            Some((status, res.text().await.ok()?))
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while get("/healthz").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker's probes did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get("/healthz").unwrap().0, 200);
    assert_eq!(get("/readyz").unwrap().0, 200);
    let (status, metrics) = get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("crossfold_queue_depth"), "{metrics}");
    assert_eq!(
        get("/v1/datasets").unwrap().0,
        404,
        "a worker serves no API"
    );
    stops_cleanly_on_sigterm(child);
}

#[test]
fn a_worker_without_workers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("none.db").display());
    let out = crossfold()
        .args(["worker", "--workers", "0", "--database", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--workers of at least 1"),
        "{out:?}"
    );
}
