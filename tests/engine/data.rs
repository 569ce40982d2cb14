//! Loading a fixture CSV into a standardized, stratified 80/20 split.

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::data::rows::{Rows, stratified_split};
use crossfold::engine::train::TrainRequest;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Features (rows × features) and class indices of a split.
pub struct Split {
    pub x: Vec<f32>,
    pub y: Vec<u32>,
}

pub struct Data {
    pub train: Split,
    pub test: Split,
    pub features: usize,
    pub classes: usize,
}

/// Reads `label`-last numeric CSV fixtures (classes are 0..k), splits 80/20 stratified by
/// `seed`, and standardizes with the training part's mean and std.
pub fn load(name: &str, seed: u64) -> Data {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let label = headers.iter().position(|h| h == "label").unwrap();
    let features = headers.len() - 1;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let rec = rec.unwrap();
        for (j, v) in rec.iter().enumerate() {
            if j == label {
                y.push(v.parse::<f64>().unwrap() as u32);
            } else {
                x.push(v.parse::<f32>().unwrap());
            }
        }
    }
    let classes = *y.iter().max().unwrap() as usize + 1;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (train_idx, test_idx) = stratified_split(&y, classes, 0.2, &mut rng);
    let take = |idx: &[usize]| Split {
        x: idx
            .iter()
            .flat_map(|&r| x[r * features..(r + 1) * features].iter().copied())
            .collect(),
        y: idx.iter().map(|&r| y[r]).collect(),
    };
    let (mut train, mut test) = (take(&train_idx), take(&test_idx));
    for j in 0..features {
        let col: Vec<f64> = train
            .x
            .iter()
            .skip(j)
            .step_by(features)
            .map(|&v| f64::from(v))
            .collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let std = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
        let std = if std > 0.0 { std } else { 1.0 };
        for s in [&mut train, &mut test] {
            for v in s.x.iter_mut().skip(j).step_by(features) {
                *v = ((f64::from(*v) - mean) / std) as f32;
            }
        }
    }
    Data {
        train,
        test,
        features,
        classes,
    }
}

/// A request to train on `data`'s training part, scored on its test part, unweighted.
pub fn request<'a>(data: &'a Data, spec: &'a TrainingSpec, seed: u64) -> TrainRequest<'a> {
    TrainRequest {
        leg: Default::default(),
        spec,
        train: Rows {
            x: &data.train.x,
            y: &data.train.y,
            features: data.features,
        },
        holdout: Some(Rows {
            x: &data.test.x,
            y: &data.test.y,
            features: data.features,
        }),
        classes: data.classes,
        class_weights: vec![1.0; data.classes],
        seed,
        resume: None,
        checkpoint_every: 0,
        objective: Default::default(),
        channels: None,
        warm: None,
        pretrain: None,
    }
}
