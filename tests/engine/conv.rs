//! FCN and ResNet-1D blocks against PyTorch (`conv.json`, written by
//! `tests/fixtures/make_conv.py`: `nn.Conv1d(padding="same", bias=False)`, `nn.BatchNorm1d`,
//! ReLU, residual shortcuts, global average pooling, weighted cross-entropy, float64): a
//! training step's logits, loss, every gradient and the running statistics it leaves, then the
//! eval-mode logits; on equal lengths and on sequences of four different lengths padded with
//! noise that must not matter.

use crossfold::engine::conv::parameters::{ConvNet, ConvShape};
use crossfold::engine::model::head;
use crossfold::engine::model::param::Mode;
use crossfold::engine::sequence::gru::Batch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::helpers::{assert_close, fixture, flat};

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap() as usize)
        .collect()
}

/// The case's network with PyTorch's initial weights.
fn network(case: &Value) -> ConvNet {
    let shape = ConvShape {
        filters: usizes(&case["filters"]),
        kernels: usizes(&case["kernels"]),
        residual: case["residual"].as_bool().unwrap(),
    };
    let (input, classes) = (
        case["input"].as_u64().unwrap() as usize,
        case["classes"].as_u64().unwrap() as usize,
    );
    let mut net = ConvNet::new(input, &shape, classes, &mut ChaCha8Rng::seed_from_u64(0));
    let names: Vec<&String> = case["params"].as_object().unwrap().keys().collect();
    assert_eq!(
        net.params.iter().map(|p| &p.name).collect::<Vec<_>>(),
        names,
        "PyTorch's names and order"
    );
    for p in &mut net.params {
        p.data = flat(&case["params"][&p.name]);
    }
    net
}

fn check(name: &str) {
    let all = fixture("conv.json");
    let case = &all[name];
    let mut net = network(case);
    let (lengths, steps) = (
        usizes(&case["lengths"]),
        case["steps"].as_u64().unwrap() as usize,
    );
    // Noise past each length: padding must not change anything.
    let mut x = flat(&case["x"]);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let c = case["input"].as_u64().unwrap() as usize;
    for (b, &len) in lengths.iter().enumerate() {
        for v in &mut x[(b * steps + len) * c..(b + 1) * steps * c] {
            *v = rng.gen_range(-3.0..3.0);
        }
    }
    let batch = Batch {
        x: &x,
        batch: lengths.len(),
        steps,
        lengths: &lengths,
    };
    let labels: Vec<u32> = usizes(&case["labels"]).iter().map(|&l| l as u32).collect();
    let weights = flat(&case["class_weights"]);
    let (loss, grads) = net.train_step(&batch, &labels, &weights);
    let want = case["loss"].as_f64().unwrap() as f32;
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs(),
        "{name} loss: got {loss}, want {want}"
    );
    for (p, g) in net.params.iter().zip(&grads) {
        assert_close(
            g,
            &flat(&case["grad_params"][&p.name]),
            &format!("{name} {}", p.name),
        );
    }
    for (prefix, stats) in &net.running {
        assert_close(
            &stats.mean,
            &flat(&case["buffers"][format!("{prefix}.running_mean")]),
            prefix,
        );
        assert_close(
            &stats.var,
            &flat(&case["buffers"][format!("{prefix}.running_var")]),
            prefix,
        );
    }
    // The train-mode logits, recomputed by a fresh copy (the step above moved the statistics).
    let mut fresh = network(case);
    let pass = fresh.forward(&batch, Mode::Train);
    let n = fresh.params.len();
    let logits = head::logits(
        &fresh.params[n - 2].data,
        &fresh.params[n - 1].data,
        &pass.features,
        3,
    );
    assert_close(&logits, &flat(&case["logits"]), &format!("{name} logits"));
    // Eval mode reads the running statistics the step left.
    let mut eval = flat(&case["eval_logits"]);
    head::log_softmax(&mut eval, 3);
    assert_close(
        &net.log_proba(&batch),
        &eval,
        &format!("{name} eval log-probabilities"),
    );
}

#[test]
fn fcn_blocks_match_pytorch_conv1d_and_batchnorm1d() {
    check("fcn");
}

#[test]
fn fcn_on_sequences_of_four_lengths_matches_each_convolved_alone() {
    check("fcn_lengths");
}

#[test]
fn residual_blocks_match_pytorch_with_projected_and_identity_shortcuts() {
    check("resnet");
}

#[test]
fn residual_blocks_on_sequences_of_three_lengths_match_each_convolved_alone() {
    check("resnet_lengths");
}

/// Eval mode: a sequence's probabilities are the same alone as in a padded batch.
#[test]
fn a_sequences_eval_output_does_not_depend_on_its_batch_or_padding() {
    let all = fixture("conv.json");
    let case = &all["resnet_lengths"];
    let mut net = network(case);
    let (lengths, steps, c) = (usizes(&case["lengths"]), 10, 2);
    let x = flat(&case["x"]);
    let batch = Batch {
        x: &x,
        batch: 3,
        steps,
        lengths: &lengths,
    };
    let together = net.log_proba(&batch);
    for (b, &len) in lengths.iter().enumerate() {
        let alone = Batch {
            x: &x[b * steps * c..(b * steps + len) * c],
            batch: 1,
            steps: len,
            lengths: &[len],
        };
        assert_close(
            &net.log_proba(&alone),
            &together[b * 3..(b + 1) * 3],
            &format!("sequence {b}"),
        );
    }
}

/// A convolution unit whose channel can never be positive counts as dead, in its own layer.
#[test]
fn a_relu_convolutions_dead_channels_are_counted_per_unit() {
    use crossfold::domain::spec::{ModelKind, ModelSpec};
    use crossfold::engine::model::dense::Workspace;
    use crossfold::engine::model::registry::{self, Learns};
    let spec = ModelSpec {
        kind: ModelKind::Fcn,
        filters: Some(vec![4, 5, 3]),
        ..ModelSpec::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut model = registry::build(&spec, 2, Learns::Classes(2), &mut rng);
    // Unit 1's batch norm: γ 0 and β −1 on its first channel, so its ReLU is always 0.
    for p in model.params_mut() {
        match p.name.as_str() {
            "blocks.1.units.0.bn.weight" => p.data[0] = 0.0,
            "blocks.1.units.0.bn.bias" => p.data[0] = -1.0,
            _ => {}
        }
    }
    // Two packed sequences of 6 steps, gathered as features × batch.
    let (steps, batch) = (6, 2);
    let width = 1 + steps * 2;
    let mut rows = Vec::new();
    for _ in 0..batch {
        rows.push(steps as f32);
        rows.extend((0..steps * 2).map(|_| rng.gen_range(-1.0f32..1.0)));
    }
    let xt = crossfold::engine::model::param::transpose(&rows, batch, width);
    let mut ws = Workspace::default();
    model.step(&mut ws, &xt, batch, &[0, 1], &[1.0, 1.0], &mut rng);
    let dead = ws.dead_fractions();
    assert_eq!(dead.len(), 3, "one entry per convolution unit: {dead:?}");
    assert!(dead[1] >= 1.0 / 5.0, "{dead:?}");
}
