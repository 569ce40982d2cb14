//! Side by side with the scikit-learn reference (`../shared/reference/RESULTS.md`, strategy
//! `none`): stratified 5-fold CV with the standard spec (hidden [64, 64], relu, Adam 1e-3,
//! batch 64, 20 epochs, l2 1e-4, no early stopping, seed 0) on each dataset of
//! `../shared/data/`, through the same ingest → fold → encode → train → score path a job uses.
//!
//! Run: `cargo bench --bench compare`.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crossfold::domain::dataset::UploadFormat;
use crossfold::domain::job::{ImbalanceSpec, Strategy};
use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::cv::{self, ClassWeighting, Table};
use crossfold::engine::folds;
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
        size_hint: None,
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
                        weighting: ClassWeighting::Uniform,
                        sampler: cv::Sampler::None,
                        method: cv::Method::Single,
                        seed,
                        resume: None,
                        checkpoint_every: 0,
                    },
                    &AtomicBool::new(false),
                    &mut |_, _| {},
                )
                .expect("the fold trains")
            })
            .collect();
        let wall = start.elapsed().as_secs_f64();
        timings.push((name, wall, ref_wall));
        let summary = cv::summarize(
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
    strategies(&spec);
    println!();
    println!(
        "| dataset | crossfold wall s (5 folds, 1 thread, this run) | scikit-learn wall s (RESULTS.md, another run) |"
    );
    println!("|---|---|---|");
    for (name, ours, theirs) in timings {
        println!("| {name} | {ours:.2} | {theirs:.1} |");
    }
}

/// imbalanced-learn rows of RESULTS.md for caravan: strategy, balanced accuracy, PR-AUC.
/// `easy_ensemble` is RESULTS.md's `easyensemble` (EasyEnsembleClassifier, 10 MLPs); the two
/// strategies it has no row for are printed with their scores only.
const CARAVAN_STRATEGIES: [(&str, Option<(f64, f64)>); 9] = [
    ("none", Some((0.530, 0.135))),
    ("class_weight", Some((0.595, 0.130))),
    ("oversample", Some((0.546, 0.113))),
    ("smote", Some((0.551, 0.114))),
    ("undersample", Some((0.652, 0.147))),
    ("nearmiss", Some((0.518, 0.083))),
    ("easy_ensemble", Some((0.677, 0.164))),
    ("balance_cascade", None),
    ("one_class", None),
];

/// Each imbalance strategy on caravan, same folds, side by side with imbalanced-learn.
fn strategies(spec: &TrainingSpec) {
    let Some(parsed) = load("caravan") else {
        return;
    };
    let table = Table::new(&parsed.columns, parsed.label_index).unwrap();
    let assignment = folds::assign(&table.y, table.classes, 5, 0);
    println!();
    println!(
        "| caravan strategy | metric | crossfold mean ± std | imbalanced-learn | within max(1 std, 0.03) or better | wall s (5 folds) |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, reference) in CARAVAN_STRATEGIES {
        let strategy = Strategy::parse(name).expect("a strategy name");
        // The same mapping from strategy to engine options a job's runs use.
        let (weighting, sampler, method) = cv::plan(strategy, &ImbalanceSpec::default());
        let started = Instant::now();
        let scores: Vec<_> = (0..5u32)
            .map(|f| {
                let (train, test) = folds::split(&assignment, f);
                let options = cv::FoldOptions {
                    weighting: weighting.clone(),
                    sampler: sampler.clone(),
                    method,
                    seed: cv::derive_seed(0, 0, u64::from(f)),
                    resume: None,
                    checkpoint_every: 0,
                };
                cv::run_fold(
                    &table,
                    spec,
                    &train,
                    &test,
                    options,
                    &AtomicBool::new(false),
                    &mut |_, _| {},
                )
                .expect("the fold trains")
                .scores
                .expect("held-out rows")
            })
            .collect();
        let seconds = started.elapsed().as_secs_f64();
        let summary = cv::summarize(&scores);
        for (i, metric) in ["balanced_accuracy", "pr_auc"].into_iter().enumerate() {
            let s = summary[metric];
            let (reference, ok) = match reference {
                Some(r) => {
                    let r = if i == 0 { r.0 } else { r.1 };
                    let ok = s.mean >= r || (s.mean - r).abs() <= s.std.max(0.03);
                    (format!("{r:.3}"), if ok { "yes" } else { "NO" })
                }
                None => ("(no row)".to_owned(), "-"),
            };
            println!(
                "| {name} | {metric} | {:.3} ± {:.3} | {reference} | {ok} | {seconds:.1} |",
                s.mean, s.std,
            );
        }
    }
}
