//! The learning-rate range test: its smoothing, stopping and reading of the rate against fastai's
//! finder replayed in Python (`tests/fixtures/rate_range.json`), and `"auto"` training: a run
//! that chose its rate trains exactly as one given that rate, and a resumed run keeps it.

use std::sync::atomic::AtomicBool;

use crossfold::domain::learning_rate::{LearningRate, RangePoint};
use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::checkpoint;
use crossfold::engine::train::rate_range::{RangeTest, Smoother, choose, valley};
use crossfold::engine::train::{TrainRequest, TrainState, train};

use crate::checkpoints::{keeping_checkpoints, timeless};
use crate::data::{Data, load, request};
use crate::helpers::fixture;

#[test]
fn smoothing_stopping_and_the_chosen_rate_match_fastais_finder() {
    let golden = fixture("rate_range.json");
    let test = RangeTest::default();
    for case in golden["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut smoother = Smoother::new(test);
        let mut points = Vec::new();
        for (i, raw) in case["raw_losses"].as_array().unwrap().iter().enumerate() {
            let loss = raw.as_f64().unwrap();
            let (smoothed_loss, stop) = smoother.push(loss);
            points.push(RangePoint {
                learning_rate: test.rate(i),
                loss,
                smoothed_loss,
            });
            if stop {
                break;
            }
        }
        let want: Vec<f64> = (case["smoothed_losses"].as_array().unwrap().iter())
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(points.len(), want.len(), "{name}: where it stops");
        for (p, (w, lr)) in points
            .iter()
            .zip(want.iter().zip(case["learning_rates"].as_array().unwrap()))
        {
            assert!(
                (p.smoothed_loss - w).abs() <= 1e-12 * w.abs(),
                "{name}: {p:?} vs {w}"
            );
            let lr = lr.as_f64().unwrap();
            assert!(
                (p.learning_rate - lr).abs() <= 1e-12 * lr,
                "{name}: rate {p:?} vs {lr}"
            );
        }
        let chosen = choose(&test, &points);
        let want = case["chosen"].as_f64().unwrap();
        assert!(
            (chosen - want).abs() <= 1e-12 * want,
            "{name}: chose {chosen}, fastai {want}"
        );
    }
    for v in golden["valleys"].as_array().unwrap() {
        let losses: Vec<f64> = (v["losses"].as_array().unwrap().iter())
            .map(|x| x.as_f64().unwrap())
            .collect();
        let want = v["index"].as_i64().unwrap().rem_euclid(losses.len() as i64) as usize;
        assert_eq!(valley(&losses), want, "{losses:?}");
    }
}

fn auto_spec() -> TrainingSpec {
    let mut spec = TrainingSpec {
        optimizer: serde_json::from_value(serde_json::json!({
            "kind": "sgd", "learning_rate": "auto", "momentum": 0.9
        }))
        .unwrap(),
        ..TrainingSpec::default()
    };
    spec.training.epochs = 6;
    spec.training.early_stopping = Some(Default::default());
    spec
}

fn req<'a>(data: &'a Data, spec: &'a TrainingSpec, resume: Option<TrainState>) -> TrainRequest<'a> {
    TrainRequest {
        resume,
        checkpoint_every: 1,
        ..request(data, spec, 3)
    }
}

#[test]
fn an_auto_rate_run_trains_as_one_given_the_chosen_rate_and_a_resume_keeps_it() {
    let data = load("breast_cancer.csv", 0);
    let spec = auto_spec();
    let (auto, saved) = keeping_checkpoints(&req(&data, &spec, None));
    let range = auto
        .state
        .rate_range
        .clone()
        .expect("the range test is kept");
    assert_eq!(range.rule, "valley_minimum");
    assert!(range.points.len() > 20, "{} points", range.points.len());
    assert!(
        range
            .points
            .windows(2)
            .all(|w| w[1].learning_rate > w[0].learning_rate)
    );
    assert_eq!(range.chosen, choose(&RangeTest::default(), &range.points));
    // A sensible SGD rate: the loss falls there, and it is far from both ends.
    assert!(
        (1e-4..1.0).contains(&range.chosen),
        "chose {}",
        range.chosen
    );
    assert_eq!(
        auto.state.spec.optimizer.learning_rate(),
        LearningRate::Fixed(range.chosen)
    );
    assert!(auto.history.iter().all(|e| e.learning_rate == range.chosen));

    let fixed = TrainingSpec {
        optimizer: spec.optimizer.clone().with_learning_rate(range.chosen),
        ..spec.clone()
    };
    let given = train(
        &req(&data, &fixed, None),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        timeless(&given),
        timeless(&auto),
        "the test leaves no trace"
    );
    assert_eq!(given.state.model, auto.state.model);

    let second = checkpoint::from_bytes(&saved[1]).unwrap().state;
    assert_eq!(
        second.rate_range, auto.state.rate_range,
        "kept in the checkpoint"
    );
    let resumed = train(
        &req(&data, &spec, Some(second)),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(timeless(&resumed), timeless(&auto));
    assert_eq!(resumed.state.rate_range, auto.state.rate_range);
}
