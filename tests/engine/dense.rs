//! The tape-free MLP step (`model::dense`, what training runs) against the dfdx forward and
//! backward (pinned to PyTorch in `backward.rs`): the same loss, gradients, batch-norm running
//! statistics and evaluation outputs for every architecture option, from the same RNG.

use crossfold::domain::spec::{Activation, ModelSpec};
use crossfold::engine::model::dense::Workspace;
use crossfold::engine::model::mlp::Mlp;
use crossfold::engine::model::param::{Dev, Mode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `|a − b| ≤ 1e-5 + 1e-4·|b|` everywhere.
fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 + 1e-4 * y.abs(),
            "{what}[{i}]: dense {x} vs dfdx {y}"
        );
    }
}

fn check(spec: ModelSpec, reconstruct: bool, batch: usize) {
    let (d, classes) = (7, 3);
    let outputs = if reconstruct { d } else { classes };
    let mut init = ChaCha8Rng::seed_from_u64(5);
    let mlp = Mlp::new(&spec, d, outputs, &mut init);
    let x: Vec<f32> = (0..d * batch).map(|_| init.gen_range(-2.0..2.0)).collect();
    let y: Vec<u32> = (0..batch).map(|i| (i % classes) as u32).collect();
    let weights = [1.0, 2.5, 0.5];
    let dev = Dev::default();
    let what = format!("{spec:?} reconstruct={reconstruct} batch={batch}");

    let mut taped = mlp.clone();
    let pass = taped.forward(
        &dev,
        &x,
        batch,
        Mode::Train,
        &mut ChaCha8Rng::seed_from_u64(9),
    );
    let want = if reconstruct {
        pass.backward_reconstruction(&dev, &x)
    } else {
        pass.backward(&dev, &y, &weights)
    };
    let mut dense = mlp.clone();
    let mut ws = Workspace::default();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let loss = dense.dense_step(&mut ws, &x, batch, &y, &weights, reconstruct, &mut rng);
    close(&[loss], &[want.loss], &format!("{what} loss"));
    assert_eq!(
        ws.grads.len(),
        want.grads.len(),
        "{what}: one gradient per parameter"
    );
    for ((g, w), p) in ws.grads.iter().zip(&want.grads).zip(&mlp.params) {
        close(g, w, &format!("{what} grad {}", p.name));
    }
    for (a, b) in dense.running.iter().zip(&taped.running) {
        if let (Some(a), Some(b)) = (a, b) {
            close(&a.mean, &b.mean, &format!("{what} running mean"));
            close(&a.var, &b.var, &format!("{what} running var"));
        }
    }
    // Evaluation (running statistics, no dropout) from the updated state, reusing `ws`.
    let eval = if reconstruct {
        dense.dense_outputs(&mut ws, &x, batch)
    } else {
        dense.dense_log_proba(&mut ws, &x, batch)
    };
    let reference = if reconstruct {
        taped.outputs(&dev, &x, batch)
    } else {
        taped.log_proba(&dev, &x, batch)
    };
    close(&eval, &reference, &format!("{what} eval"));
}

#[test]
fn the_dense_step_matches_the_taped_one_for_every_architecture_option() {
    let activations = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Gelu,
        Activation::Sigmoid,
        Activation::Tanh,
    ];
    for activation in activations {
        let base = ModelSpec {
            hidden_layers: vec![6, 6, 4],
            activation,
            ..ModelSpec::default()
        };
        check(base.clone(), false, 5);
        // Batch norm, identity and projected skips, dropout on inputs and hidden layers.
        let everything = ModelSpec {
            batch_norm: true,
            residual: true,
            dropout: 0.3,
            input_dropout: 0.2,
            ..base.clone()
        };
        check(everything.clone(), false, 9);
        check(everything, true, 4);
    }
    // No hidden layer; a batch of one (batch norm's degenerate case).
    check(
        ModelSpec {
            hidden_layers: vec![],
            ..ModelSpec::default()
        },
        false,
        3,
    );
    check(
        ModelSpec {
            hidden_layers: vec![5],
            batch_norm: true,
            ..ModelSpec::default()
        },
        false,
        1,
    );
}
