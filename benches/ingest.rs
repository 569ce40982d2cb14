//! Ingest benchmark: uploads a generated ~100 MB numeric CSV to the real `crossfold` binary and
//! prints throughput (MB/s) and the server's peak RSS against the data's f32 size.
//!
//! Run: `cargo bench --bench ingest` (env `INGEST_MB` changes the size, `INGEST_ROUNDS` the
//! number of uploads).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crossfold::domain::dataset::UploadFormat;
use crossfold::ingest::{IngestOptions, parse_upload};

const FEATURES: usize = 20;

/// A deterministic numeric CSV of about `target` bytes: 20 features and a 0/1 label.
fn generate(target: usize) -> (Vec<u8>, u64) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut out = Vec::with_capacity(target + 4096);
    let header: Vec<String> = (0..FEATURES).map(|i| format!("f{i}")).collect();
    writeln!(out, "{},label", header.join(",")).unwrap();
    let mut rows = 0u64;
    while out.len() < target {
        for _ in 0..FEATURES {
            let v = (next() >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 100.0;
            write!(out, "{v:.5},").unwrap();
        }
        writeln!(out, "{}", next() % 2).unwrap();
        rows += 1;
    }
    (out, rows)
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mb: usize = std::env::var("INGEST_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rounds: usize = std::env::var("INGEST_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let (csv, rows) = generate(mb * 1_000_000);
    let f32_bytes = rows * (FEATURES as u64 + 1) * 4;
    let size_mb = csv.len() as f64 / 1e6;
    println!(
        "data: {size_mb:.1} MB CSV, {rows} rows x {} columns, f32 size {:.1} MB",
        FEATURES + 1,
        f32_bytes as f64 / 1e6
    );

    // Parsing alone, in this process (no HTTP, no SQLite).
    let opts = IngestOptions {
        format: UploadFormat::Csv,
        label: "label".into(),
        delimiter: b',',
        max_rows: u64::MAX,
        max_columns: u64::MAX,
        max_cells: u64::MAX,
        max_classes: 1000,
        max_sequence_steps: 10_000,
        sequence: None,
        size_hint: Some(csv.len() as u64),
        text_columns: Vec::new(),
        types: Vec::new(),
    };
    let start = Instant::now();
    let parsed = parse_upload(csv.as_slice(), &opts).expect("the generated CSV parses");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(parsed.rows, rows);
    drop(parsed);
    println!(
        "parse only (in process): {:.0} MB/s ({secs:.2} s)",
        size_mb / secs
    );

    // The real server, as a separate process so its RSS is its own.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossfold"))
        .args(["serve", "--addr", "127.0.0.1:0", "--database", &db])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the crossfold binary starts");
    let pid = child.id();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server logs its address").unwrap();
        if let Some(i) = line.find("addr=") {
            break line[i + 5..].split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let idle_kib = peak_rss_kib(pid);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let body = bytes::Bytes::from(csv);
    let mut rates = Vec::new();
    for round in 0..rounds {
        let start = Instant::now();
        let status = runtime.block_on(async {
            client
                .post(format!("http://{addr}/v1/datasets?name=bench&label=label"))
                .header("content-type", "text/csv")
                .body(body.clone())
                .send()
                .await
                .expect("the upload is answered")
                .status()
        });
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(status, 201, "round {round}");
        rates.push(size_mb / secs);
        println!(
            "upload {round}: {:.0} MB/s ({secs:.2} s, 201)",
            size_mb / secs
        );
    }
    let peak_kib = peak_rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let ratio = peak_kib as f64 * 1024.0 / f32_bytes as f64;
    println!(
        "server: median {median:.0} MB/s over {rounds} uploads; peak RSS {:.1} MB (idle {:.1} MB) = {ratio:.2}x the f32 size (target <= 3x, >= 100 MB/s)",
        peak_kib as f64 / 1024.0,
        idle_kib as f64 / 1024.0,
    );
}
