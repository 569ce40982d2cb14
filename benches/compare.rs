//! Side by side with the scikit-learn reference (`../shared/reference/RESULTS.md`, strategy
//! `none`): stratified 5-fold CV with the standard spec (hidden [64, 64], relu, Adam 1e-3,
//! batch 64, 20 epochs, l2 1e-4, no early stopping, seed 0) on each dataset of
//! `../shared/data/`, through the same ingest → fold → encode → train → score path a job uses.
//!
//! Run: `cargo bench --bench compare`.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crossfold::domain::dataset::UploadFormat;
use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::data::split as folds;
use crossfold::engine::data::table::Table;
use crossfold::engine::eval::summary;
use crossfold::engine::fold::{self as cv};
use crossfold::engine::imbalance::plan::{ClassWeighting, Method, Sampler};
use crossfold::ingest::{IngestOptions, parse_upload};

/// scikit-learn rows of RESULTS.md: accuracy, balanced accuracy, ROC-AUC, wall seconds.
const REFERENCE: [(&str, f64, f64, f64, f64); 4] = [
    ("breast_cancer", 0.975, 0.973, 0.994, 0.4),
    ("digits", 0.969, 0.969, 0.998, 1.4),
    ("caravan", 0.928, 0.530, 0.679, 3.7),
    ("shuttle", 0.999, 0.850, 0.998, 22.1),
];

/// A shared dataset, parsed by the real ingest path (`None` when the file is absent).
fn load(name: &str) -> Option<crossfold::domain::dataset::ParsedDataset> {
    let path = format!("{}/../shared/data/{name}.csv", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(path).ok()?;
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
        size_hint: None,
        text_columns: Vec::new(),
        types: Vec::new(),
    };
    Some(parse_upload(bytes.as_slice(), &opts).expect("the dataset parses"))
}

fn main() {
    let mut spec = TrainingSpec::default();
    spec.training.epochs = 20;
    spec.training.l2 = 1e-4;
    spec.training.early_stopping = None;
    println!(
        "| dataset | metric | crossfold mean ± std | scikit-learn | within max(1 std, 0.02) or better |"
    );
    println!("|---|---|---|---|---|");
    let mut timings = Vec::new();
    for (name, ref_acc, ref_bal, ref_auc, ref_wall) in REFERENCE {
        let Some(parsed) = load(name) else {
            println!("| {name} | (skipped: ../shared/data/{name}.csv not found) | | | |");
            continue;
        };
        let start = Instant::now();
        let table = Table::new(&parsed.columns, parsed.label_index).unwrap();
        let assignment = folds::assign(&table.y, table.classes, 5, 0);
        let outcomes: Vec<_> = (0..5u32)
            .map(|f| {
                let (train, test) = folds::split(&assignment, f);
                let seed = cv::derive_seed(0, 0, u64::from(f));
                cv::run_fold(
                    &table,
                    &spec,
                    &train,
                    &test,
                    cv::FoldOptions {
                        leg: Default::default(),
                        weighting: ClassWeighting::Uniform,
                        sampler: Sampler::None,
                        method: Method::Single,
                        seed,
                        resume: None,
                        checkpoint_every: 0,
                        correct_probabilities: false,
                        warm: None,
                        encoding: None,
                        pretrain: None,
                    },
                    &AtomicBool::new(false),
                    &mut |_, _| {},
                )
                .expect("the fold trains")
            })
            .collect();
        let wall = start.elapsed().as_secs_f64();
        timings.push((name, wall, ref_wall));
        let summary = summary::summarize(
            &outcomes
                .iter()
                .map(|o| o.scores.clone().expect("held-out rows"))
                .collect::<Vec<_>>(),
        );
        for (metric, reference) in [
            ("accuracy", ref_acc),
            ("balanced_accuracy", ref_bal),
            ("roc_auc", ref_auc),
        ] {
            let s = summary[metric];
            let ok = s.mean >= reference || (s.mean - reference).abs() <= s.std.max(0.02);
            println!(
                "| {name} | {metric} | {:.3} ± {:.3} | {reference:.3} | {} |",
                s.mean,
                s.std,
                if ok { "yes" } else { "NO" }
            );
        }
    }
    println!();
    println!(
        "| dataset | crossfold wall s (5 folds, 1 thread, this run) | scikit-learn wall s (RESULTS.md, another run) |"
    );
    println!("|---|---|---|");
    for (name, ours, theirs) in timings {
        println!("| {name} | {ours:.2} | {theirs:.1} |");
    }
}
