//! Under-sampling ensembles and the one-class autoencoder: what each member trains on, how the
//! cascade's pool shrinks, that predictions average the members, that an interrupted ensemble
//! resumes to the same models, and the calibration against scikit-learn.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::checkpoint;
use crossfold::engine::data::rows::Rows;
use crossfold::engine::eval::scores::roc_auc;
use crossfold::engine::imbalance::calibration;
use crossfold::engine::imbalance::ensemble::{self, Kind};
use crossfold::engine::imbalance::one_class;
use crossfold::engine::imbalance::samplers::class_counts;
use crossfold::engine::model::infer::predict_rows;
use crossfold::engine::train::{TrainRequest, Trained};

use crate::data::{Data, load, request};

fn spec() -> TrainingSpec {
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = vec![16];
    spec.training.epochs = 3;
    spec.training.early_stopping = None;
    spec
}

/// The checkpoint's own prediction of the test rows, after a round trip through its bytes.
fn checkpoint_proba(trained: &Trained, data: &Data) -> Vec<f64> {
    let bytes = checkpoint::to_bytes(&trained.state, trained.calibration.as_ref(), None).unwrap();
    let mut loaded = checkpoint::from_bytes(&bytes).unwrap().predictor();
    loaded.proba(&data.test.x, data.test.y.len())
}

#[test]
fn easy_ensemble_members_train_on_balanced_under_samples_and_average() {
    let data = load("breast_cancer.csv", 0);
    let spec = spec();
    let req = request(&data, &spec, 1);
    let seen = Mutex::new(Vec::new());
    let e = ensemble::fit(
        Kind::Easy,
        3,
        1.0,
        &req,
        &AtomicBool::new(false),
        &mut |r, _| seen.lock().unwrap().push((r.epoch, r.member, r.samples)),
    )
    .unwrap();
    let counts = class_counts(&data.train.y, 2);
    let minority = *counts.iter().min().unwrap();
    assert_eq!(e.member_counts, vec![vec![minority, minority]; 3]);
    assert_eq!(e.pool_counts, vec![counts.clone(); 3]);
    // One run's epochs: numbered on across members, each on its balanced under-sample.
    let want: Vec<(u64, Option<u64>, u64)> =
        (0..9).map(|i| (i + 1, Some(i / 3), 2 * minority)).collect();
    assert_eq!(*seen.lock().unwrap(), want);
    assert_eq!(e.trained.state.members.len(), 2);
    // The fold's scores are the mean of the three members' probabilities, and the checkpoint
    // (after a round trip through its bytes) predicts the same.
    let held: Vec<f64> = e
        .trained
        .holdout_proba
        .clone()
        .unwrap()
        .iter()
        .map(|&p| f64::from(p))
        .collect();
    let ck = &e.trained.state;
    let rows = Rows {
        x: &data.test.x,
        y: &data.test.y,
        features: data.features,
    };
    let idx: Vec<usize> = (0..data.test.y.len()).collect();
    let mut mean = vec![0.0f64; held.len()];
    for model in ck.members.iter().chain(std::iter::once(&ck.model)) {
        let p = predict_rows(&mut model.clone(), rows, &idx);
        for (m, v) in mean.iter_mut().zip(p) {
            *m += f64::from(v) / 3.0;
        }
    }
    let predicted = checkpoint_proba(&e.trained, &data);
    assert_eq!(held.len(), predicted.len());
    for ((a, b), c) in held.iter().zip(&predicted).zip(&mean) {
        assert!(
            (a - b).abs() < 1e-6 && (a - c).abs() < 1e-6,
            "{a} vs {b} vs {c}"
        );
    }
    // Members differ (different under-samples and seeds), so averaging is not a no-op.
    let ck = &e.trained.state;
    assert_ne!(ck.members[0].params()[0].data, ck.model.params()[0].data);
}

#[test]
fn balance_cascade_shrinks_the_majority_pool_to_its_balanced_size() {
    let data = load("breast_cancer.csv", 0);
    let spec = spec();
    let req = request(&data, &spec, 2);
    let members = 4;
    let e = ensemble::fit(
        Kind::Cascade,
        members,
        1.0,
        &req,
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    let counts = class_counts(&data.train.y, 2);
    let (minor, major) = if counts[0] < counts[1] {
        (0, 1)
    } else {
        (1, 0)
    };
    let f = (counts[minor] as f64 / counts[major] as f64).powf(1.0 / (members - 1) as f64);
    assert_eq!(e.pool_counts[0], counts);
    for m in 1..members {
        let (prev, now) = (&e.pool_counts[m - 1], &e.pool_counts[m]);
        assert_eq!(now[minor], counts[minor], "the minority is never dropped");
        let want = ((prev[major] as f64 * f).round() as u64).max(counts[minor]);
        assert_eq!(now[major], want, "round {m}");
    }
    assert_eq!(e.pool_counts[members - 1][major], counts[minor]);
    for c in &e.member_counts {
        assert_eq!(c[0], c[1], "every member is balanced: {c:?}");
    }
}

#[test]
fn an_interrupted_ensemble_resumes_to_the_same_models() {
    let data = load("breast_cancer.csv", 0);
    let spec = spec();
    let req = TrainRequest {
        checkpoint_every: 1,
        ..request(&data, &spec, 3)
    };
    let saved = Mutex::new(None);
    let full = ensemble::fit(
        Kind::Cascade,
        3,
        1.0,
        &req,
        &AtomicBool::new(false),
        &mut |r, ck| {
            // Member 1, second epoch: one member done, one half way.
            if r.epoch == 5 {
                *saved.lock().unwrap() = ck.map(|c| checkpoint::to_bytes(c, None, None).unwrap());
            }
        },
    )
    .unwrap();
    let bytes = saved
        .lock()
        .unwrap()
        .take()
        .expect("a checkpoint at epoch 5");
    let resume = checkpoint::from_bytes(&bytes).unwrap().state;
    assert_eq!((resume.members.len(), resume.epoch_offset), (1, 3));
    let resumed_epochs = Mutex::new(Vec::new());
    let resumed = ensemble::fit(
        Kind::Cascade,
        3,
        1.0,
        &TrainRequest {
            resume: Some(resume),
            ..req.clone()
        },
        &AtomicBool::new(false),
        &mut |r, _| resumed_epochs.lock().unwrap().push(r.epoch),
    )
    .unwrap();
    assert_eq!(*resumed_epochs.lock().unwrap(), vec![6, 7, 8, 9]);
    assert_eq!(resumed.member_counts, full.member_counts);
    assert_eq!(resumed.pool_counts, full.pool_counts);
    assert_eq!(resumed.trained.holdout_proba, full.trained.holdout_proba);
}

#[test]
fn one_class_scores_the_minority_by_reconstruction_error() {
    let data = load("breast_cancer.csv", 0);
    let mut spec = spec();
    spec.training.epochs = 20;
    let req = request(&data, &spec, 4);
    let o = one_class::fit(&req, &AtomicBool::new(false), &mut |_, _| {}).unwrap();
    let counts = class_counts(&data.train.y, 2);
    let major = usize::from(counts[1] > counts[0]);
    assert_eq!(o.calibration.majority, major);
    assert_eq!(o.trained_counts[major], counts[major]);
    assert_eq!(o.trained_counts[1 - major], 0, "it never sees the minority");
    let proba = o.trained.holdout_proba.clone().unwrap();
    let minority_score: Vec<f64> = proba.chunks(2).map(|p| f64::from(p[1 - major])).collect();
    let positive: Vec<bool> = data.test.y.iter().map(|&c| c as usize != major).collect();
    let auc = roc_auc(&positive, &minority_score).unwrap();
    // Malignant tumours reconstruct worse than benign ones, trained on benign alone.
    assert!(auc > 0.75, "ROC-AUC {auc}");
    assert!(o.calibration.slope > 0.0, "more error, more minority");
    let predicted = checkpoint_proba(&o.trained, &data);
    for (a, b) in proba.iter().zip(&predicted) {
        assert!((f64::from(*a) - b).abs() < 1e-6);
    }
}

/// scikit-learn 1.9: `LogisticRegression(class_weight="balanced", C=1.0, tol=1e-14,
/// solver="newton-cholesky")` on these `z`, `t` gives coef 1.107856652833, intercept
/// −0.910266314610 (lbfgs stops 1.5e-8 short of that optimum).
#[test]
fn calibration_matches_scikit_learns_balanced_logistic_regression() {
    let z: Vec<f64> = (0..100)
        .map(|i| ((i * 37) % 101) as f64 / 25.0 - 2.0 + if i % 5 == 0 { 1.5 } else { 0.0 })
        .collect();
    let t: Vec<bool> = (0..100).map(|i| i % 5 == 0).collect();
    let (slope, intercept) = calibration::fit_logistic(&z, &t);
    assert!((slope - 1.107856652833).abs() < 1e-9, "{slope}");
    assert!((intercept + 0.910266314610).abs() < 1e-9, "{intercept}");
}
