use serde_json::json;

use super::*;
use crate::engine::data::split;

fn accepted(spec: serde_json::Value, runs_total: usize) -> Accepted {
    Accepted {
        spec: JobSpec::from_json(spec).unwrap(),
        memory: MemoryEstimate::default(),
        runs_total,
    }
}

#[test]
fn a_comparison_plans_every_strategy_on_the_same_folds_and_seeds_with_one_test_set() {
    let labels: Vec<u32> = (0..60).map(|i| u32::from(i % 3 == 0)).collect();
    let spec = json!({"dataset_id": "d", "seed": 11, "final_model": true,
        "validation": {"folds": 3, "repeats": 2, "test_fraction": 0.2},
        "imbalance": {"strategy": ["none", "smote"]}});
    let job = job(
        accepted(spec, 13),
        (&labels, two()),
        4,
        FoldSource::Stratified,
    )
    .unwrap();
    assert_eq!(job.runs.len(), 2 * 2 * 3 + 1);
    assert!(job.runs.iter().all(|r| r.max_attempts == 4));
    let seed_of = |s: Strategy, r: u32, f: u32| {
        let run = job
            .runs
            .iter()
            .find(|x| x.strategy == Some(s) && x.repeat == Some(r) && x.fold == Some(f));
        run.unwrap().seed
    };
    assert_eq!(
        seed_of(Strategy::None, 1, 2),
        seed_of(Strategy::Smote, 1, 2)
    );
    assert_ne!(seed_of(Strategy::None, 0, 2), seed_of(Strategy::None, 1, 2));
    let last = job.runs.last().unwrap();
    assert_eq!((last.kind, last.strategy), (RunKind::Final, None));
    // One test set for both repeats, 20% of each class; the folds split the rest.
    let test =
        |a: &[u32]| -> Vec<usize> { (0..a.len()).filter(|&i| a[i] == split::TEST_SET).collect() };
    assert_eq!(job.folds.len(), 2);
    assert_eq!(test(&job.folds[0]), test(&job.folds[1]));
    assert_eq!(test(&job.folds[0]).len(), 12);
    assert_ne!(
        job.folds[0], job.folds[1],
        "each repeat reshuffles the folds"
    );
    for f in 0..3 {
        assert_eq!(job.folds[0].iter().filter(|&&a| a == f).count(), 16);
    }
}

#[test]
fn a_test_set_that_leaves_too_few_rows_for_the_folds_is_refused() {
    let labels = [0, 0, 0, 0, 0, 0, 1, 1, 1];
    let spec = json!({"dataset_id": "d", "validation": {"folds": 3, "test_fraction": 0.4}});
    let err = job(
        accepted(spec, 4),
        (&labels, two()),
        3,
        FoldSource::Stratified,
    )
    .unwrap_err();
    assert_eq!(err.field, "validation.folds");
    assert!(
        err.message.contains("after holding out the test set"),
        "{}",
        err.message
    );
}

fn two() -> Vec<String> {
    vec!["a".into(), "b".into()]
}
