//! The PyTorch and scikit-learn anchors of `../shared/reference/bench/`, run in the same
//! benchmark run (one thread each, `OMP_WAIT_POLICY=PASSIVE`) when Python has the package:
//! their samples/s, read from the JSON line each prints.

// Each benchmark includes this file and uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/bench")
        .join(name)
}

/// Whether `python3 -c "import <module>"` works (and the anchor scripts are there).
pub fn available(module: &str) -> bool {
    script("mlp_torch.py").exists()
        && Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// `python3 <script>` on one thread, its output piped back.
fn python(script: PathBuf) -> Command {
    let mut c = Command::new("python3");
    c.arg(script)
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    c
}

fn spawn(script_name: &str, args: &[&str]) -> Child {
    python(script(script_name))
        .args(args)
        .spawn()
        .expect("python3 starts")
}

/// The last JSON line the finished anchor printed.
fn last_line(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("the anchor finishes");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line from the anchor: {text}"));
    serde_json::from_str(line).expect("the anchor's JSON line")
}

/// `key` of the last JSON line the finished anchor printed.
fn last_json(child: Child, key: &str) -> f64 {
    let v = last_line(child);
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// `benches/reference/families_torch.py` for `family` on `dataset`, `seeds` seeds: the test
/// accuracy's mean and std and the median training sequences/s.
pub fn family(
    data_dir: &std::path::Path,
    family: &str,
    dataset: &str,
    epochs: u64,
    seeds: u64,
) -> (f64, f64, f64) {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/reference/families_torch.py");
    let child = python(script)
        .arg(data_dir)
        .args([family, dataset])
        .env("EPOCHS", epochs.to_string())
        .env("SEEDS", seeds.to_string())
        .spawn()
        .expect("python3 starts");
    let v = last_line(child);
    let f = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
    (
        f("test_accuracy_mean"),
        f("test_accuracy_std"),
        f("train_samples_per_s_median"),
    )
}

/// `benches/reference/<script>` (one thread) with `args`: its last JSON line, or `None` with
/// the reason printed when Python lacks what it imports.
pub fn reference_script(script: &str, modules: &str, args: &[String]) -> Option<serde_json::Value> {
    if !available(modules) {
        println!("({script} skipped: python3 -c \"import {modules}\" fails)");
        return None;
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches/reference")
        .join(script);
    let child = python(path).args(args).spawn().expect("python3 starts");
    Some(last_line(child))
}

/// This machine's CPU, as `/proc/cpuinfo` names it (tables say which CPU they came from).
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or("an unknown CPU".to_owned(), |n| n.trim().to_owned());
    let avx512 = info.contains(" avx512f");
    format!("{name}, {}", if avx512 { "AVX-512" } else { "no AVX-512" })
}

/// The `samples_per_s` of the script's last JSON line.
fn rate(child: Child) -> f64 {
    last_json(child, "samples_per_s")
}

/// `gru_attention_torch.py` on `dataset` of `data_dir` (additive attention, `seeds` seeds,
/// `epochs` epochs): its median training sequences/s.
pub fn gru(data_dir: &std::path::Path, dataset: &str, epochs: u64, seeds: usize) -> f64 {
    let child = python(script("gru_attention_torch.py"))
        .arg(data_dir)
        .arg(dataset)
        .env("EPOCHS", epochs.to_string())
        .env("SEEDS", seeds.to_string())
        .env("ATTENTION", "additive")
        .spawn()
        .expect("python3 starts");
    last_json(child, "train_samples_per_s_median")
}

/// `engine` (`torch` or `sklearn`) on `case` (`wide` or `small`), `processes` started together:
/// their summed samples/s.
pub fn mlp(engine: &str, case: &str, processes: usize) -> f64 {
    let name = match engine {
        "torch" => "mlp_torch.py",
        _ => "mlp_sklearn.py",
    };
    let children: Vec<Child> = (0..processes).map(|_| spawn(name, &[case, "1"])).collect();
    children.into_iter().map(rate).sum()
}
