//! Training throughput against PyTorch and scikit-learn, measured in the same run:
//! (a) `wide`: 64→256→256→2 relu, Adam 1e-3, batch 256, 100k rows, 3 epochs, one run on one
//!     thread, and two concurrent runs (against two concurrent 1-thread PyTorch processes);
//!     and the one run widened to every core (`engine::cores`) against itself on one;
//! (b) `small`: 85→64→64→2, batch 64, one thread (against scikit-learn, 1 thread).
//! Beside the wide case's samples/s: the fraction of this core's product peak its step reaches
//! (a 512³ product on the same kernel, measured in the same run).
//! The data follow the anchors' rule (uniform inputs, `Σx[..8] + x0·x1 > 0`); each figure is a
//! median of 3 runs, as the anchors'. Prints samples/s, the ratios, and JSON lines.
//!
//! Run: `cargo bench --bench train` (the anchors run when `python3 -c "import torch"` /
//! `"import sklearn"` work: `pip install torch scikit-learn threadpoolctl`).

#[path = "support/anchors.rs"]
mod anchors;
#[path = "support/peak.rs"]
mod peak;

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crossfold::domain::spec::{BatchSize, TrainingSpec};
use crossfold::engine::cores::Cores;
use crossfold::engine::data::rows::Rows;
use crossfold::engine::train::{TrainRequest, train};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Case {
    name: &'static str,
    features: usize,
    hidden: Vec<u64>,
    batch: u64,
}

const ROWS: usize = 100_000;
const EPOCHS: u64 = 3;

fn data(case: &Case, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..ROWS * case.features)
        .map(|_| rng.gen_range(-1.0f32..1.0))
        .collect();
    let y = x
        .chunks(case.features)
        .map(|r| u32::from(r[..8].iter().sum::<f32>() + r[0] * r[1] > 0.0))
        .collect();
    (x, y)
}

/// Trains once; returns samples per second.
fn run(case: &Case, x: &[f32], y: &[u32], seed: u64) -> f64 {
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = case.hidden.clone();
    spec.training.batch_size = BatchSize::Rows(case.batch);
    spec.training.epochs = EPOCHS;
    spec.training.early_stopping = None;
    let req = TrainRequest {
        leg: Default::default(),
        spec: &spec,
        train: Rows {
            x,
            y,
            features: case.features,
        },
        holdout: None,
        classes: 2,
        class_weights: vec![1.0, 1.0],
        seed,
        resume: None,
        checkpoint_every: 0,
        objective: Default::default(),
        channels: None,
        warm: None,
        pretrain: None,
    };
    let start = Instant::now();
    train(&req, &AtomicBool::new(false), &mut |_, _| {}).expect("training runs");
    (ROWS as u64 * EPOCHS) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Multiply-adds of one sample's training step (×2 for FLOPs): forward, the weights' gradients,
/// and the inputs' gradients of every layer but the first.
fn macs_per_sample(case: &Case) -> f64 {
    let mut widths = vec![case.features as u64];
    widths.extend(&case.hidden);
    widths.push(2);
    let layers = widths.windows(2).map(|w| (w[0] * w[1]) as f64);
    layers
        .enumerate()
        .map(|(i, m)| if i == 0 { 2.0 * m } else { 3.0 * m })
        .sum()
}

/// One run on a share of every core of this machine, alone (so all of them): samples/s.
fn widened(case: &Case, x: &[f32], y: &[u32], seed: u64) -> (usize, f64) {
    let cores = Cores::new(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let share = cores.share();
    (share.width(), share.install(|| run(case, x, y, seed)))
}

/// The median of three runs of `case` widened to every core, printed against `one` (its
/// samples/s on one thread): the cores and samples/s.
fn widening(case: &Case, d: &(Vec<f32>, Vec<u32>), one: f64) -> (usize, f64) {
    let runs: Vec<_> = (0..3).map(|s| widened(case, &d.0, &d.1, s)).collect();
    let cores = runs[0].0;
    let all = median(runs.into_iter().map(|r| r.1).collect());
    println!(
        "{} (batch {}), 1 run widened to {cores} cores: crossfold {all:.0} samples/s against \
         {one:.0} on one: {:.2}× (wall time {:.2}×)",
        case.name,
        case.batch,
        all / one,
        one / all
    );
    (cores, all)
}

/// Two runs side by side, each with one core (no share: width one): aggregate samples/s.
fn concurrent(case: &Case, a: &(Vec<f32>, Vec<u32>), b: &(Vec<f32>, Vec<u32>)) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        let h1 = s.spawn(|| run(case, &a.0, &a.1, 1));
        let h2 = s.spawn(|| run(case, &b.0, &b.1, 2));
        h1.join().unwrap();
        h2.join().unwrap();
    });
    (2 * ROWS as u64 * EPOCHS) as f64 / start.elapsed().as_secs_f64()
}

fn report(case: &str, ours: f64, anchor: Option<(&str, f64)>) {
    match anchor {
        Some((engine, theirs)) => println!(
            "{case}: crossfold {ours:.0} samples/s, {engine} {theirs:.0} samples/s: {:.2}×",
            ours / theirs
        ),
        None => println!("{case}: crossfold {ours:.0} samples/s (no anchor in this run)"),
    }
    let ratio = anchor.map(|(_, t)| ours / t);
    let engine = anchor.map(|(e, _)| e);
    println!(
        "{}",
        serde_json::json!({"bench": "train", "case": case, "samples_per_s": ours.round(),
                           "anchor": engine, "anchor_samples_per_s": anchor.map(|(_, t)| t.round()),
                           "ratio": ratio})
    );
}

fn main() {
    let torch = anchors::available("torch");
    let sklearn = anchors::available("sklearn") && anchors::available("threadpoolctl");
    let wide = Case {
        name: "wide",
        features: 64,
        hidden: vec![256, 256],
        batch: 256,
    };
    let small = Case {
        name: "small",
        features: 85,
        hidden: vec![64, 64],
        batch: 64,
    };
    let (wa, wb) = (data(&wide, 1), data(&wide, 2));
    let one = median((0..3).map(|s| run(&wide, &wa.0, &wa.1, s)).collect());
    let torch_one = torch.then(|| anchors::mlp("torch", wide.name, 1));
    report(
        "wide, 1 run, 1 thread",
        one,
        torch_one.map(|t| ("torch", t)),
    );
    let peak = peak::product_peak();
    let step_gflops = one * 2.0 * macs_per_sample(&wide) / 1e9;
    println!(
        "wide, 1 thread: the step at {step_gflops:.0} GFLOP/s, {:.0}% of this core's product \
         peak ({peak:.0} GFLOP/s, 512³ on the same kernel)",
        100.0 * step_gflops / peak
    );
    let (cores, wide_all) = widening(&wide, &wa, one);
    let narrow = Case {
        name: "caravan-shaped",
        features: 85,
        hidden: vec![256, 256],
        batch: 64,
    };
    let na = data(&narrow, 5);
    let narrow_one = median((0..3).map(|s| run(&narrow, &na.0, &na.1, s)).collect());
    let (_, narrow_all) = widening(&narrow, &na, narrow_one);
    let two = median((0..3).map(|_| concurrent(&wide, &wa, &wb)).collect());
    let torch_two = torch.then(|| anchors::mlp("torch", wide.name, 2));
    report(
        "wide, 2 concurrent runs (aggregate)",
        two,
        torch_two.map(|t| ("torch, 2 processes", t)),
    );
    let (sa, _) = (data(&small, 3), ());
    let small_rate = median((0..3).map(|s| run(&small, &sa.0, &sa.1, s)).collect());
    let sk = sklearn.then(|| anchors::mlp("sklearn", small.name, 1));
    report("small, 1 thread", small_rate, sk.map(|t| ("sklearn", t)));
    let torch_small = torch.then(|| anchors::mlp("torch", small.name, 1));
    if let Some(t) = torch_small {
        report("small, 1 thread (vs torch)", small_rate, Some(("torch", t)));
    }
    println!(
        "{}",
        serde_json::json!({"bench": "train", "case": "summary", "samples_per_s": one.round(),
            "product_peak_gflops": peak.round(), "wide_fraction_of_peak": step_gflops / peak,
            "widened_cores": cores, "widened_samples_per_s": wide_all.round(),
            "widened_wall_time_ratio": one / wide_all,
            "caravan_shaped_widened_wall_time_ratio": narrow_one / narrow_all,
            "wide_vs_torch": torch_one.map(|t| one / t), "wide2_vs_torch2": torch_two.map(|t| two / t),
            "small_vs_sklearn": sk.map(|t| small_rate / t)})
    );
}
