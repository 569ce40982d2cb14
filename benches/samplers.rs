//! Sampler timings on one core: SMOTE and NearMiss-1 on a shuttle training fold (4/5 of
//! `../shared/data/shuttle.csv`, standardized) and on a random 13,000 × 216 matrix with a 10%
//! minority. Target: under 2 s each.
//!
//! Run: `cargo bench --bench samplers`.

use std::time::Instant;

use crossfold::domain::dataset::UploadFormat;
use crossfold::engine::data::encode::Encoding;
use crossfold::engine::data::split as folds;
use crossfold::engine::data::table::Table;
use crossfold::engine::imbalance::samplers::{self as resample, Matrix};
use crossfold::ingest::{IngestOptions, parse_upload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn time(name: &str, f: impl FnOnce() -> usize) {
    let start = Instant::now();
    let n = f();
    println!(
        "{name}: {:.3} s ({n} rows out)",
        start.elapsed().as_secs_f64()
    );
}

fn run(label: &str, x: &[f32], y: &[u32], d: usize, classes: usize) {
    let m = Matrix { x, d };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    time(&format!("{label} SMOTE (k=5, auto)"), || {
        resample::smote(m, y, classes, 1.0, 5, &mut rng).1.len()
    });
    time(&format!("{label} NearMiss-1 (n_neighbors=3, auto)"), || {
        resample::nearmiss(m, y, classes, 1, 3, 3, 1.0).len()
    });
}

fn main() {
    let path = format!("{}/../shared/data/shuttle.csv", env!("CARGO_MANIFEST_DIR"));
    match std::fs::read(&path) {
        Ok(bytes) => {
            let opts = IngestOptions {
                format: UploadFormat::Csv,
                label: "label".into(),
                delimiter: b',',
                max_rows: u64::MAX,
                max_columns: u64::MAX,
                max_cells: u64::MAX,
                max_classes: 100,
                max_sequence_steps: 10_000,
                sequence: None,
                size_hint: None,
                text_columns: Vec::new(),
                types: Vec::new(),
            };
            let parsed = parse_upload(bytes.as_slice(), &opts).unwrap();
            let table = Table::new(&parsed.columns, parsed.label_index).unwrap();
            let assignment = folds::assign(&table.y, table.classes, 5, 0);
            let (train, _) = folds::split(&assignment, 0);
            let encoding = Encoding::fit(&table.features, &train);
            let x = encoding.transform(&table.features, &train);
            let y: Vec<u32> = train.iter().map(|&r| table.y[r]).collect();
            println!(
                "shuttle training fold: {} rows x {} features, classes {:?}",
                y.len(),
                encoding.width(),
                resample::class_counts(&y, table.classes)
            );
            run("shuttle", &x, &y, encoding.width(), table.classes);
        }
        Err(_) => println!("shuttle: skipped ({path} not found)"),
    }
    let (n, d) = (13_000, 216);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x: Vec<f32> = (0..n * d).map(|_| rng.r#gen::<f32>()).collect();
    let y: Vec<u32> = (0..n).map(|i| u32::from(i % 10 == 0)).collect();
    println!("random: {n} rows x {d} features, 10% minority");
    run("13k x 216", &x, &y, d, 2);
}
