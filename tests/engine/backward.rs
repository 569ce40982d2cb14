//! The MLP's loss and gradients, and batch norm, against PyTorch (`mlp_backward.json`,
//! `batchnorm.json`); class weights against scikit-learn (`class_weight.json`).

use crossfold::domain::spec::{Activation, ModelSpec};
use crossfold::engine::model::dense::Workspace;
use crossfold::engine::model::layers;
use crossfold::engine::model::mlp::Mlp;
use crossfold::engine::model::param::{Dev, Mode, RunningStats, transpose};
use dfdx::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::helpers::{assert_close, fixture, flat};

fn activation(name: &str) -> Activation {
    match name {
        "relu" => Activation::Relu,
        "leaky_relu" => Activation::LeakyRelu,
        "elu" => Activation::Elu,
        "gelu" => Activation::Gelu,
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        other => panic!("unknown activation {other}"),
    }
}

#[test]
fn loss_logits_and_every_gradient_match_pytorch_for_each_activation() {
    let g = fixture("mlp_backward.json");
    let x = flat(&g["x"]);
    let (n, d) = (
        g["x"].as_array().unwrap().len(),
        g["x"][0].as_array().unwrap().len(),
    );
    let y: Vec<u32> = g["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let weights = flat(&g["class_weights"]);
    let hidden = g["b1"].as_array().unwrap().len();
    let classes = weights.len();
    let dev = Dev::default();
    let cases = g["by_activation"].as_object().unwrap();
    assert_eq!(cases.len(), 6);
    for (name, want) in cases {
        let spec = ModelSpec {
            hidden_layers: vec![hidden as u64],
            activation: activation(name),
            ..ModelSpec::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut mlp = Mlp::new(&spec, d, classes, &mut rng);
        for (param, key) in mlp.params.iter_mut().zip(["W1", "b1", "W2", "b2"]) {
            param.data = flat(&g[key]);
        }
        let pass = mlp.forward(&dev, &transpose(&x, n, d), n, Mode::Train, &mut rng);
        let logits = transpose(&pass.logits.as_vec(), classes, n);
        assert_close(&logits, &flat(&want["logits"]), &format!("{name} logits"));
        let step = pass.backward(&dev, &y, &weights);
        assert_close(
            &[step.loss],
            &[want["loss"].as_f64().unwrap() as f32],
            &format!("{name} loss"),
        );
        for (grad, key) in step
            .grads
            .iter()
            .zip(["grad_W1", "grad_b1", "grad_W2", "grad_b2"])
        {
            assert_close(grad, &flat(&want[key]), &format!("{name} {key}"));
        }
        // The path training takes, to the same values.
        let mut ws = Workspace::default();
        let loss = mlp.dense_step(
            &mut ws,
            &transpose(&x, n, d),
            n,
            &y,
            &weights,
            false,
            &mut rng,
        );
        let want_loss = want["loss"].as_f64().unwrap() as f32;
        assert_close(&[loss], &[want_loss], &format!("{name} dense loss"));
        for (grad, key) in ws
            .grads
            .iter()
            .zip(["grad_W1", "grad_b1", "grad_W2", "grad_b2"])
        {
            assert_close(grad, &flat(&want[key]), &format!("{name} dense {key}"));
        }
    }
}

#[test]
fn batch_norm_forward_backward_and_running_statistics_match_pytorch() {
    let g = fixture("batchnorm.json");
    let (n, f) = (
        g["x"].as_array().unwrap().len(),
        g["x"][0].as_array().unwrap().len(),
    );
    let dev = Dev::default();
    let x: Tensor<(usize, usize), f32, Dev> =
        dev.tensor_from_vec(transpose(&flat(&g["x"]), n, f), (f, n));
    let gamma: Tensor<(usize,), f32, Dev> = dev.tensor_from_vec(flat(&g["gamma"]), (f,));
    let beta: Tensor<(usize,), f32, Dev> = dev.tensor_from_vec(flat(&g["beta"]), (f,));
    let mut stats = RunningStats {
        mean: vec![0.0; f],
        var: vec![1.0; f],
    };
    let out = layers::batch_norm(
        x.leaky_trace(),
        gamma.leaky_trace(),
        beta.leaky_trace(),
        &mut stats,
        Mode::Train,
    );
    assert_close(&transpose(&out.as_vec(), f, n), &flat(&g["out"]), "out");
    let upstream: Tensor<(usize, usize), f32, Dev> =
        dev.tensor_from_vec(transpose(&flat(&g["upstream"]), n, f), (f, n));
    let grads = (out * upstream).sum::<(), _>().backward();
    assert_close(
        &transpose(&grads.get(&x).as_vec(), f, n),
        &flat(&g["grad_x"]),
        "grad_x",
    );
    assert_close(
        &grads.get(&gamma).as_vec(),
        &flat(&g["grad_gamma"]),
        "grad_gamma",
    );
    assert_close(
        &grads.get(&beta).as_vec(),
        &flat(&g["grad_beta"]),
        "grad_beta",
    );
    assert_close(&stats.mean, &flat(&g["running_mean_after"]), "running_mean");
    assert_close(&stats.var, &flat(&g["running_var_after"]), "running_var");
}
