//! The remedies worth trying for a finding, ranked by prior: the one `remedy` recommends
//! first, then the other spec changes that address the same kind (for overfitting: L2,
//! dropout, a smaller model; for class imbalance: class weights, easy_ensemble, a tuned
//! decision threshold; …). `POST …/remedy` with `"verify": true` trains each on the original
//! job's folds, so the one that works is found rather than assumed.

use serde_json::{Value, json};

use super::remedy::{lower_learning_rate, model_patch, more_l2, remedy};
use crate::config::Limits;
use crate::domain::finding::{Kind, RemedyCandidate as Candidate};
use crate::domain::job::JobSpec;
use crate::domain::spec::{BatchSize, Decay, MAX_LEARNING_RATE};

/// The candidates for a finding of `kind` about model `variant` of `spec`, best prior first,
/// each patch different and not empty.
pub fn candidates(spec: &JobSpec, kind: Kind, variant: usize, limits: &Limits) -> Vec<Candidate> {
    let mut all = vec![("recommended", remedy(spec, kind, variant, limits))];
    all.extend(alternatives(spec, kind, variant));
    let mut out: Vec<Candidate> = Vec::new();
    for (name, patch) in all {
        let empty = patch.as_object().is_some_and(|o| o.is_empty());
        if empty || out.iter().any(|c| c.patch == patch) {
            continue;
        }
        out.push(Candidate {
            rank: out.len(),
            name: name.to_owned(),
            patch,
        });
    }
    out
}

/// The other changes that address `kind`, in order of prior.
fn alternatives(spec: &JobSpec, kind: Kind, variant: usize) -> Vec<(&'static str, Value)> {
    let model = spec.model.variant(variant);
    let mlp = !model.kind.is_recurrent() && model.kind.convolution().is_none();
    let lower = || json!({"optimizer": {"learning_rate": lower_learning_rate(&spec.optimizer)}});
    let clip = || json!({"training": {"clip_grad_norm": 1.0}});
    let on_model = |patch: Value| model_patch(spec, variant, patch);
    let mut out = match kind {
        Kind::Overfitting => vec![
            ("l2", more_l2_or_default(spec)),
            (
                "early_stopping",
                json!({"training": {"early_stopping": {"patience": 5}}}),
            ),
        ],
        Kind::ClassImbalance => vec![
            (
                "class_weight",
                json!({"imbalance": {"strategy": "class_weight"}}),
            ),
            (
                "easy_ensemble",
                json!({"imbalance": {"strategy": "easy_ensemble"}}),
            ),
            (
                "tuned_threshold",
                json!({"imbalance": {"threshold": "tuned"}}),
            ),
        ],
        Kind::ExplodingGradients => {
            vec![("lower_learning_rate", lower()), ("clip_grad_norm", clip())]
        }
        Kind::UnstableTraining => {
            let mut out = vec![("lower_learning_rate", lower()), ("clip_grad_norm", clip())];
            out.extend(calmer_steps(spec));
            out
        }
        // Steps that push pre-activations into the flat tails keep them there.
        Kind::SaturatedUnits => vec![("lower_learning_rate", lower())],
        Kind::FoldVariance => fold_variance_alternatives(spec, lower()),
        Kind::FinalModelUnconverged => {
            vec![("clip_grad_norm", clip()), ("lower_learning_rate", lower())]
        }
        Kind::DeadUnits => vec![("lower_learning_rate", lower())],
        Kind::Underfitting => underfitting_alternatives(spec),
        _ => Vec::new(),
    };
    if mlp {
        out.extend(
            mlp_alternatives(spec, kind, variant)
                .into_iter()
                .map(|(n, p)| (n, on_model(p))),
        );
    }
    out
}

/// Steps that settle without a smaller rate from the start: a cosine decay to zero (the
/// late epochs' steps shrink), and four times the batch (a quarter of the gradient's noise
/// variance per step).
fn calmer_steps(spec: &JobSpec) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if spec.schedule.decay == Decay::None {
        let cosine = json!({"schedule": {"decay": "cosine", "min_learning_rate": 0.0}});
        out.push(("cosine_decay", cosine));
    }
    if let BatchSize::Rows(rows) = spec.training.batch_size {
        out.push((
            "larger_batch",
            json!({"training": {"batch_size": rows * 4}}),
        ));
    }
    out
}

/// A model whose score swings from fold to fold: more repeats measure the swing better (the
/// recommendation); what narrows it is a model that depends less on its training rows:
/// early stopping that keeps its best inner-validation epoch, a penalty, smaller steps.
fn fold_variance_alternatives(spec: &JobSpec, lower: Value) -> Vec<(&'static str, Value)> {
    let stopping = match &spec.training.early_stopping {
        Some(e) if e.restore_best => json!({}),
        Some(_) => json!({"training": {"early_stopping": {"restore_best": true}}}),
        None => json!({"training": {"early_stopping": {"patience": 5}}}),
    };
    vec![
        ("early_stopping", stopping),
        ("l2", more_l2_or_default(spec)),
        ("lower_learning_rate", lower),
    ]
}

/// Underfitting's other causes than slow steps: a penalty that holds the weights near zero (a
/// tenth of it), and a rate too small for the optimizer (ten times it, within the limit).
fn underfitting_alternatives(spec: &JobSpec) -> Vec<(&'static str, Value)> {
    let t = &spec.training;
    let mut out = Vec::new();
    if t.l1 > 0.0 || t.l2 > 0.0 {
        let weaker = json!({"training": {"l1": t.l1 / 10.0, "l2": t.l2 / 10.0}});
        out.push(("weaker_penalty", weaker));
    }
    if let Some(rate) = spec.optimizer.learning_rate().fixed()
        && rate * 10.0 <= MAX_LEARNING_RATE
    {
        let higher = json!({"optimizer": {"learning_rate": rate * 10.0}});
        out.push(("higher_learning_rate", higher));
    }
    out
}

/// The MLP's own model changes for `kind`, as patches to the variant's model.
fn mlp_alternatives(spec: &JobSpec, kind: Kind, variant: usize) -> Vec<(&'static str, Value)> {
    let model = spec.model.variant(variant);
    let halved: Vec<u64> = (model.hidden_layers.iter())
        .map(|&w| (w / 2).max(1))
        .collect();
    let shallower = &model.hidden_layers[..model.hidden_layers.len().div_ceil(2)];
    match kind {
        Kind::Overfitting => vec![
            (
                "dropout",
                json!({"dropout": (model.dropout + 0.3).min(0.5)}),
            ),
            ("smaller_model", json!({"hidden_layers": halved})),
        ],
        // Normalized pre-activations stay out of the range where the gradient explodes.
        Kind::ExplodingGradients => vec![("batch_norm", json!({"batch_norm": true}))],
        Kind::VanishingGradients | Kind::SaturatedUnits => vec![
            (
                "relu_he_batch_norm",
                json!({"activation": "relu", "init": "he", "batch_norm": true}),
            ),
            (
                "batch_norm_residual",
                json!({"batch_norm": true, "residual": true}),
            ),
        ],
        Kind::Degradation => vec![
            (
                "residual_batch_norm",
                json!({"residual": true, "batch_norm": true}),
            ),
            ("shallower", json!({"hidden_layers": shallower})),
        ],
        Kind::DeadUnits => vec![("leaky_relu", json!({"activation": "leaky_relu"}))],
        _ => Vec::new(),
    }
}

/// Ten times the L2 penalty (at most 1e-2), or 1e-4 where there is none.
fn more_l2_or_default(spec: &JobSpec) -> Value {
    match spec.training.l2 > 0.0 {
        true => more_l2(spec),
        false => json!({"training": {"l2": 1e-4}}),
    }
}
