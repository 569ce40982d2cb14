//! Cross-validation end to end on a real upload: folds partition the rows, encodings are fitted
//! on training rows only, and summaries and pooled scores are consistent with the folds.

use std::sync::atomic::AtomicBool;

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::data::encode::FeatureEncoding;
use crossfold::engine::data::split as folds;
use crossfold::engine::data::table::Table;
use crossfold::engine::eval::summary;
use crossfold::engine::fold::{self as cv};
use crossfold::engine::imbalance::plan::{ClassWeighting, Method, Sampler};
use crossfold::ingest::{IngestOptions, parse_upload};

#[test]
fn five_fold_cross_validation_on_breast_cancer_is_accurate_and_consistent() {
    let path = format!(
        "{}/tests/fixtures/breast_cancer.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(path).unwrap();
    let opts = IngestOptions::csv("label");
    let parsed = parse_upload(bytes.as_slice(), &opts).unwrap();
    let table = Table::new(&parsed.columns, parsed.label_index).unwrap();
    let mut spec = TrainingSpec::default();
    spec.training.epochs = 10;
    let assignment = folds::assign(&table.y, table.classes, 5, 0);
    let outcomes: Vec<_> = (0..5u32)
        .map(|f| {
            let (train, test) = folds::split(&assignment, f);
            cv::run_fold(
                &table,
                &spec,
                &train,
                &test,
                cv::FoldOptions {
                    leg: Default::default(),
                    weighting: ClassWeighting::Balanced,
                    sampler: Sampler::None,
                    method: Method::Single,
                    seed: cv::derive_seed(0, 0, f as u64),
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
            .unwrap()
        })
        .collect();
    let total: Vec<u64> = parsed.classes.iter().map(|c| c.count).collect();
    for o in &outcomes {
        // The audit trail: training counts plus held-out counts are the dataset's counts.
        let mut held = vec![0u64; table.classes];
        for &r in &o.rows {
            held[table.y[r] as usize] += 1;
        }
        let sum: Vec<u64> = o
            .train_class_counts
            .iter()
            .zip(&held)
            .map(|(a, b)| a + b)
            .collect();
        assert_eq!(sum, total);
    }
    let scores: Vec<_> = outcomes.iter().map(|o| o.scores.clone().unwrap()).collect();
    let summary = summary::summarize(&scores);
    assert!(
        summary["accuracy"].mean >= 0.95,
        "{:?}",
        summary["accuracy"]
    );
    let accs: Vec<f64> = scores.iter().map(|s| s.accuracy).collect();
    assert_eq!(
        summary["accuracy"].min,
        accs.iter().copied().fold(f64::INFINITY, f64::min)
    );
    // Pooled accuracy is the fold accuracies weighted by fold size.
    let pooled = cv::pooled(&table, &outcomes);
    let weighted: f64 = outcomes
        .iter()
        .map(|o| o.scores.as_ref().unwrap().accuracy * o.rows.len() as f64)
        .sum::<f64>()
        / table.y.len() as f64;
    assert!((pooled.accuracy - weighted).abs() < 1e-12);
    let ref_means: Vec<f64> = (0..5)
        .map(|i| {
            let FeatureEncoding::Numeric { mean, .. } = &outcomes[i].encoding.features[0] else {
                unreachable!()
            };
            *mean
        })
        .collect();
    assert!(
        ref_means.windows(2).any(|w| w[0] != w[1]),
        "each fold fits its own scaler"
    );
}
