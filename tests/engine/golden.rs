//! Optimizers, clipping and schedules against PyTorch (`tests/fixtures/*.json`).

use crossfold::domain::spec::{Decay, OptimizerSpec, ScheduleSpec};
use crossfold::engine::optim::optimizer::Optimizer;
use crossfold::engine::optim::state::ParamState;
use crossfold::engine::optim::{clip, schedule};
use serde_json::Value;

use crate::helpers::{assert_close, fixture, flat};

fn spec_of(case: &Value) -> OptimizerSpec {
    let h = &case["hyperparameters"];
    let f = |k: &str, d: f64| h[k].as_f64().unwrap_or(d);
    let b = |k: &str| h[k].as_bool().unwrap_or(false);
    let lr = f("lr", 0.0);
    match case["optimizer"].as_str().unwrap() {
        "sgd" => OptimizerSpec::Sgd {
            learning_rate: lr.into(),
            momentum: f("momentum", 0.0),
            dampening: f("dampening", 0.0),
            nesterov: b("nesterov"),
            weight_decay: f("weight_decay", 0.0),
        },
        "adagrad" => OptimizerSpec::Adagrad {
            learning_rate: lr.into(),
            epsilon: f("eps", 1e-10),
            weight_decay: f("weight_decay", 0.0),
        },
        "adadelta" => OptimizerSpec::Adadelta {
            learning_rate: lr.into(),
            rho: f("rho", 0.9),
            epsilon: f("eps", 1e-6),
            weight_decay: f("weight_decay", 0.0),
        },
        "rmsprop" => OptimizerSpec::Rmsprop {
            learning_rate: lr.into(),
            alpha: f("alpha", 0.99),
            epsilon: f("eps", 1e-8),
            momentum: f("momentum", 0.0),
            centered: b("centered"),
            weight_decay: f("weight_decay", 0.0),
        },
        kind @ ("adam" | "adamw") => {
            let betas = h["betas"]
                .as_array()
                .map(|a| (a[0].as_f64().unwrap(), a[1].as_f64().unwrap()));
            let (beta1, beta2) = betas.unwrap_or((0.9, 0.999));
            let (epsilon, amsgrad) = (f("eps", 1e-8), b("amsgrad"));
            if kind == "adam" {
                OptimizerSpec::Adam {
                    learning_rate: lr.into(),
                    beta1,
                    beta2,
                    epsilon,
                    weight_decay: f("weight_decay", 0.0),
                    amsgrad,
                }
            } else {
                OptimizerSpec::Adamw {
                    learning_rate: lr.into(),
                    beta1,
                    beta2,
                    epsilon,
                    weight_decay: f("weight_decay", 0.01),
                    amsgrad,
                }
            }
        }
        other => panic!("unknown optimizer {other}"),
    }
}

#[test]
fn every_optimizer_case_follows_pytorch_for_five_steps() {
    let golden = fixture("optimizers.json");
    let initial = flat(&golden["initial_params"]);
    let grads: Vec<Vec<f32>> = golden["gradients"]
        .as_array()
        .unwrap()
        .iter()
        .map(flat)
        .collect();
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 17);
    for case in cases {
        let spec = spec_of(case);
        let name = format!("{} {}", case["optimizer"], case["hyperparameters"]);
        let lr = spec.learning_rate().fixed().unwrap();
        let mut opt = Optimizer::new(spec);
        let mut params = initial.clone();
        let mut state = ParamState::default();
        for (step, (grad, want)) in grads
            .iter()
            .zip(case["params_after_each_step"].as_array().unwrap())
            .enumerate()
        {
            opt.begin_step();
            opt.update(lr, &mut params, grad, &mut state);
            assert_close(&params, &flat(want), &format!("{name} step {}", step + 1));
        }
    }
}

#[test]
fn clipping_by_norm_and_by_value_follows_pytorch() {
    let golden = fixture("clipping.json");
    let norm = &golden["norm"];
    let mut grads: Vec<Vec<f32>> = norm["grads"].as_array().unwrap().iter().map(flat).collect();
    let before = clip::clip_by_norm(&mut grads, norm["max_norm"].as_f64().unwrap());
    let want_before = norm["total_norm_before"].as_f64().unwrap();
    assert!(
        (before - want_before).abs() < 1e-5 * want_before,
        "{before} vs {want_before}"
    );
    let got: Vec<f32> = grads.concat();
    assert_close(&got, &flat(&norm["clipped"]), "clip_grad_norm_");

    let value = &golden["value"];
    let mut grads: Vec<Vec<f32>> = value["grads"]
        .as_array()
        .unwrap()
        .iter()
        .map(flat)
        .collect();
    clip::clip_by_value(&mut grads, value["clip_value"].as_f64().unwrap());
    assert_close(
        &grads.concat(),
        &flat(&value["clipped"]),
        "clip_grad_value_",
    );
}

fn rates(spec: &ScheduleSpec, epochs: u64) -> Vec<f32> {
    (0..epochs)
        .map(|e| schedule::learning_rate(spec, 0.1, e, epochs) as f32)
        .collect()
}

#[test]
fn schedules_follow_pytorch_lr_schedulers() {
    let golden = fixture("schedules.json");
    let s = &golden["schedules"];
    let base = ScheduleSpec::default();
    let step = ScheduleSpec {
        decay: Decay::Step,
        step_epochs: 3,
        gamma: Some(0.5),
        ..base.clone()
    };
    assert_close(
        &rates(&step, 12),
        &flat(&s["step(step_size=3,gamma=0.5)"]),
        "step",
    );
    let exp = ScheduleSpec {
        decay: Decay::Exponential,
        gamma: Some(0.9),
        ..base.clone()
    };
    assert_close(
        &rates(&exp, 12),
        &flat(&s["exponential(gamma=0.9)"]),
        "exponential",
    );
    let cos = ScheduleSpec {
        decay: Decay::Cosine,
        min_learning_rate: 0.001,
        ..base.clone()
    };
    assert_close(
        &rates(&cos, 12),
        &flat(&s["cosine(T_max=12,eta_min=0.001)"]),
        "cosine",
    );
    let warm = ScheduleSpec {
        warmup_epochs: 3,
        warmup_start_factor: 0.25,
        ..base
    };
    assert_close(
        &rates(&warm, 12),
        &flat(&s["linear_warmup(start_factor=0.25,total_iters=3)"]),
        "warmup",
    );
}

#[test]
fn balanced_class_weights_follow_scikit_learn() {
    let golden = fixture("class_weight.json");
    let counts: Vec<u64> = ["0", "1", "2"]
        .iter()
        .map(|k| golden["y_counts"][k].as_u64().unwrap())
        .collect();
    let got = crossfold::engine::imbalance::weights::balanced(&counts);
    let want: Vec<f64> = golden["balanced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
    }
}
