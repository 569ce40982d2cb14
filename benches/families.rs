//! The sequence families against their PyTorch references, in the same run: for LSTM, FCN and
//! ResNet-1D on GunPoint, ItalyPowerDemand, BasicMotions and JapaneseVowels, each seed trains on
//! the whole `_TRAIN.ts` (as a job's final model does) and scores `_TEST.ts`; the reference
//! (`benches/reference/families_torch.py`, the same recipe: Adam 1e-3 with cosine decay to 0
//! over the epochs, batch 16, no early stopping, one thread) does the same over the same seeds. Prints test accuracy mean ± std on
//! both sides, whether ours holds against the reference's mean − 1 std, and the training
//! sequences/s of both with their ratio; ends with one JSON line per case.
//!
//! Run: `cargo bench --bench families` (`-- fcn GunPoint` narrows to the families and datasets
//! named; `SEEDS` (5) and `EPOCHS` (per family: LSTM 150, FCN 100, ResNet-1D 100) override).
//! The reference runs when `python3 -c "import torch"` works.

#[path = "support/peak.rs"]
mod peak;
use peak::product_peak;

#[path = "support/anchors.rs"]
mod anchors;

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crossfold::domain::dataset::{Column, ParsedDataset, SequenceValues, UploadFormat};
use crossfold::domain::spec::{AttentionKind, BatchSize, Decay, ModelKind, TrainingSpec};
use crossfold::engine::data::encode::Encoding;
use crossfold::engine::data::rows::Rows;
use crossfold::engine::data::table::Table;
use crossfold::engine::model::infer::predict_rows;
use crossfold::engine::train::{TrainRequest, train};
use crossfold::ingest::options::IngestOptions;
use crossfold::ingest::ts;

const DATASETS: [&str; 4] = [
    "GunPoint",
    "ItalyPowerDemand",
    "BasicMotions",
    "JapaneseVowels",
];
const FAMILIES: [(&str, ModelKind, u64); 3] = [
    ("lstm", ModelKind::Lstm, 150),
    ("fcn", ModelKind::Fcn, 100),
    ("resnet1d", ModelKind::Resnet1d, 100),
];

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sequences")
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn spec(kind: ModelKind, epochs: u64) -> TrainingSpec {
    let mut spec = TrainingSpec::default();
    spec.model.kind = kind;
    if kind == ModelKind::Lstm {
        spec.model.hidden_size = 64;
        spec.model.attention = AttentionKind::Additive;
    }
    spec.model = spec.model.resolved();
    spec.optimizer =
        serde_json::from_value(serde_json::json!({"kind": "adam", "learning_rate": 0.001}))
            .expect("an Adam spec");
    spec.schedule.decay = Decay::Cosine;
    spec.training.batch_size = BatchSize::Rows(16);
    spec.training.epochs = epochs;
    spec.training.early_stopping = None;
    spec
}

fn parse(name: &str, split: &str) -> ParsedDataset {
    let path = data_dir().join(format!("{name}_{split}.ts"));
    let file = std::fs::File::open(&path).expect("the dataset file");
    let opts = IngestOptions {
        format: UploadFormat::Ts,
        label: "label".into(),
        delimiter: b',',
        max_rows: u64::MAX,
        max_columns: u64::MAX,
        max_cells: u64::MAX,
        max_classes: u64::MAX,
        max_sequence_steps: u64::MAX,
        sequence: None,
        size_hint: None,
        text_columns: Vec::new(),
        types: Vec::new(),
    };
    ts::parse_dataset(BufReader::new(file), &opts).expect("a valid .ts file")
}

fn table<'a>(columns: &'a [Column], seqs: &'a Option<SequenceValues>) -> Table<'a> {
    let seqs = seqs.as_ref().expect("sequences");
    Table::new(columns, 0)
        .expect("a label column")
        .with_sequences(seqs)
}

/// What one family on one dataset measured: per seed the test accuracy, the median training
/// sequences/s, and the data's mean length and channels.
struct Measured {
    accuracies: Vec<f64>,
    rate: f64,
    mean_steps: f64,
    channels: usize,
}

fn ours(kind: ModelKind, name: &str, epochs: u64, seeds: u64) -> Measured {
    let (train_set, test_set) = (parse(name, "TRAIN"), parse(name, "TEST"));
    let tr = table(&train_set.columns, &train_set.sequences);
    let te = table(&test_set.columns, &test_set.sequences);
    let rows: Vec<usize> = (0..tr.y.len()).collect();
    let encoding = Encoding::fit_table(&tr, &rows);
    let (x, width) = encoding.transform_table(&tr, &rows);
    let test_rows: Vec<usize> = (0..te.y.len()).collect();
    let (x_test, test_width) = encoding.transform_table(&te, &test_rows);
    // The test labels by the training classes' indices.
    let truth: Vec<usize> =
        te.y.iter()
            .map(|&c| {
                tr.class_names
                    .iter()
                    .position(|n| *n == te.class_names[c as usize])
                    .expect("a known class")
            })
            .collect();
    let spec = spec(kind, epochs);
    let channels = train_set.sequences.as_ref().map(|s| s.channels);
    let (mut accuracies, mut rates) = (Vec::new(), Vec::new());
    for seed in 0..seeds {
        let req = TrainRequest {
            leg: Default::default(),
            spec: &spec,
            train: Rows {
                x: &x,
                y: &tr.y,
                features: width,
            },
            holdout: None,
            classes: tr.classes,
            class_weights: vec![1.0; tr.classes],
            seed,
            resume: None,
            checkpoint_every: 0,
            objective: Default::default(),
            channels,
            warm: None,
            pretrain: None,
        };
        let start = Instant::now();
        let mut trained =
            train(&req, &AtomicBool::new(false), &mut |_, _| {}).expect("training runs");
        rates.push((rows.len() as u64 * epochs) as f64 / start.elapsed().as_secs_f64());
        let test = Rows {
            x: &x_test,
            y: &te.y,
            features: test_width,
        };
        let proba = predict_rows(&mut trained.state.model, test, &test_rows);
        let k = tr.classes;
        let right = truth
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                let row = &proba[i * k..(i + 1) * k];
                (0..k).max_by(|&a, &b| row[a].total_cmp(&row[b])) == Some(**t)
            })
            .count();
        accuracies.push(right as f64 / truth.len() as f64);
    }
    let values = train_set.sequences.as_ref().expect("sequences");
    let mean_steps =
        values.lengths.iter().map(|&l| l as f64).sum::<f64>() / values.lengths.len() as f64;
    Measured {
        accuracies,
        rate: median(rates),
        mean_steps,
        channels: values.channels,
    }
}

/// A convolutional family's multiply-adds per sequence step of a forward pass (a training step
/// does about three times as many: forward, weights' and inputs' gradients).
fn conv_macs_per_step(spec: &TrainingSpec, channels: usize) -> f64 {
    let (filters, kernels) = (spec.model.conv_filters(), spec.model.conv_kernels());
    let residual = spec.model.kind.convolution().is_some_and(|c| c.2);
    let (mut from, mut macs) = (channels as f64, 0.0);
    for (i, &f) in filters.iter().enumerate() {
        let ks: Vec<u64> = if residual {
            kernels.clone()
        } else {
            vec![kernels[i]]
        };
        let block_in = from;
        for k in ks {
            macs += from * k as f64 * f as f64;
            from = f as f64;
        }
        if residual && block_in != f as f64 {
            macs += block_in * f as f64;
        }
    }
    macs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |n: &str, all: &[&str]| {
        let named: Vec<&String> = args.iter().filter(|a| all.contains(&a.as_str())).collect();
        named.is_empty() || named.iter().any(|a| *a == n)
    };
    let seeds = env_u64("SEEDS").unwrap_or(5);
    let anchor = anchors::available("torch");
    if !anchor {
        println!("PyTorch is not installed: crossfold's figures only (pip install torch)");
    }
    let cpu = anchors::cpu_model();
    let peak = product_peak();
    println!("this core's product peak (512³ matmul, gemm): {peak:.0} GFLOP/s");
    println!(
        "{seeds} seeds per side, Adam 1e-3 with cosine decay, batch 16, no early stopping, 1 thread; {cpu}"
    );
    println!(
        "{:<9} {:<17} {:>6} {:>15} {:>15} {:>7} {:>5} {:>9} {:>9} {:>6}",
        "family",
        "dataset",
        "epochs",
        "crossfold acc",
        "PyTorch acc",
        "needed",
        "holds",
        "ours/s",
        "torch/s",
        "ratio"
    );
    let family_names: Vec<&str> = FAMILIES.iter().map(|f| f.0).collect();
    for (family, kind, default_epochs) in FAMILIES {
        if !wanted(family, &family_names) {
            continue;
        }
        let epochs = env_u64("EPOCHS").unwrap_or(default_epochs);
        for name in DATASETS.into_iter().filter(|n| wanted(n, &DATASETS)) {
            let measured = ours(kind, name, epochs, seeds);
            let (accs, rate) = (measured.accuracies.clone(), measured.rate);
            // Convolutions: GFLOP/s of a training step (three products per forward's one).
            let spec = spec(kind, epochs);
            let flops = (kind.convolution().is_some())
                .then(|| 6.0 * conv_macs_per_step(&spec, measured.channels) * measured.mean_steps);
            let (m, s) = mean_std(&accs);
            let theirs = anchor.then(|| anchors::family(&data_dir(), family, name, epochs, seeds));
            let needed = theirs.as_ref().map(|t| t.0 - t.1);
            let holds = needed.map(|n| m >= n);
            let ratio = theirs.as_ref().map(|t| rate / t.2);
            println!(
                "{:<9} {:<17} {:>6} {:>15} {:>15} {:>7} {:>5} {:>9.0} {:>9} {:>6}",
                family,
                name,
                epochs,
                format!("{m:.3} ± {s:.3}"),
                theirs
                    .as_ref()
                    .map_or("-".into(), |t| format!("{:.3} ± {:.3}", t.0, t.1)),
                needed.map_or("-".into(), |n| format!("{n:.3}")),
                holds.map_or("-", |h| if h { "yes" } else { "NO" }),
                rate,
                theirs
                    .as_ref()
                    .map_or("-".into(), |t| format!("{:.0}", t.2)),
                ratio.map_or("-".into(), |r| format!("{r:.2}x")),
            );
            let line = serde_json::json!({
                "family": family, "dataset": name, "epochs": epochs, "seeds": seeds, "cpu": cpu,
                "crossfold_accuracies": accs, "crossfold_mean": m, "crossfold_std": s,
                "torch_mean": theirs.as_ref().map(|t| t.0), "torch_std": theirs.as_ref().map(|t| t.1),
                "holds": holds, "crossfold_seq_per_s": rate,
                "torch_seq_per_s": theirs.as_ref().map(|t| t.2), "ratio": ratio,
                "product_peak_gflops": peak,
                "crossfold_gflops": flops.map(|f| f * rate / 1e9),
                "torch_gflops": flops.and_then(|f| theirs.as_ref().map(|t| f * t.2 / 1e9)),
            });
            if let Some(f) = flops {
                let ours_g = f * rate / 1e9;
                let theirs_g = theirs.as_ref().map(|t| f * t.2 / 1e9);
                println!(
                    "          training step: crossfold {ours_g:.0} GFLOP/s ({:.0}% of the peak), PyTorch {}",
                    100.0 * ours_g / peak,
                    theirs_g.map_or("-".into(), |g| format!(
                        "{g:.0} GFLOP/s ({:.0}%)",
                        100.0 * g / peak
                    )),
                );
            }
            eprintln!("{line}");
            println!("{line}");
        }
    }
}
