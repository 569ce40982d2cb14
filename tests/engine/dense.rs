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

/// A dense step on `x` (7 features × `batch`) of an MLP whose parameters `tweak` sets.
fn activity(spec: ModelSpec, tweak: impl Fn(&mut Mlp)) -> (Vec<f64>, Vec<f64>) {
    let (d, batch) = (7, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut mlp = Mlp::new(&spec, d, 2, &mut rng);
    tweak(&mut mlp);
    let x: Vec<f32> = (0..d * batch).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let y: Vec<u32> = (0..batch).map(|i| (i % 2) as u32).collect();
    let mut ws = Workspace::default();
    ws.begin_epoch();
    mlp.dense_step(&mut ws, &x, batch, &y, &[1.0, 1.0], false, &mut rng);
    (ws.dead_fractions(), ws.saturated_fractions())
}

#[test]
fn dead_and_saturated_units_are_counted_per_hidden_layer() {
    let relu = ModelSpec {
        hidden_layers: vec![8, 8],
        ..ModelSpec::default()
    };
    // Healthy He-initialized ReLU: few units never fire on 32 rows.
    let (dead, saturated) = activity(relu.clone(), |_| {});
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|&f| f < 0.5), "{dead:?}");
    assert!(saturated.is_empty(), "saturation is for sigmoid and tanh");
    // A large negative bias keeps every unit of the first layer off.
    let (dead, _) = activity(relu, |m| {
        let b = m.layers[0].bias;
        m.params[b].data.iter_mut().for_each(|v| *v = -100.0);
    });
    assert_eq!(dead[0], 1.0);

    let tanh = ModelSpec {
        hidden_layers: vec![8],
        activation: Activation::Tanh,
        ..ModelSpec::default()
    };
    let (dead, saturated) = activity(tanh.clone(), |m| {
        let w = m.layers[0].weight;
        m.params[w].data.iter_mut().for_each(|v| *v *= 1e-3);
    });
    assert!(dead.is_empty());
    assert_eq!(saturated, vec![0.0], "tiny weights keep tanh linear");
    let (_, saturated) = activity(tanh, |m| {
        let w = m.layers[0].weight;
        m.params[w].data.iter_mut().for_each(|v| *v *= 100.0);
    });
    assert!(saturated[0] > 0.9, "{saturated:?}");
}
