//! Remedies: merge patches that give valid specs, a GRU's own, and none the server would refuse.

use serde_json::json;

use super::jobs::{found, run, spec};
use crate::config::Limits;
use crate::diagnose::candidates::candidates;
use crate::diagnose::job_rules::job_findings;
use crate::diagnose::remedy::remedy;
use crate::domain::finding::{Kind, Severity};
use crate::domain::job::{JobSpec, Strategy};
use crate::domain::spec::ModelKind;

#[test]
fn remedies_are_merge_patches_that_give_valid_specs() {
    let sgd = spec(
        json!({"optimizer": {"kind": "sgd", "learning_rate": 2.0, "momentum": 0.9},
                          "model": {"activation": "sigmoid", "init": "xavier"}}),
    );
    assert_eq!(
        remedy(
            &sgd,
            Kind::ExplodingGradients,
            0,
            &crate::config::Limits::default()
        ),
        json!({"optimizer": {"learning_rate": 0.01}, "training": {"clip_grad_norm": 1.0}})
    );
    assert_eq!(
        remedy(
            &sgd,
            Kind::VanishingGradients,
            0,
            &crate::config::Limits::default()
        ),
        json!({"model": {"activation": "relu", "init": "he", "batch_norm": true}})
    );
    // Underfitting with SGD switches to Adam, removing SGD's own fields.
    let under = remedy(
        &sgd,
        Kind::Underfitting,
        0,
        &crate::config::Limits::default(),
    );
    for kind in Kind::ALL {
        let mut v = serde_json::to_value(&sgd).unwrap();
        json_patch::merge(
            &mut v,
            &remedy(&sgd, kind, 0, &crate::config::Limits::default()),
        );
        let patched = JobSpec::from_json(v);
        assert!(patched.is_ok(), "{kind:?}: {patched:?}");
    }
    let mut v = serde_json::to_value(&sgd).unwrap();
    json_patch::merge(&mut v, &under);
    assert_eq!(
        JobSpec::from_json(v).unwrap().optimizer.learning_rate(),
        0.001.into()
    );
    let overfit = remedy(
        &spec(json!({"training": {"early_stopping": null}})),
        Kind::Overfitting,
        0,
        &crate::config::Limits::default(),
    );
    assert_eq!(
        overfit,
        json!({"training": {"early_stopping": {"patience": 5}, "l2": 1e-4}})
    );
}

#[test]
fn a_grus_remedies_change_what_a_gru_reads_and_its_advice_speaks_of_steps() {
    let plain = spec(json!({"model": {"kind": "gru", "attention": "none"}}));
    assert_eq!(
        remedy(
            &plain,
            Kind::VanishingGradients,
            0,
            &crate::config::Limits::default()
        ),
        json!({"model": {"attention": "additive"}})
    );
    let deep = spec(json!({"model": [
        {"kind": "gru", "attention": "dot"},
        {"kind": "gru", "attention": "dot", "layers": 4}
    ]}));
    let patch = remedy(
        &deep,
        Kind::Degradation,
        1,
        &crate::config::Limits::default(),
    );
    assert_eq!(patch["model"][1]["layers"], 2, "{patch}");
    assert_eq!(
        patch["model"][0]["layers"], 1,
        "the other variant is kept: {patch}"
    );
    // Nothing to change where an MLP would switch activations a GRU does not have.
    assert_eq!(
        remedy(
            &plain,
            Kind::DeadUnits,
            0,
            &crate::config::Limits::default()
        ),
        json!({})
    );
    assert_eq!(
        remedy(
            &plain,
            Kind::ExplodingGradients,
            0,
            &crate::config::Limits::default()
        )["training"]["clip_grad_norm"],
        1.0
    );
    for kind in Kind::ALL {
        for (job, variant) in [(&plain, 0), (&deep, 1)] {
            let mut v = serde_json::to_value(job).unwrap();
            json_patch::merge(
                &mut v,
                &remedy(job, kind, variant, &crate::config::Limits::default()),
            );
            let patched = JobSpec::from_json(v);
            assert!(patched.is_ok(), "{kind:?}: {patched:?}");
        }
    }
    let advice = crate::diagnose::remedy::advice_for(Kind::VanishingGradients, ModelKind::Gru);
    assert!(
        advice.contains("steps") && advice.contains("Attention"),
        "{advice}"
    );
}

#[test]
fn a_convolutional_familys_remedies_are_residual_blocks_and_valid_specs() {
    let limits = crate::config::Limits::default();
    let fcn = spec(json!({"model": {"kind": "fcn", "filters": [16, 32, 16]}}));
    assert_eq!(
        remedy(&fcn, Kind::Degradation, 0, &limits),
        json!({"model": {"kind": "resnet1d", "filters": null, "kernel_sizes": null}})
    );
    let resnet = spec(json!({"model": {"kind": "resnet1d", "filters": [8, 16, 16]}}));
    assert_eq!(
        remedy(&resnet, Kind::VanishingGradients, 0, &limits),
        json!({"model": {"filters": [8, 16]}})
    );
    assert_eq!(
        remedy(&resnet, Kind::DeadUnits, 0, &limits),
        json!({"optimizer": {"learning_rate": 0.0001}})
    );
    let advice = crate::diagnose::remedy::advice_for(Kind::Degradation, ModelKind::Fcn);
    assert!(advice.contains("ResNet-1D"), "{advice}");
    for kind in Kind::ALL {
        for job in [&fcn, &resnet] {
            let mut v = serde_json::to_value(job).unwrap();
            json_patch::merge(&mut v, &remedy(job, kind, 0, &limits));
            let patched = JobSpec::from_json(v).expect("parses");
            let errors = patched.validate(&limits);
            assert!(errors.is_empty(), "{kind:?}: {errors:?}");
        }
    }
}

#[test]
fn a_remedy_the_server_would_refuse_is_not_offered() {
    let limits = crate::config::Limits::default();
    let runs = |kind| {
        vec![run(
            "r",
            0,
            0,
            Strategy::None,
            found(kind, Severity::Warning),
            (0.9, 0.9),
        )]
    };
    // Underfitting with Adam at its rate: more epochs, at most max_epochs (10,000).
    let at = |epochs: u64| spec(json!({"training": {"epochs": epochs}}));
    let remedy_of = |job: &JobSpec, kind| job_findings(job, &runs(kind), &limits)[0].remedy.clone();
    assert_eq!(
        remedy_of(&at(300), Kind::Underfitting),
        json!({"training": {"epochs": 600}})
    );
    assert_eq!(
        remedy_of(&at(8000), Kind::Underfitting),
        json!({"training": {"epochs": 10_000}})
    );
    assert_eq!(remedy_of(&at(10_000), Kind::Underfitting), json!({}));
    // A fine-tuning job keeps its source's architecture: no batch norm, no new activation.
    let tuned = spec(json!({"model": {"activation": "sigmoid"},
                            "init": {"job_id": "job_x", "run": "final"}}));
    assert_eq!(remedy_of(&tuned, Kind::VanishingGradients), json!({}));
    assert_eq!(remedy_of(&tuned, Kind::Degradation), json!({}));
    // A remedy that keeps the architecture is still offered.
    assert_eq!(
        remedy_of(&tuned, Kind::ExplodingGradients)["training"]["clip_grad_norm"],
        1.0
    );
}

/// The names of `kind`'s candidates for model 0 of `job`, within the default limits.
fn names(job: &JobSpec, kind: Kind) -> Vec<String> {
    (candidates(job, kind, 0, &Limits::default()).into_iter())
        .map(|c| c.name)
        .collect()
}

#[test]
fn candidates_start_with_the_recommended_remedy_and_drop_repeats() {
    let limits = Limits::default();
    // Overfitting without early stopping: early stopping with L2 first; early stopping alone
    // and L2 alone after it, then dropout and a smaller model.
    let job = spec(json!({"training": {"early_stopping": null}}));
    assert_eq!(
        names(&job, Kind::Overfitting),
        [
            "recommended",
            "l2",
            "early_stopping",
            "dropout",
            "smaller_model"
        ]
    );
    let c = candidates(&job, Kind::Overfitting, 0, &limits);
    assert_eq!(c[4].patch, json!({"model": {"hidden_layers": [32, 32]}}));
    assert_eq!((c[0].rank, c[4].rank), (0, 4));
    // Unstable training: a lower rate is the recommendation, so it is not repeated; then
    // clipping, a cosine decay and four times the batch.
    assert_eq!(
        names(&job, Kind::UnstableTraining),
        [
            "recommended",
            "clip_grad_norm",
            "cosine_decay",
            "larger_batch"
        ]
    );
    // A final model that did not converge: training to its folds' loss first, then clipping,
    // then a lower rate; a job that already trains to it is recommended clipping.
    assert_eq!(
        names(&job, Kind::FinalModelUnconverged),
        ["recommended", "clip_grad_norm", "lower_learning_rate"]
    );
    let c = candidates(&job, Kind::FinalModelUnconverged, 0, &limits);
    assert_eq!(c[0].patch, json!({"final_model": {"epochs": "fold_loss"}}));
    let to_loss = spec(json!({"final_model": {"epochs": "fold_loss"}}));
    assert_eq!(
        names(&to_loss, Kind::FinalModelUnconverged),
        ["recommended", "lower_learning_rate"]
    );
    let c = candidates(&to_loss, Kind::FinalModelUnconverged, 0, &limits);
    assert_eq!(c[0].patch, json!({"training": {"clip_grad_norm": 1.0}}));
    // Underfitting: the optimizer's remedy first, then a weaker penalty and a higher rate.
    let heavy = spec(json!({"training": {"l2": 30.0}, "optimizer": {"kind": "sgd"}}));
    let c = candidates(&heavy, Kind::Underfitting, 0, &limits);
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["recommended", "weaker_penalty", "higher_learning_rate"]
    );
    assert_eq!(c[1].patch, json!({"training": {"l1": 0.0, "l2": 3.0}}));
    assert_eq!(c[2].patch, json!({"optimizer": {"learning_rate": 0.1}}));
    // Ensembles' members train whole: training to the folds' loss changes nothing for them.
    let ensemble = spec(json!({"imbalance": {"strategy": "easy_ensemble"}}));
    let c = candidates(&ensemble, Kind::FinalModelUnconverged, 0, &limits);
    assert_eq!(c[0].patch, json!({"training": {"clip_grad_norm": 1.0}}));
    // Every candidate's patch gives a spec that parses.
    for kind in Kind::ALL {
        for c in candidates(&job, kind, 0, &limits) {
            let mut v = serde_json::to_value(&job).unwrap();
            json_patch::merge(&mut v, &c.patch);
            assert!(JobSpec::from_json(v).is_ok(), "{kind:?} {}", c.name);
        }
    }
}

#[test]
fn instability_explosion_saturation_and_fold_variance_have_their_own_candidates() {
    let limits = Limits::default();
    let job = spec(json!({"training": {"early_stopping": null}}));
    // Unstable training: four times the default batch of 64; a schedule that already decays
    // and a full batch get neither the decay nor the larger batch.
    let c = candidates(&job, Kind::UnstableTraining, 0, &limits);
    assert_eq!(c[3].patch, json!({"training": {"batch_size": 256}}));
    let decaying = spec(json!({"schedule": {"decay": "step"}, "training": {"batch_size": "full"}}));
    assert_eq!(
        names(&decaying, Kind::UnstableTraining),
        ["recommended", "clip_grad_norm"]
    );
    // Exploding gradients: the MLP also gets batch norm; saturation a lower rate.
    assert_eq!(
        names(&job, Kind::ExplodingGradients),
        [
            "recommended",
            "lower_learning_rate",
            "clip_grad_norm",
            "batch_norm"
        ]
    );
    assert_eq!(
        names(&job, Kind::SaturatedUnits),
        ["recommended", "lower_learning_rate", "batch_norm_residual"]
    );
    // Fold variance: more repeats, then early stopping at the best epoch, L2, a lower rate;
    // early stopping that already restores its best epoch is not repeated.
    assert_eq!(
        names(&job, Kind::FoldVariance),
        ["recommended", "early_stopping", "l2", "lower_learning_rate"]
    );
    let c = candidates(&job, Kind::FoldVariance, 0, &limits);
    let stop = json!({"training": {"early_stopping": {"patience": 5}}});
    assert_eq!(c[1].patch, stop);
    let kept_last = spec(json!({"training": {"early_stopping": {"restore_best": false}}}));
    let c = candidates(&kept_last, Kind::FoldVariance, 0, &limits);
    let restore = json!({"training": {"early_stopping": {"restore_best": true}}});
    assert_eq!(c[1].patch, restore);
    let stopped = spec(json!({"training": {"early_stopping": {"restore_best": true}}}));
    assert_eq!(
        names(&stopped, Kind::FoldVariance),
        ["recommended", "l2", "lower_learning_rate"]
    );
}
