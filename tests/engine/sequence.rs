//! The sequence kernels against PyTorch (`gru.json`: `nn.GRU`; `attention.json`: the three
//! attention forms, both float64, copied from `../shared/reference/golden/`; `gru_stack.json`:
//! two bidirectional layers on packed sequences, written by `tests/fixtures/make_gru_stack.py`),
//! and padding that never changes a sequence's outputs or gradients.

use crossfold::engine::sequence::attention::{self, AttentionGrads, Form, Sequence};
use crossfold::engine::sequence::cell::Cell;
use crossfold::engine::sequence::gru::{self, Batch, Gru, GruWeights};
use crossfold::engine::sequence::lstm::Lstm;
use crossfold::engine::sequence::stack;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::helpers::{assert_close, fixture, flat};

#[test]
fn the_gru_matches_pytorch_outputs_final_state_and_every_gradient() {
    let g = fixture("gru.json");
    let p = &g["params"];
    let (w_ih, w_hh, b_ih, b_hh) = (
        flat(&p["weight_ih_l0"]),
        flat(&p["weight_hh_l0"]),
        flat(&p["bias_ih_l0"]),
        flat(&p["bias_hh_l0"]),
    );
    let w = GruWeights {
        input: 3,
        hidden: 5,
        weight_ih: &w_ih,
        weight_hh: &w_hh,
        bias_ih: &b_ih,
        bias_hh: &b_hh,
    };
    let x = flat(&g["x"]);
    let batch = Batch {
        x: &x,
        batch: 2,
        steps: 4,
        lengths: &[4, 4],
    };
    let pass = gru::forward(&w, &batch);
    assert_close(&pass.outputs, &flat(&g["outputs"]), "outputs");
    assert_close(&pass.last, &flat(&g["h_T"]), "h_T");
    // loss = Σ outputs ∘ upstream: the outputs' gradient is `upstream`, the last state's 0.
    let grads = gru::backward(&w, &batch, &pass, &flat(&g["upstream"]), &[0.0; 10]);
    let want = &g["grad_params"];
    assert_close(&grads.weight_ih, &flat(&want["weight_ih_l0"]), "weight_ih");
    assert_close(&grads.weight_hh, &flat(&want["weight_hh_l0"]), "weight_hh");
    assert_close(&grads.bias_ih, &flat(&want["bias_ih_l0"]), "bias_ih");
    assert_close(&grads.bias_hh, &flat(&want["bias_hh_l0"]), "bias_hh");
    assert_close(&grads.x, &flat(&g["grad_x"]), "grad_x");
}

#[test]
fn stacked_bidirectional_layers_match_pytorch_on_packed_sequences_of_two_lengths() {
    let g = fixture("gru_stack.json");
    let (d, h, steps) = (3, 4, 5);
    let p = &g["params"];
    let names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];
    let values: Vec<Vec<Vec<Vec<f32>>>> = (0..2)
        .map(|l| {
            ["", "_reverse"]
                .iter()
                .map(|suffix| {
                    names
                        .iter()
                        .map(|n| flat(&p[format!("{n}_l{l}{suffix}")]))
                        .collect()
                })
                .collect()
        })
        .collect();
    let weights: Vec<Vec<GruWeights<'_>>> = values
        .iter()
        .enumerate()
        .map(|(l, dirs)| {
            dirs.iter()
                .map(|w| GruWeights {
                    input: if l == 0 { d } else { 2 * h },
                    hidden: h,
                    weight_ih: &w[0],
                    weight_hh: &w[1],
                    bias_ih: &w[2],
                    bias_hh: &w[3],
                })
                .collect()
        })
        .collect();
    let x = flat(&g["x"]);
    let batch = Batch {
        x: &x,
        batch: 2,
        steps,
        lengths: &[5, 3],
    };
    let pass = stack::forward::<Gru>(&weights, &batch, 0.0, None);
    assert_close(&pass.outputs, &flat(&g["outputs"]), "outputs");
    assert_close(&pass.last, &flat(&g["last"]), "last");
    let (grads, d_x) = stack::backward(&weights, &batch, &pass, &flat(&g["U"]), &flat(&g["V"]));
    let want = &g["grad_params"];
    for (l, layer) in grads.iter().enumerate() {
        for (dir, suffix) in ["", "_reverse"].iter().enumerate() {
            let got = &layer[dir];
            for (n, v) in
                names
                    .iter()
                    .zip([&got.weight_ih, &got.weight_hh, &got.bias_ih, &got.bias_hh])
            {
                let name = format!("{n}_l{l}{suffix}");
                assert_close(v, &flat(&want[&name]), &name);
            }
        }
    }
    // Padding gets no gradient; the rest is PyTorch's.
    assert_close(&d_x, &flat(&g["grad_x"]), "grad_x");
}

fn random(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

#[test]
fn padding_never_changes_a_sequences_outputs_state_or_gradients() {
    padding_changes_nothing::<Gru>();
    padding_changes_nothing::<Lstm>();
}

/// For cell `C`: a padded sequence's outputs, last state and gradients are those of the
/// sequence alone, and a batch's weight gradients are the sum of its sequences'.
fn padding_changes_nothing<C: Cell>() {
    let (d, h, steps) = (3, 4, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let g = C::GATES;
    let (w_ih, w_hh) = (random(g * h * d, &mut rng), random(g * h * h, &mut rng));
    let (b_ih, b_hh) = (random(g * h, &mut rng), random(g * h, &mut rng));
    let w = GruWeights {
        input: d,
        hidden: h,
        weight_ih: &w_ih,
        weight_hh: &w_hh,
        bias_ih: &b_ih,
        bias_hh: &b_hh,
    };
    // Sequence 0 has 6 steps; sequence 1 has 3, padded with noise that must not matter.
    let x = random(2 * steps * d, &mut rng);
    let up = random(2 * steps * h, &mut rng);
    let d_last = random(2 * h, &mut rng);
    let padded = Batch {
        x: &x,
        batch: 2,
        steps,
        lengths: &[steps, 3],
    };
    let pass = C::forward(&w, &padded);
    let grads = C::backward(&w, &padded, &pass, &up, &d_last);
    // Sequence 1 alone, unpadded.
    let x1 = &x[steps * d..steps * d + 3 * d];
    let up1 = &up[steps * h..steps * h + 3 * h];
    let alone = Batch {
        x: x1,
        batch: 1,
        steps: 3,
        lengths: &[3],
    };
    let pass1 = C::forward(&w, &alone);
    assert_close(
        &C::outputs(&pass)[steps * h..steps * h + 3 * h],
        C::outputs(&pass1),
        &format!("{} outputs", C::NAME),
    );
    assert!(
        C::outputs(&pass)[steps * h + 3 * h..]
            .iter()
            .all(|&v| v == 0.0)
    );
    assert_close(
        &C::last(&pass)[h..],
        C::last(&pass1),
        &format!("{} last state", C::NAME),
    );
    let grads1 = C::backward(&w, &alone, &pass1, up1, &d_last[h..]);
    assert_close(
        &grads.x[steps * d..steps * d + 3 * d],
        &grads1.x,
        &format!("{} input gradient", C::NAME),
    );
    assert!(grads.x[steps * d + 3 * d..].iter().all(|&v| v == 0.0));
    // The batch's weight gradients are the sum of each sequence's alone.
    let alone0 = Batch {
        x: &x[..steps * d],
        batch: 1,
        steps,
        lengths: &[steps],
    };
    let pass0 = C::forward(&w, &alone0);
    let grads0 = C::backward(&w, &alone0, &pass0, &up[..steps * h], &d_last[..h]);
    let sum = |a: &[f32], b: &[f32]| -> Vec<f32> { a.iter().zip(b).map(|(x, y)| x + y).collect() };
    assert_close(
        &grads.weight_hh,
        &sum(&grads0.weight_hh, &grads1.weight_hh),
        &format!("{} weight_hh", C::NAME),
    );
    assert_close(
        &grads.weight_ih,
        &sum(&grads0.weight_ih, &grads1.weight_ih),
        &format!("{} weight_ih", C::NAME),
    );
    assert_close(
        &grads.bias_hh,
        &sum(&grads0.bias_hh, &grads1.bias_hh),
        &format!("{} bias_hh", C::NAME),
    );
}

#[test]
fn each_attention_form_matches_pytorch_scores_weights_context_and_gradients() {
    let a = fixture("attention.json");
    let (h, steps, size) = (5, 4, 6);
    let states = flat(&a["H"]);
    let query = flat(&a["s"]);
    let upstream = flat(&a["upstream"]);
    let (w_s, w_h, v, w_g) = (
        flat(&a["W_s"]),
        flat(&a["W_h"]),
        flat(&a["v"]),
        flat(&a["W_g"]),
    );
    let forms = [
        (
            "additive",
            Form::Additive {
                w_s: &w_s,
                w_h: &w_h,
                v: &v,
                size,
            },
        ),
        ("multiplicative_general", Form::General { w_g: &w_g }),
        ("dot", Form::Dot),
    ];
    for (name, form) in forms {
        let want = &a["by_kind"][name];
        let (mut scores, mut weights, mut context) = (Vec::new(), Vec::new(), Vec::new());
        let (mut d_states, mut d_query) = (Vec::new(), Vec::new());
        let mut total = AttentionGrads::zeros(&form, steps, h);
        for b in 0..2 {
            let seq = Sequence {
                states: &states[b * steps * h..(b + 1) * steps * h],
                length: steps,
                h,
                query: &query[b * h..(b + 1) * h],
            };
            let att = attention::forward(&form, &seq);
            let mut g = AttentionGrads::zeros(&form, steps, h);
            attention::backward(&form, &seq, &att, &upstream[b * h..(b + 1) * h], &mut g);
            scores.extend(&att.scores);
            weights.extend(&att.weights);
            context.extend(&att.context);
            d_states.extend(&g.states);
            d_query.extend(&g.query);
            // The weights' gradients add up over the batch.
            for (t, x) in [
                (&mut total.w_s, &g.w_s),
                (&mut total.w_h, &g.w_h),
                (&mut total.v, &g.v),
                (&mut total.w_g, &g.w_g),
            ] {
                for (s, y) in t.iter_mut().zip(x) {
                    *s += y;
                }
            }
        }
        assert_close(&scores, &flat(&want["scores"]), &format!("{name} scores"));
        assert_close(
            &weights,
            &flat(&want["weights"]),
            &format!("{name} weights"),
        );
        assert_close(
            &context,
            &flat(&want["context"]),
            &format!("{name} context"),
        );
        assert_close(&d_states, &flat(&want["grad_H"]), &format!("{name} grad_H"));
        assert_close(&d_query, &flat(&want["grad_s"]), &format!("{name} grad_s"));
        match name {
            "additive" => {
                assert_close(&total.w_s, &flat(&want["grad_W_s"]), "grad_W_s");
                assert_close(&total.w_h, &flat(&want["grad_W_h"]), "grad_W_h");
                assert_close(&total.v, &flat(&want["grad_v"]), "grad_v");
            }
            "multiplicative_general" => {
                assert_close(&total.w_g, &flat(&want["grad_W_g"]), "grad_W_g")
            }
            _ => {}
        }
    }
}

#[test]
fn attention_ignores_the_states_past_a_sequences_length() {
    let (h, steps) = (3, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let states = random(steps * h, &mut rng);
    let query = random(h, &mut rng);
    let d_context = random(h, &mut rng);
    let mut noisy = states.clone();
    for v in &mut noisy[2 * h..] {
        *v = 1e3;
    }
    let (w_s, w_h, v, w_g) = (
        random(4 * h, &mut rng),
        random(4 * h, &mut rng),
        random(4, &mut rng),
        random(h * h, &mut rng),
    );
    let forms = [
        Form::Additive {
            w_s: &w_s,
            w_h: &w_h,
            v: &v,
            size: 4,
        },
        Form::General { w_g: &w_g },
        Form::Dot,
    ];
    for form in forms {
        let run = |s: &[f32]| {
            let seq = Sequence {
                states: s,
                length: 2,
                h,
                query: &query,
            };
            let att = attention::forward(&form, &seq);
            let mut g = AttentionGrads::zeros(&form, steps, h);
            attention::backward(&form, &seq, &att, &d_context, &mut g);
            (att, g)
        };
        let (a, g) = run(&states);
        let (b, k) = run(&noisy);
        assert_eq!(a, b);
        assert_eq!(g, k);
        assert_eq!(&a.weights[2..], &[0.0; 3]);
        assert!((a.weights.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}

use crossfold::domain::spec::OptimizerSpec;
use crossfold::engine::optim::optimizer::Optimizer;
use crossfold::engine::optim::state::ParamState;
use crossfold::engine::sequence::classifier::{GruClassifier, Pooling};
use crossfold::engine::sequence::parameters::GruShape;

/// A padded batch of `n` one-channel sequences of 4 to 9 steps; the label says whether the
/// sequence's largest value comes in its first half.
fn toy(n: usize, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<usize>, Vec<u32>) {
    let steps = 9;
    let (mut x, mut lengths, mut y) = (vec![0.0f32; n * steps], Vec::new(), Vec::new());
    for b in 0..n {
        let len = rng.gen_range(4..=steps);
        let seq = random(len, rng);
        x[b * steps..b * steps + len].copy_from_slice(&seq);
        let top = (0..len).max_by(|&i, &j| seq[i].total_cmp(&seq[j])).unwrap();
        lengths.push(len);
        y.push(u32::from(2 * top < len));
    }
    (x, lengths, y)
}

#[test]
fn the_classifiers_gradients_match_finite_differences_for_every_pooling_and_stacked_layers() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (x, lengths, y) = toy(3, &mut rng);
    let batch = Batch {
        x: &x,
        batch: 3,
        steps: 9,
        lengths: &lengths,
    };
    let weights = [1.0, 2.0];
    for pooling in [
        Pooling::None,
        Pooling::Additive,
        Pooling::Multiplicative,
        Pooling::Dot,
    ] {
        for stacked in [false, true] {
            // Two bidirectional layers: attention and the head read states of 2H.
            let model = if stacked {
                let shape = GruShape {
                    hidden: 3,
                    layers: 2,
                    bidirectional: true,
                    dropout: 0.0,
                    unit_forget_bias: false,
                };
                GruClassifier::with_shape(1, shape, 2, pooling, &mut rng)
            } else {
                GruClassifier::new(1, 4, 2, pooling, &mut rng)
            };
            let (_, grads) = model.loss_and_grads(&batch, &y, &weights);
            assert_eq!(grads.len(), model.params.len());
            for (p, param) in model.params.iter().enumerate() {
                let (name, values) = (&param.name, &param.data);
                assert_eq!(grads[p].len(), values.len(), "{name}");
                // Central differences on a few entries of each parameter.
                for i in (0..values.len()).step_by((values.len() / 4).max(1)) {
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
                        "{pooling:?} stacked {stacked} {name}[{i}]: numeric {numeric}, analytic {analytic}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_classifier_learns_where_a_sequences_peak_is_with_adam() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (x, lengths, y) = toy(256, &mut rng);
    let mut model = GruClassifier::new(1, 16, 2, Pooling::Additive, &mut rng);
    let spec: OptimizerSpec =
        serde_json::from_value(serde_json::json!({"kind": "adam", "learning_rate": 0.01})).unwrap();
    let mut opt = Optimizer::new(spec);
    let mut states = vec![ParamState::default(); model.params.len()];
    let steps = 9;
    for _epoch in 0..40 {
        for chunk in (0..256).collect::<Vec<_>>().chunks(32) {
            let (a, n) = (chunk[0], chunk.len());
            let batch = Batch {
                x: &x[a * steps..(a + n) * steps],
                batch: n,
                steps,
                lengths: &lengths[a..a + n],
            };
            let (_, grads) = model.loss_and_grads(&batch, &y[a..a + n], &[1.0, 1.0]);
            opt.begin_step();
            for ((p, g), s) in model.params.iter_mut().zip(&grads).zip(&mut states) {
                opt.update(0.01, &mut p.data, g, s);
            }
        }
    }
    let all = Batch {
        x: &x,
        batch: 256,
        steps,
        lengths: &lengths,
    };
    let lp = model.log_proba(&all);
    let correct = (0..256)
        .filter(|&b| u32::from(lp[2 * b + 1] > lp[2 * b]) == y[b])
        .count();
    assert!(correct as f64 / 256.0 > 0.9, "{correct} of 256");
    // Attention weights: one per valid step, summing to 1.
    let weights = model.attention_weights(&all);
    assert_eq!(weights[0].len(), lengths[0]);
    assert!((weights[0].iter().sum::<f32>() - 1.0).abs() < 1e-5);
}
