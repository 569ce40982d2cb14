//! The LSTM against PyTorch (`lstm.json`, written by `tests/fixtures/make_lstm.py`: `nn.LSTM`
//! in float64, one layer and two bidirectional layers on packed sequences of two lengths), and
//! the LSTM classifier's gradients against finite differences for every pooling. Padding
//! invariance is `sequence.rs`'s, run for both cells.

use crossfold::engine::sequence::cell::CellWeights;
use crossfold::engine::sequence::classifier::{Pooling, RnnClassifier};
use crossfold::engine::sequence::gru::Batch;
use crossfold::engine::sequence::lstm::{self, Lstm};
use crossfold::engine::sequence::parameters::RnnShape;
use crossfold::engine::sequence::stack;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::helpers::{assert_close, fixture, flat};

const NAMES: [&str; 4] = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];

/// Per layer and direction, the four parameters of `case` by PyTorch name.
fn values(case: &Value) -> Vec<Vec<Vec<Vec<f32>>>> {
    let dirs: &[&str] = if case["bidirectional"].as_bool().unwrap() {
        &["", "_reverse"]
    } else {
        &[""]
    };
    (0..case["layers"].as_u64().unwrap())
        .map(|l| {
            dirs.iter()
                .map(|s| {
                    NAMES
                        .iter()
                        .map(|n| flat(&case["params"][format!("{n}_l{l}{s}")]))
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn weights<'a>(case: &Value, values: &'a [Vec<Vec<Vec<f32>>>]) -> Vec<Vec<CellWeights<'a>>> {
    let (d, h) = (
        case["input"].as_u64().unwrap() as usize,
        case["hidden"].as_u64().unwrap() as usize,
    );
    values
        .iter()
        .enumerate()
        .map(|(l, dirs)| {
            dirs.iter()
                .map(|w| CellWeights {
                    input: if l == 0 { d } else { h * dirs.len() },
                    hidden: h,
                    weight_ih: &w[0],
                    weight_hh: &w[1],
                    bias_ih: &w[2],
                    bias_hh: &w[3],
                })
                .collect()
        })
        .collect()
}

fn lengths(case: &Value) -> Vec<usize> {
    case["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn one_lstm_layer_matches_pytorch_outputs_final_states_and_every_gradient() {
    let all = fixture("lstm.json");
    let case = &all["single"];
    let values = values(case);
    let w = weights(case, &values)[0][0];
    let (x, lengths) = (flat(&case["x"]), lengths(case));
    let batch = Batch {
        x: &x,
        batch: 2,
        steps: 4,
        lengths: &lengths,
    };
    let pass = lstm::forward(&w, &batch);
    assert_close(&pass.outputs, &flat(&case["outputs"]), "outputs");
    assert_close(&pass.last, &flat(&case["h_n"]), "h_n");
    assert_close(&pass.last_cell, &flat(&case["c_n"]), "c_n");
    let grads = lstm::backward(&w, &batch, &pass, &flat(&case["U"]), &flat(&case["V"]));
    let want = &case["grad_params"];
    for (n, got) in NAMES.iter().zip([
        &grads.weight_ih,
        &grads.weight_hh,
        &grads.bias_ih,
        &grads.bias_hh,
    ]) {
        assert_close(got, &flat(&want[format!("{n}_l0")]), n);
    }
    assert_close(&grads.x, &flat(&case["grad_x"]), "grad_x");
}

#[test]
fn stacked_bidirectional_lstm_layers_match_pytorch_on_packed_sequences_of_two_lengths() {
    let all = fixture("lstm.json");
    let case = &all["stack"];
    let values = values(case);
    let weights = weights(case, &values);
    let (x, lengths) = (flat(&case["x"]), lengths(case));
    let batch = Batch {
        x: &x,
        batch: 2,
        steps: 5,
        lengths: &lengths,
    };
    let pass = stack::forward::<Lstm>(&weights, &batch, 0.0, None);
    assert_close(&pass.outputs, &flat(&case["outputs"]), "outputs");
    assert_close(&pass.last, &flat(&case["last"]), "last");
    let (grads, d_x) = stack::backward(
        &weights,
        &batch,
        &pass,
        &flat(&case["U"]),
        &flat(&case["V"]),
    );
    for (l, layer) in grads.iter().enumerate() {
        for (dir, suffix) in ["", "_reverse"].iter().enumerate() {
            let got = &layer[dir];
            for (n, v) in
                NAMES
                    .iter()
                    .zip([&got.weight_ih, &got.weight_hh, &got.bias_ih, &got.bias_hh])
            {
                let name = format!("{n}_l{l}{suffix}");
                assert_close(v, &flat(&case["grad_params"][&name]), &name);
            }
        }
    }
    // Padding gets no gradient; the rest is PyTorch's.
    assert_close(&d_x, &flat(&case["grad_x"]), "grad_x");
}

#[test]
fn the_lstm_classifiers_gradients_match_finite_differences_for_every_pooling() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let steps = 7;
    let lengths = [7, 4, 5];
    let x: Vec<f32> = (0..3 * steps)
        .map(|_| rng.gen_range(-1.0f32..1.0))
        .collect();
    let batch = Batch {
        x: &x,
        batch: 3,
        steps,
        lengths: &lengths,
    };
    let (y, weights) = ([0u32, 1, 1], [1.0, 2.0]);
    for pooling in [
        Pooling::None,
        Pooling::Additive,
        Pooling::Multiplicative,
        Pooling::Dot,
    ] {
        let shape = RnnShape {
            hidden: 3,
            layers: 2,
            bidirectional: true,
            dropout: 0.0,
            unit_forget_bias: true,
        };
        let model = RnnClassifier::<Lstm>::with_shape(1, shape, 2, pooling, &mut rng);
        assert_eq!(model.params[0].name, "lstm.weight_ih_l0");
        assert_eq!(model.params[0].shape, vec![12, 1]);
        // The unit forget bias: b_if = 1, b_hf = 0 (gates [i, f, g, o]).
        assert_eq!(model.params[2].data[3..6], [1.0; 3]);
        assert_eq!(model.params[3].data[3..6], [0.0; 3]);
        let (_, grads) = model.loss_and_grads(&batch, &y, &weights);
        for (p, param) in model.params.iter().enumerate() {
            for i in (0..param.data.len()).step_by((param.data.len() / 4).max(1)) {
                let eps = 1e-2f32;
                let loss_at = |delta: f32| {
                    let mut m = model.clone();
                    m.params[p].data[i] += delta;
                    m.loss_and_grads(&batch, &y, &weights).0
                };
                let numeric = (loss_at(eps) - loss_at(-eps)) / (2.0 * eps);
                let analytic = grads[p][i];
                assert!(
                    (numeric - analytic).abs() <= 2e-3 + 2e-2 * analytic.abs(),
                    "{pooling:?} {}[{i}]: numeric {numeric}, analytic {analytic}",
                    param.name
                );
            }
        }
    }
}
