//! Stratified group k-fold against scikit-learn's `StratifiedGroupKFold(shuffle=False)` on the
//! cases of `tests/fixtures/group_folds.json` (written by `make_group_folds.py`), and its
//! guarantees with the seed's shuffle: no group in two folds, and with one row per group the
//! folds are as stratified as rows allow.

use crossfold::domain::dataset::ColumnData;
use crossfold::engine::data::group_split::{assign_groups, group_index};

use crate::helpers::fixture;

fn numbers(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn the_folds_equal_scikit_learns_stratified_group_k_fold() {
    let file = fixture("group_folds.json");
    for (i, case) in file["cases"].as_array().unwrap().iter().enumerate() {
        let y = numbers(&case["y"]);
        let groups: Vec<f32> = numbers(&case["groups"]).iter().map(|&g| g as f32).collect();
        let (classes, folds) = (
            case["classes"].as_u64().unwrap() as usize,
            case["folds"].as_u64().unwrap() as usize,
        );
        let (index, n) = group_index(&ColumnData::Numeric(groups)).unwrap();
        let got = assign_groups(&y, classes, &index, n, folds, None);
        assert_eq!(got, numbers(&case["fold_of"]), "case {i}");
    }
}

#[test]
fn shuffled_folds_never_split_a_group_and_singletons_stratify_to_the_row() {
    let file = fixture("group_folds.json");
    let case = &file["cases"][1];
    let y = numbers(&case["y"]);
    let groups: Vec<f32> = numbers(&case["groups"]).iter().map(|&g| g as f32).collect();
    let (index, n) = group_index(&ColumnData::Numeric(groups)).unwrap();
    for seed in 0..5 {
        let folds = assign_groups(&y, 2, &index, n, 5, Some(seed));
        for g in 0..n as u32 {
            let mut of = (0..y.len()).filter(|&r| index[r] == g).map(|r| folds[r]);
            let first = of.next().unwrap();
            assert!(of.all(|f| f == first), "seed {seed}: group {g} is split");
        }
        assert!(
            (0..5).all(|f| folds.contains(&f)),
            "seed {seed}: an empty fold"
        );
    }
    // One row per group: every fold's class count within one row of count / folds.
    let y: Vec<u32> = (0..103u32)
        .map(|i| (i * 7919 % 13 < 3) as u32 + (i % 11 == 0) as u32)
        .collect();
    let singletons: Vec<u32> = (0..103).collect();
    for seed in [1, 2, 3] {
        let folds = assign_groups(&y, 3, &singletons, 103, 4, Some(seed));
        for c in 0..3 {
            let total = y.iter().filter(|&&v| v == c).count() as f64;
            for f in 0..4 {
                let n = (0..103).filter(|&r| y[r] == c && folds[r] == f).count() as f64;
                assert!(
                    (n - total / 4.0).abs() < 1.0,
                    "seed {seed}: class {c} has {n} rows in fold {f} of {total}"
                );
            }
        }
    }
}
