//! What each kind of finding means (the advice) and the spec change that addresses it: a JSON
//! merge patch (RFC 7396) to the job's spec, built from the spec itself so it names the
//! variant and keeps the rest of a `model` list.

use serde_json::{Map, Value, json};

use crate::config::Limits;
use crate::domain::finding::Kind;
use crate::domain::job::{FinalModel, JobSpec, Strategy, StrategyChoice};
use crate::domain::spec::{AttentionKind, ModelKind, OptimizerSpec};

/// Why the kind matters and what fixes it for a `model_kind` network, in a sentence or two.
pub fn advice_for(kind: Kind, model_kind: ModelKind) -> &'static str {
    let convolutional = model_kind.convolution().is_some();
    match (kind, model_kind.is_recurrent(), convolutional) {
        (Kind::VanishingGradients, true, _) => {
            "The gradient reaching the recurrent layers is a tiny fraction of the head's: it \
             shrinks on its way back through the steps (and the layers), so what came early in \
             a sequence is not learned. Attention gives every step's state a direct path to the \
             output; fewer stacked layers shorten the path."
        }
        (Kind::Degradation, true, _) => {
            "The deeper recurrent stack trains to a worse training loss than the shallower one: \
             the extra layers make it harder to optimize, not more capable. Use fewer layers \
             (with attention over the states)."
        }
        (Kind::VanishingGradients | Kind::Degradation, _, true) => {
            "The stack of plain convolutions trains worse than a shallower one, or passes back \
             almost no gradient to its first blocks: residual blocks (ResNet-1D) give each block \
             a path around it; a residual network that still degrades needs fewer blocks."
        }
        _ => advice(kind),
    }
}

/// Why the kind matters and what fixes it, in a sentence or two.
pub fn advice(kind: Kind) -> &'static str {
    match kind {
        Kind::VanishingGradients => {
            "Each sigmoid or tanh layer multiplies the gradient by a derivative of at most 0.25 \
             (or 1), so through many layers it shrinks geometrically and the early layers stop \
             learning. ReLU with He initialization keeps its scale; batch normalization and \
             residual connections keep it flowing through depth."
        }
        Kind::ExplodingGradients => {
            "Gradients grew until the steps threw the weights out of any useful range (or to \
             NaN): the learning rate is too high for this network. Lower it, and clip the \
             gradient norm so one bad batch cannot take a huge step."
        }
        Kind::DeadUnits => {
            "A ReLU unit whose input is negative for every row outputs zero and gets no \
             gradient, so it never recovers; a large learning rate knocks units there. Leaky \
             ReLU keeps a small slope below zero so they can come back."
        }
        Kind::SaturatedUnits => {
            "Saturated sigmoid or tanh units sit where the slope is almost zero, so almost no \
             gradient passes through them. ReLU does not saturate for positive inputs; batch \
             normalization keeps the inputs in the responsive range."
        }
        Kind::Overfitting => {
            "The model kept fitting the training rows after it stopped improving on rows it has \
             not seen: it is memorizing noise. Early stopping returns the best epoch's weights; \
             an L2 penalty (or dropout) keeps the weights from fitting the noise."
        }
        Kind::Underfitting => {
            "The training loss barely moved from what predicting the class frequencies gives: \
             the model is not learning, usually because the steps are too small or too few. \
             Adam adapts the step of each weight; more epochs or capacity help once it learns."
        }
        Kind::UnstableTraining => {
            "The training loss jumps up again and again instead of settling: the steps \
             overshoot the minimum, the sign of a learning rate that is too high."
        }
        Kind::ClassImbalance => {
            "With a class this rare, predicting the majority is right most of the time, so \
             plain training learns to ignore the minority: accuracy looks good while balanced \
             accuracy is near chance. Class weights (or resampling) make each class count \
             equally in the loss."
        }
        Kind::Degradation => {
            "The deeper plain network trains to a worse training loss than the shallower one: \
             this is not overfitting but degradation, deep plain stacks are hard to optimize. \
             Residual connections let each layer learn a correction to the identity, and batch \
             normalization keeps the signal's scale through depth."
        }
        Kind::FoldVariance => {
            "The score changes a lot from fold to fold, so one cross-validation estimate is \
             not reliable: small folds or an unstable model. Repeating the folds with other \
             shuffles averages the noise out."
        }
        Kind::FinalModelUnconverged => {
            "The final model, trained on every row, did not reach the training loss its folds \
             did (it left the plateau late, or a spike near the end threw it back), so it is \
             worse than the models the cross-validation scored. Predict answers with the fold \
             ensemble by default until a final model converges. Training the final model until \
             its loss reaches its folds' (final_model {\"epochs\": \"fold_loss\"}) lets it leave \
             the plateau and stop before a spike; clipping the gradient norm steadies the steps \
             that threw it back."
        }
    }
}

/// The merge patch for a finding of `kind` about model `variant` of `spec` (`{}` when there
/// is nothing to change), within `limits`.
pub fn remedy(spec: &JobSpec, kind: Kind, variant: usize, limits: &Limits) -> Value {
    if spec.search.is_some() {
        return trial_remedy(spec, kind, variant, limits);
    }
    let model = spec.model.variant(variant);
    let own = if model.kind.is_recurrent() {
        gru_remedy(spec, kind, variant)
    } else if model.kind.convolution().is_some() {
        conv_remedy(spec, kind, variant)
    } else {
        None
    };
    if let Some(patch) = own {
        return patch;
    }
    match kind {
        Kind::ExplodingGradients => json!({
            "optimizer": {"learning_rate": lower_learning_rate(&spec.optimizer)},
            "training": {"clip_grad_norm": 1.0},
        }),
        Kind::UnstableTraining => json!({
            "optimizer": {"learning_rate": lower_learning_rate(&spec.optimizer)},
        }),
        Kind::VanishingGradients if !model.activation.is_relu_family() => model_patch(
            spec,
            variant,
            json!({"activation": "relu", "init": "he", "batch_norm": true}),
        ),
        Kind::VanishingGradients => {
            model_patch(spec, variant, json!({"batch_norm": true, "residual": true}))
        }
        Kind::SaturatedUnits => model_patch(
            spec,
            variant,
            json!({"activation": "relu", "init": "he", "batch_norm": true}),
        ),
        Kind::DeadUnits => model_patch(spec, variant, json!({"activation": "leaky_relu"})),
        Kind::Degradation => {
            model_patch(spec, variant, json!({"residual": true, "batch_norm": true}))
        }
        Kind::Underfitting => underfitting(spec, limits.max_epochs),
        Kind::Overfitting => overfitting(spec, variant),
        Kind::ClassImbalance => class_weights(spec),
        Kind::FoldVariance if spec.validation.repeats < 10 => json!({
            "validation": {"repeats": (spec.validation.repeats * 3).min(10)},
        }),
        Kind::FoldVariance => json!({}),
        Kind::FinalModelUnconverged if fold_loss_applies(spec) => {
            json!({"final_model": {"epochs": "fold_loss"}})
        }
        Kind::FinalModelUnconverged if spec.training.clip_grad_norm.is_none() => {
            json!({"training": {"clip_grad_norm": 1.0}})
        }
        Kind::FinalModelUnconverged => json!({
            "optimizer": {"learning_rate": lower_learning_rate(&spec.optimizer)},
        }),
    }
}

/// Whether `{"epochs": "fold_loss"}` is a change for the job's final model: it does not train
/// to its folds' loss yet, and one of its strategies trains one network (an ensemble's members
/// train whole).
fn fold_loss_applies(spec: &JobSpec) -> bool {
    let single = (spec.imbalance.strategy.list().iter()).any(|s| !s.trains_members());
    spec.final_model != FinalModel::FoldLoss && single
}

/// A GRU's own remedies, where an MLP's would change fields a GRU ignores.
fn gru_remedy(spec: &JobSpec, kind: Kind, variant: usize) -> Option<Value> {
    let model = spec.model.variant(variant);
    let shallower = json!({"layers": (model.layers / 2).max(1)});
    Some(match kind {
        Kind::VanishingGradients if model.attention == AttentionKind::None => {
            model_patch(spec, variant, json!({"attention": "additive"}))
        }
        Kind::VanishingGradients | Kind::Degradation if model.layers > 1 => {
            model_patch(spec, variant, shallower)
        }
        Kind::VanishingGradients | Kind::Degradation => json!({}),
        // Dropout acts between stacked layers only.
        Kind::Overfitting if model.layers == 1 && penalized_and_stopped(spec) => more_l2(spec),
        // No activation to change: dead and saturated units are not measured in a GRU.
        Kind::DeadUnits | Kind::SaturatedUnits => json!({}),
        _ => return None,
    })
}

/// A convolutional family's own remedies: residual blocks for a plain stack that degrades or
/// loses its gradient (FCN → ResNet-1D, the remedy Wang et al. 2017 compare), one block fewer
/// for a residual one; no dropout to raise, so more L2 once early stopping and some L2 are in.
fn conv_remedy(spec: &JobSpec, kind: Kind, variant: usize) -> Option<Value> {
    let model = spec.model.variant(variant);
    let filters = model.conv_filters();
    Some(match kind {
        Kind::VanishingGradients | Kind::Degradation => match model.kind.residual_counterpart() {
            Some(k) => model_patch(
                spec,
                variant,
                json!({"kind": k.name(), "filters": null, "kernel_sizes": null}),
            ),
            None if filters.len() > 1 => model_patch(
                spec,
                variant,
                json!({"filters": &filters[..filters.len() - 1]}),
            ),
            None => json!({}),
        },
        Kind::Overfitting if penalized_and_stopped(spec) => more_l2(spec),
        // ReLU convolutions have no activation to change: a dead channel is a step too large.
        Kind::DeadUnits => json!({
            "optimizer": {"learning_rate": lower_learning_rate(&spec.optimizer)},
        }),
        Kind::SaturatedUnits => json!({}),
        _ => return None,
    })
}

/// Whether early stopping restores its best epoch and L2 is on: what is left is more L2.
fn penalized_and_stopped(spec: &JobSpec) -> bool {
    let t = &spec.training;
    t.early_stopping.as_ref().is_some_and(|e| e.restore_best) && t.l2 >= 1e-4
}

/// Ten times the L2 penalty, at most 1e-2.
pub(super) fn more_l2(spec: &JobSpec) -> Value {
    json!({"training": {"l2": (spec.training.l2 * 10.0).min(1e-2)}})
}

/// A tenth of the learning rate, at most the optimizer's default (PyTorch's).
pub(super) fn lower_learning_rate(o: &OptimizerSpec) -> f64 {
    (base_rate(o) / 10.0).min(default_learning_rate(o))
}

/// The spec's rate, or (`"auto"`, whose choice is each run's) the optimizer's default.
fn base_rate(o: &OptimizerSpec) -> f64 {
    o.learning_rate()
        .fixed()
        .unwrap_or_else(|| default_learning_rate(o))
}

fn default_learning_rate(o: &OptimizerSpec) -> f64 {
    match o {
        OptimizerSpec::Sgd { .. }
        | OptimizerSpec::Adagrad { .. }
        | OptimizerSpec::Rmsprop { .. } => 0.01,
        OptimizerSpec::Adadelta { .. } => 1.0,
        OptimizerSpec::Adam { .. } | OptimizerSpec::Adamw { .. } => 0.001,
    }
}

/// A search's trial fixed: the trial alone, the search gone and its values written in, with the
/// remedy applied (left in the search, the trials' values would override the fix).
fn trial_remedy(spec: &JobSpec, kind: Kind, variant: usize, limits: &Limits) -> Value {
    let alone = spec.trial_alone(variant);
    let fix = remedy(&alone, kind, 0, limits);
    if fix.as_object().is_some_and(|o| o.is_empty()) {
        return fix;
    }
    let mut patch = json!({
        "search": null,
        "model": alone.model,
        "optimizer": alone.optimizer,
        "schedule": alone.schedule,
        "training": alone.training,
    });
    json_patch::merge(&mut patch, &fix);
    patch
}

/// `patch` applied to model `variant`: itself for one model, the whole list for a comparison
/// (a merge patch replaces arrays whole).
pub(super) fn model_patch(spec: &JobSpec, variant: usize, patch: Value) -> Value {
    if !spec.model.is_comparison() {
        return json!({ "model": patch });
    }
    let mut list = serde_json::to_value(&spec.model).unwrap_or(Value::Null);
    if let Some(m) = list.get_mut(variant) {
        json_patch::merge(m, &patch);
    }
    json!({ "model": list })
}

/// Adam at its default rate when another optimizer barely moves; else a larger rate, or more
/// epochs (at most `max_epochs`) when the rate is already the default.
fn underfitting(spec: &JobSpec, max_epochs: u64) -> Value {
    let o = &spec.optimizer;
    match o {
        OptimizerSpec::Adam { .. } | OptimizerSpec::Adamw { .. }
            if base_rate(o) < default_learning_rate(o) =>
        {
            json!({"optimizer": {"learning_rate": default_learning_rate(o)}})
        }
        OptimizerSpec::Adam { .. } | OptimizerSpec::Adamw { .. }
            if spec.training.epochs < max_epochs =>
        {
            json!({"training": {"epochs": (spec.training.epochs * 2).min(max_epochs)}})
        }
        OptimizerSpec::Adam { .. } | OptimizerSpec::Adamw { .. } => json!({}),
        _ => {
            // Keys only the old optimizer has are removed (null), so the new one parses.
            let mut patch = Map::new();
            if let Value::Object(old) = serde_json::to_value(o).unwrap_or(Value::Null) {
                for key in old.keys() {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            patch.insert("kind".into(), json!("adam"));
            patch.insert("learning_rate".into(), json!(0.001));
            json!({ "optimizer": patch })
        }
    }
}

/// Early stopping that restores the best epoch, and an L2 penalty (or dropout when there is
/// one already).
fn overfitting(spec: &JobSpec, variant: usize) -> Value {
    let t = &spec.training;
    match &t.early_stopping {
        None => {
            let mut patch = json!({"training": {"early_stopping": {"patience": 5}}});
            if t.l2 < 1e-4 {
                patch["training"]["l2"] = json!(1e-4);
            }
            patch
        }
        Some(es) if !es.restore_best => {
            json!({"training": {"early_stopping": {"restore_best": true}}})
        }
        Some(_) if t.l2 < 1e-4 => json!({"training": {"l2": 1e-4}}),
        Some(_) => {
            let dropout = (spec.model.variant(variant).dropout + 0.2).min(0.5);
            model_patch(spec, variant, json!({ "dropout": dropout }))
        }
    }
}

/// `class_weight` in place of `none` (in a list, next to the others).
fn class_weights(spec: &JobSpec) -> Value {
    match &spec.imbalance.strategy {
        StrategyChoice::One(_) => json!({"imbalance": {"strategy": "class_weight"}}),
        StrategyChoice::Many(list) if list.contains(&Strategy::ClassWeight) => json!({}),
        StrategyChoice::Many(list) => {
            let names: Vec<&str> = list
                .iter()
                .map(|s| match s {
                    Strategy::None => "class_weight",
                    s => s.as_str(),
                })
                .collect();
            json!({"imbalance": {"strategy": names}})
        }
    }
}
