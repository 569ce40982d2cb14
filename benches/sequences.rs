//! GRU training throughput against PyTorch, measured in the same run: the reference spec of
//! `../shared/reference/bench/gru_attention_torch.py` (GRU 64, additive attention, Adam 1e-3,
//! batch 16, no early stopping, one thread) on GunPoint (50 sequences of 150 steps) and
//! JapaneseVowels (270 of 7–29 steps, 12 channels), trained on the whole `_TRAIN.ts`. Each
//! figure is the median of 3 runs, as the anchor's (3 seeds). Prints training sequences/s,
//! the ratios, and a final JSON line.
//!
//! Run: `cargo bench --bench sequences` (the anchor runs when `python3 -c "import torch"`
//! works: `pip install torch`). `EPOCHS` (default 30) sets the epochs of both.

#[path = "support/anchors.rs"]
mod anchors;

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crossfold::domain::dataset::{ColumnData, UploadFormat};
use crossfold::domain::spec::{AttentionKind, BatchSize, ModelKind, OptimizerSpec, TrainingSpec};
use crossfold::engine::data::encode::Encoding;
use crossfold::engine::data::rows::Rows;
use crossfold::engine::data::table::Table;
use crossfold::engine::train::{TrainRequest, train};
use crossfold::ingest::options::IngestOptions;
use crossfold::ingest::ts;

const RUNS: usize = 3;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sequences")
}

fn spec(epochs: u64) -> TrainingSpec {
    let mut spec = TrainingSpec::default();
    spec.model.kind = ModelKind::Gru;
    spec.model.hidden_size = 64;
    spec.model.attention = AttentionKind::Additive;
    spec.optimizer =
        serde_json::from_value(serde_json::json!({"kind": "adam", "learning_rate": 0.001}))
            .expect("an Adam spec");
    assert!(matches!(spec.optimizer, OptimizerSpec::Adam { .. }));
    spec.training.batch_size = BatchSize::Rows(16);
    spec.training.epochs = epochs;
    spec.training.early_stopping = None;
    spec
}

/// Trains on the whole `_TRAIN.ts` `RUNS` times: the median training sequences/s.
fn ours(name: &str, epochs: u64) -> f64 {
    let file = std::fs::File::open(data_dir().join(format!("{name}_TRAIN.ts"))).expect("the file");
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
    let parsed = ts::parse_dataset(BufReader::new(file), &opts).expect("a valid .ts file");
    let seqs = parsed.sequences.as_ref().expect("sequences");
    let table = Table::new(&parsed.columns, 0)
        .expect("a label column")
        .with_sequences(seqs);
    assert!(matches!(
        parsed.columns[0].data,
        ColumnData::Categorical { .. }
    ));
    let rows: Vec<usize> = (0..table.y.len()).collect();
    let encoding = Encoding::fit_table(&table, &rows);
    let (x, width) = encoding.transform_table(&table, &rows);
    let spec = spec(epochs);
    let mut rates = Vec::new();
    for seed in 0..RUNS as u64 {
        let req = TrainRequest {
            leg: Default::default(),
            spec: &spec,
            train: Rows {
                x: &x,
                y: &table.y,
                features: width,
            },
            holdout: None,
            classes: table.classes,
            class_weights: vec![1.0; table.classes],
            seed,
            resume: None,
            checkpoint_every: 0,
            objective: Default::default(),
            channels: Some(seqs.channels),
            warm: None,
            pretrain: None,
        };
        let start = Instant::now();
        train(&req, &AtomicBool::new(false), &mut |_, _| {}).expect("training runs");
        rates.push((rows.len() as u64 * epochs) as f64 / start.elapsed().as_secs_f64());
    }
    median(rates)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let epochs: u64 = std::env::var("EPOCHS")
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(30);
    let anchor = anchors::available("torch");
    if !anchor {
        println!("PyTorch is not installed: crossfold's figures only (pip install torch)");
    }
    let mut json = serde_json::Map::new();
    println!("GRU 64 + additive attention, Adam 1e-3, batch 16, {epochs} epochs, 1 thread");
    println!(
        "{:<16} {:>16} {:>16} {:>8}",
        "dataset", "crossfold seq/s", "PyTorch seq/s", "ratio"
    );
    for name in ["GunPoint", "JapaneseVowels"] {
        let ours = ours(name, epochs);
        let theirs = anchor.then(|| anchors::gru(&data_dir(), name, epochs, RUNS));
        let ratio = theirs.map(|t| ours / t);
        println!(
            "{:<16} {:>16.0} {:>16} {:>8}",
            name,
            ours,
            theirs.map_or("-".into(), |t| format!("{t:.0}")),
            ratio.map_or("-".into(), |r| format!("{r:.2}x")),
        );
        json.insert(
            name.to_owned(),
            serde_json::json!({"crossfold_seq_per_s": ours, "torch_seq_per_s": theirs, "ratio": ratio}),
        );
    }
    json.insert("epochs".into(), epochs.into());
    println!("{}", serde_json::Value::Object(json));
}
