//! The job-level rules on hand-made runs: merging runs' findings, class imbalance,
//! degradation, and the remedies as merge patches.

use serde_json::json;

use super::{ctx, epoch, healthy, no_early_stopping};
use crate::diagnose::job_rules::job_findings;
use crate::diagnose::run_rules::{RunEnd, diagnose};
use crate::domain::finding::{Kind, RunDiagnosis, Severity};
use crate::domain::job::{JobSpec, Strategy};
use crate::domain::results::{RunKind, RunResult, RunState};
use crate::engine::eval::scores::Scores;
use crate::engine::train::{EpochRecord, Stop};
use crate::store::run_data::RunRow;

pub(super) fn run(
    id: &str,
    fold: u32,
    variant: u32,
    strategy: Strategy,
    d: RunDiagnosis,
    scores: (f64, f64),
) -> RunRow {
    let metrics = Scores {
        accuracy: scores.0,
        balanced_accuracy: scores.1,
        precision_macro: 0.0,
        recall_macro: 0.0,
        f1_macro: 0.0,
        g_mean: 0.0,
        roc_auc: None,
        pr_auc: None,
        log_loss: 0.3,
        brier_score: None,
        ece: None,
        confusion_matrix: Vec::new(),
    };
    RunRow {
        id: id.into(),
        kind: RunKind::Fold,
        strategy: Some(strategy),
        variant,
        fold: Some(fold),
        repeat: Some(0),
        state: RunState::Succeeded,
        attempt: 1,
        epochs_done: d.epochs,
        error: None,
        kernels: None,
        resumed_on_kernels: Vec::new(),
        result: Some(RunResult {
            strategy,
            variant: variant as usize,
            best_epoch: 1,
            stop: Stop::Completed,
            epochs_run: d.epochs,
            metrics: Some(metrics),
            train_class_counts: vec![940, 60],
            validation_class_counts: vec![235, 15],
            resampled_class_counts: vec![940, 60],
            member_class_counts: None,
            class_weights: vec![1.0, 1.0],
            encoding: None,
            cv_epochs: None,
            rung_losses: Vec::new(),
            rate_range: None,
            loss_target: None,
        }),
        diagnosis: d,
    }
}

pub(super) fn spec(mut value: serde_json::Value) -> JobSpec {
    value["dataset_id"] = json!("d");
    JobSpec::from_json(value).unwrap()
}

/// Warnings and errors.
fn warned(found: &[crate::domain::finding::Finding]) -> Vec<&crate::domain::finding::Finding> {
    found
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect()
}

#[test]
fn imbalance_with_no_strategy_and_a_balanced_accuracy_gap_is_a_warning_with_class_weights() {
    let plain = RunDiagnosis {
        findings: vec![],
        train_loss: Some(0.1),
        epochs: 10,
    };
    let job = spec(json!({}));
    let runs: Vec<RunRow> = (0..3)
        .map(|f| {
            run(
                &format!("r{f}"),
                f,
                0,
                Strategy::None,
                plain.clone(),
                (0.93, 0.52),
            )
        })
        .collect();
    let found = job_findings(&job, &runs, &crate::config::Limits::default());
    assert_eq!(found.len(), 1);
    let f = &found[0];
    // Its id by hand: class_imbalance is kind 4, strategy none is 1 (from 1), variant 0.
    assert_eq!(
        (f.kind, f.severity, f.id),
        (Kind::ClassImbalance, Severity::Warning, 4 + 10)
    );
    assert!((f.evidence.values["imbalance_ratio"] - 1175.0 / 75.0).abs() < 1e-12);
    assert_eq!(f.remedy, json!({"imbalance": {"strategy": "class_weight"}}));
    assert_eq!(f.folds, [0, 1, 2]);
    // A strategy that handles it: info.
    let job = spec(json!({"imbalance": {"strategy": "class_weight"}}));
    let runs: Vec<RunRow> = (0..3)
        .map(|f| {
            run(
                &format!("r{f}"),
                f,
                0,
                Strategy::ClassWeight,
                plain.clone(),
                (0.85, 0.6),
            )
        })
        .collect();
    assert_eq!(
        job_findings(&job, &runs, &crate::config::Limits::default())[0].severity,
        Severity::Info
    );
}

#[test]
fn a_deeper_variant_that_trains_worse_is_degradation_and_its_remedy_patches_that_variant() {
    let job = spec(json!({"model": [
        {"hidden_layers": [64, 64]},
        {"hidden_layers": [64, 64, 64, 64, 64, 64]}
    ]}));
    let loss = |l| RunDiagnosis {
        findings: vec![],
        train_loss: Some(l),
        epochs: 20,
    };
    let mut runs = Vec::new();
    for f in 0..3 {
        runs.push(run(
            &format!("a{f}"),
            f,
            0,
            Strategy::None,
            loss(0.03),
            (0.96, 0.96),
        ));
        runs.push(run(
            &format!("b{f}"),
            f,
            1,
            Strategy::None,
            loss(0.5),
            (0.7, 0.7),
        ));
    }
    let found = job_findings(&job, &runs, &crate::config::Limits::default());
    let kinds: Vec<Kind> = warned(&found).iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [Kind::Degradation]);
    assert_eq!(found[0].variant, 1);
    let patched = &found[0].remedy["model"];
    assert_eq!(
        patched[0],
        serde_json::to_value(job.model.variant(0)).unwrap()
    );
    assert_eq!(
        (
            patched[1]["residual"].clone(),
            patched[1]["batch_norm"].clone()
        ),
        (json!(true), json!(true))
    );
    // The patched spec parses, with the deep variant changed and the shallow one not.
    let mut v = serde_json::to_value(&job).unwrap();
    json_patch::merge(&mut v, &found[0].remedy);
    let fixed = JobSpec::from_json(v).unwrap();
    assert!(fixed.model.variant(1).residual && !fixed.model.variant(0).residual);
}

#[test]
fn one_noisy_fold_of_three_is_info_but_vanishing_in_one_fold_is_a_warning() {
    let job = spec(json!({}));
    let cx = no_early_stopping();
    let overfit: Vec<EpochRecord> = (1..=30)
        .map(|e| {
            epoch(
                e,
                0.5 / e as f64,
                0.2 + 0.01 * (e as f64 - 8.0).abs(),
                &[0.3, 0.2, 0.25],
            )
        })
        .collect();
    let noisy = diagnose(&ctx(&cx), &overfit, RunEnd::Finished);
    let fine = diagnose(&ctx(&cx), &healthy(30), RunEnd::Finished);
    let runs = vec![
        run("a", 0, 0, Strategy::None, noisy.clone(), (0.9, 0.9)),
        run("b", 1, 0, Strategy::None, fine.clone(), (0.9, 0.9)),
        run("c", 2, 0, Strategy::None, fine.clone(), (0.9, 0.9)),
    ];
    let found = job_findings(&job, &runs, &crate::config::Limits::default());
    assert!(warned(&found).is_empty(), "{found:?}");
    let over = found.iter().find(|f| f.kind == Kind::Overfitting).unwrap();
    assert_eq!(over.severity, Severity::Info);
    assert_eq!((over.runs_affected, over.runs_checked), (1, 3));
    let vanishing: Vec<EpochRecord> = (1..=10)
        .map(|e| epoch(e, 0.69, 0.69, &[5e-10, 1e-6, 0.3]))
        .collect();
    let v = diagnose(&ctx(&cx), &vanishing, RunEnd::Finished);
    let runs = vec![
        run("a", 0, 0, Strategy::None, v, (0.9, 0.9)),
        run("b", 1, 0, Strategy::None, fine.clone(), (0.9, 0.9)),
        run("c", 2, 0, Strategy::None, fine, (0.9, 0.9)),
    ];
    let found = job_findings(&job, &runs, &crate::config::Limits::default());
    assert_eq!(
        (found[0].kind, found[0].severity),
        (Kind::VanishingGradients, Severity::Warning)
    );
    assert_eq!(found[0].run_ids, ["a"]);
}

/// A run diagnosis with one finding of `kind` at `severity`.
pub(super) fn found(kind: Kind, severity: Severity) -> RunDiagnosis {
    RunDiagnosis {
        findings: vec![crate::domain::finding::RunFinding {
            kind,
            severity,
            first_epoch: Some(1),
            layer: None,
            evidence: crate::domain::finding::Evidence {
                summary: String::new(),
                values: Default::default(),
            },
            strength: 1.0,
        }],
        train_loss: Some(0.3),
        epochs: 10,
    }
}

#[test]
fn a_findings_id_stays_the_same_as_other_findings_come_and_go() {
    let job = spec(json!({}));
    let limits = crate::config::Limits::default();
    let dead = |sev| {
        run(
            "r0",
            0,
            0,
            Strategy::None,
            found(Kind::DeadUnits, sev),
            (0.9, 0.9),
        )
    };
    let first = job_findings(&job, &[dead(Severity::Warning)], &limits);
    let id = first[0].id;
    // A more severe finding of another run now sorts first: the dead units keep their id.
    let exploding = run(
        "r1",
        1,
        0,
        Strategy::None,
        found(Kind::ExplodingGradients, Severity::Error),
        (0.9, 0.9),
    );
    let later = job_findings(&job, &[dead(Severity::Warning), exploding], &limits);
    assert_eq!(later[0].kind, Kind::ExplodingGradients);
    let again = later.iter().find(|f| f.kind == Kind::DeadUnits).unwrap();
    assert_eq!(again.id, id);
    assert_ne!(later[0].id, id);
    // By hand: dead_units is kind 5, strategy none 1, variant 0.
    assert_eq!(id, 5 + 10);
}

#[test]
fn a_final_model_ending_far_above_its_folds_is_unconverged_and_predict_answers_with_folds() {
    use crate::jobs::predict::{Answerer, Ensemble};
    let job = spec(json!({}));
    let loss = |l| RunDiagnosis {
        findings: vec![],
        train_loss: Some(l),
        epochs: 150,
    };
    let runs_with = |last: f64| {
        let mut runs: Vec<RunRow> = [0.005, 0.02, 0.03, 0.2, 0.4]
            .iter()
            .enumerate()
            .map(|(f, &l)| {
                run(
                    &format!("f{f}"),
                    f as u32,
                    0,
                    Strategy::None,
                    loss(l),
                    (0.9, 0.9),
                )
            })
            .collect();
        let mut fin = run("final", 0, 0, Strategy::None, loss(last), (0.9, 0.9));
        (fin.kind, fin.fold) = (RunKind::Final, None);
        runs.push(fin);
        runs
    };
    // Classes 940:60, so the chance loss is 0.2270; the folds' median is 0.03. 0.03 + 0.1 ×
    // 0.2270 = 0.0527 is the line.
    let found = job_findings(&job, &runs_with(0.3), &crate::config::Limits::default());
    let f = found
        .iter()
        .find(|f| f.kind == Kind::FinalModelUnconverged)
        .expect("flagged");
    assert_eq!(
        (f.severity, f.run_ids.clone()),
        (Severity::Warning, vec!["final".into()])
    );
    assert_eq!(f.evidence.values["folds_median_train_loss"], 0.03);
    assert!((f.evidence.values["chance_loss"] - 0.226_968).abs() < 1e-6);
    assert_eq!(f.remedy, json!({"final_model": {"epochs": "fold_loss"}}));
    for last in [0.05, 0.01] {
        let found = job_findings(&job, &runs_with(last), &crate::config::Limits::default());
        assert!(
            found.iter().all(|f| f.kind != Kind::FinalModelUnconverged),
            "{last}"
        );
    }
    // Predict: unasked, the fold ensemble answers and says why; asked, what was asked.
    let flagged = job_findings(&job, &runs_with(0.3), &crate::config::Limits::default());
    let unasked = Answerer::of(None, &flagged);
    assert!(unasked.folds);
    assert!(
        unasked
            .why
            .unwrap()
            .starts_with("final_model_unconverged: the final model")
    );
    assert_eq!(
        Answerer::of(Some(Ensemble::Final), &flagged),
        Answerer {
            folds: false,
            why: None
        }
    );
    let fine = job_findings(&job, &runs_with(0.05), &crate::config::Limits::default());
    assert!(!Answerer::of(None, &fine).folds);
}

#[test]
fn degradation_owns_the_deeper_variants_unstable_training() {
    let job = spec(json!({"model": [
        {"hidden_layers": [64, 64]},
        {"hidden_layers": [64, 64, 64, 64, 64, 64]}
    ]}));
    let with = |kind, loss| RunDiagnosis {
        train_loss: Some(loss),
        epochs: 20,
        ..found(kind, Severity::Warning)
    };
    let mut runs = Vec::new();
    for f in 0..3 {
        let shallow = with(Kind::UnstableTraining, 0.03);
        runs.push(run(
            &format!("a{f}"),
            f,
            0,
            Strategy::None,
            shallow,
            (0.96, 0.96),
        ));
        let deep = with(Kind::UnstableTraining, 0.5);
        runs.push(run(
            &format!("b{f}"),
            f,
            1,
            Strategy::None,
            deep,
            (0.3, 0.3),
        ));
    }
    let found = job_findings(&job, &runs, &crate::config::Limits::default());
    let of = |kind, variant| {
        (found.iter())
            .find(|f| f.kind == kind && f.variant == variant)
            .map(|f| f.severity)
    };
    assert_eq!(of(Kind::Degradation, 1), Some(Severity::Warning));
    // The deeper variant's instability is degradation's symptom; the shallow one's is not.
    assert_eq!(of(Kind::UnstableTraining, 1), Some(Severity::Info));
    assert_eq!(of(Kind::UnstableTraining, 0), Some(Severity::Warning));
}
