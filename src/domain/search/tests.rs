use serde_json::json;

use super::*;

fn search(value: Value) -> SearchSpec {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_grid_lists_every_combination_the_last_field_fastest() {
    let s = search(json!({"method": "grid", "space": {
        "model.hidden_layers": {"choice": [[8], [16, 8]]},
        "training.batch_size": {"int": [31, 33]}}}));
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    let trials = s.trials(0);
    let pairs: Vec<(Value, Value)> = trials
        .iter()
        .map(|t| {
            (
                t["model.hidden_layers"].clone(),
                t["training.batch_size"].clone(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            (json!([8]), json!(31)),
            (json!([8]), json!(32)),
            (json!([8]), json!(33)),
            (json!([16, 8]), json!(31)),
            (json!([16, 8]), json!(32)),
            (json!([16, 8]), json!(33)),
        ]
    );
}

#[test]
fn random_draws_stay_in_range_and_are_the_same_for_a_seed() {
    let s = search(json!({"method": "random", "trials": 20, "space": {
        "optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]},
        "model.dropout": {"uniform": [0.0, 0.5]},
        "model.activation": {"choice": ["relu", "tanh"]}}}));
    let trials = s.trials(7);
    assert_eq!(trials.len(), 20);
    for t in &trials {
        let lr = t["optimizer.learning_rate"].as_f64().unwrap();
        let dropout = t["model.dropout"].as_f64().unwrap();
        assert!(
            (1e-4..1e-1).contains(&lr) && (0.0..0.5).contains(&dropout),
            "{t:?}"
        );
    }
    // Log-uniform: about half the draws below the geometric middle (3.2e-3).
    let low = trials
        .iter()
        .filter(|t| t["optimizer.learning_rate"].as_f64().unwrap() < 3.16e-3);
    assert!((5..=15).contains(&low.count()));
    assert_eq!(s.trials(7), trials);
    assert_ne!(s.trials(8), trials);
}

#[test]
fn bad_spaces_are_named_at_their_paths() {
    let s = search(json!({"method": "grid", "trials": 3, "space": {
        "optimizer.learning_rate": {"log_uniform": [0.0, 1.0]},
        "validation.folds": {"int": [2, 5]}}}));
    let mut fields: Vec<String> = s.validate().into_iter().map(|e| e.field).collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "search.space.optimizer.learning_rate",
            "search.space.validation.folds",
            "search.trials"
        ]
    );
    let many = search(
        json!({"method": "random", "trials": 33, "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}),
    );
    assert_eq!(many.validate()[0].field, "search.trials");
}

#[test]
fn a_trial_is_applied_at_its_paths_and_a_value_the_field_refuses_is_named() {
    let base = TrainingSpec::default();
    let trial: Trial = [
        ("optimizer.learning_rate".to_string(), json!(0.003)),
        ("model.hidden_layers".to_string(), json!([32])),
    ]
    .into();
    let spec = apply(&base, &trial).unwrap();
    assert_eq!(spec.model.hidden_layers, vec![32]);
    assert_eq!(
        serde_json::to_value(&spec.optimizer).unwrap()["learning_rate"],
        json!(0.003)
    );
    let bad: Trial = [("model.hidden_layer".to_string(), json!([32]))].into();
    assert_eq!(
        apply(&base, &bad).unwrap_err().field,
        "search.space.model.hidden_layer"
    );
    let bad: Trial = [("training.epochs".to_string(), json!("many"))].into();
    assert_eq!(
        apply(&base, &bad).unwrap_err().field,
        "search.space.training.epochs"
    );
}

#[test]
fn a_trial_reads_in_words() {
    let trial: Trial = [
        ("optimizer.learning_rate".to_string(), json!(0.0031415)),
        ("model.hidden_layers".to_string(), json!([128, 64])),
    ]
    .into();
    assert_eq!(
        describe(&trial),
        "hidden_layers [128,64] · learning_rate 0.00314"
    );
}

#[test]
fn a_job_s_variants_are_its_trials_each_with_its_own_epochs_and_words() {
    let spec = crate::domain::job::JobSpec::from_json(json!({
        "dataset_id": "ds_1", "seed": 4, "training": {"epochs": 5},
        "search": {"method": "grid", "space": {
            "training.epochs": {"choice": [3, 7]},
            "model.hidden_layers": {"choice": [[8], [16]]}}}}))
    .unwrap();
    assert_eq!(spec.variant_count(), 4);
    let epochs: Vec<u64> = (0..4).map(|v| spec.variant_epochs(v)).collect();
    assert_eq!(epochs, vec![3, 7, 3, 7]);
    assert_eq!(spec.most_epochs(), 7);
    assert_eq!(spec.variant_model(2).hidden_layers, vec![16]);
    assert_eq!(spec.describe_variant(3), "hidden_layers [16] · epochs 7");
    assert_eq!(
        spec.variant_field(1, ".kind"),
        "search.trials[1].model.kind"
    );
    let alone = spec.trial_alone(1);
    assert!(alone.search.is_none() && !alone.has_model_variants());
    assert_eq!(
        (
            alone.training.epochs,
            alone.model.variant(0).hidden_layers.clone()
        ),
        (7, vec![8])
    );
}

#[test]
fn asha_rungs_grow_by_eta_from_the_first_to_the_epochs() {
    let s = search(
        json!({"method": "asha", "trials": 9, "reduction_factor": 3, "min_epochs": 5,
        "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}),
    );
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    assert_eq!(s.rungs(100), vec![5, 15, 45, 100]);
    assert_eq!(s.rungs(45), vec![5, 15, 45]);
    // Default first rung: epochs / η³.
    let d = search(json!({"method": "asha", "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}));
    assert_eq!(d.rungs(54), vec![2, 6, 18, 54]);
    assert_eq!(d.rungs(10), vec![1, 3, 9, 10]);
    let r =
        search(json!({"method": "random", "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}));
    assert_eq!(r.rungs(10), vec![10]);
}

#[test]
fn halving_settings_are_checked_and_belong_to_asha() {
    let fields =
        |v: Value| -> Vec<String> { search(v).validate().into_iter().map(|e| e.field).collect() };
    let space = json!({"model.dropout": {"uniform": [0.0, 0.5]}});
    assert_eq!(
        fields(json!({"method": "random", "reduction_factor": 3, "space": space})),
        ["search.reduction_factor"]
    );
    assert_eq!(
        fields(json!({"method": "asha", "reduction_factor": 1, "min_epochs": 0, "space": space})),
        ["search.reduction_factor", "search.min_epochs"]
    );
    assert_eq!(
        fields(json!({"method": "asha", "trials": 2, "space": space})),
        ["search.trials"]
    );
}
