//! `GET …/model.onnx` for the sequence families: GRU and LSTM models (stacked, bidirectional,
//! each attention form and none), FCN and ResNet-1D (even and odd kernels, projection and
//! identity shortcuts), and on two classes an ensemble, a prior-corrected model and a tuned
//! threshold, answer 200 sequences of varied lengths as predict does, to 1e-5: in onnxruntime
//! after `onnx.checker`'s full check, and in tract exported with `?steps=` (tract 0.22 reads
//! ONNX's `GRU`/`LSTM` only with a constant `sequence_lens`, so they are unrolled).

use serde_json::{Value, json};

use tract_onnx::prelude::*;

use crate::helpers::{TestApp, json, succeeded_with, ts_fixture, upload_ts};
use crate::onnx::{
    Case, assert_same, needs_onnxruntime, onnxruntime_answers, tract_outputs, uniform,
};

/// JapaneseVowels' channels.
const CHANNELS: usize = 12;

type Sequences = Vec<Vec<Vec<Option<f32>>>>;

/// `n` seeded sequences of 3 to 26 steps of `channels` channels, a few values missing.
fn sequences(n: usize, seed: u64, channels: usize) -> Sequences {
    let mut draw = uniform(seed);
    let mut next = move || draw() as f32;
    (0..n)
        .map(|_| {
            let steps = 3 + (next() * 24.0) as usize;
            (0..steps)
                .map(|_| {
                    (0..channels)
                        .map(|_| (next() > 0.02).then(|| next() * 2.0 - 1.0))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The sequences as the exported model reads them: padded (batch × steps × channels, 0 past
/// a length, NaN missing) and their lengths.
fn padded(seqs: &Sequences) -> (Vec<f32>, Vec<i64>, usize) {
    let t = seqs.iter().map(Vec::len).max().unwrap();
    let c_n = seqs[0][0].len();
    let mut x = vec![0.0f32; seqs.len() * t * c_n];
    for (b, seq) in seqs.iter().enumerate() {
        for (s, step) in seq.iter().enumerate() {
            for (c, v) in step.iter().enumerate() {
                x[(b * t + s) * c_n + c] = v.unwrap_or(f32::NAN);
            }
        }
    }
    (x, seqs.iter().map(|s| s.len() as i64).collect(), t)
}

/// One model per family and shape on JapaneseVowels.
fn shapes() -> Vec<(&'static str, Value)> {
    let model = |m: Value| json!({ "model": m });
    vec![
        (
            "gru additive",
            model(json!({"kind": "gru", "hidden_size": 8, "attention": "additive"})),
        ),
        (
            "gru bidirectional, 2 layers, dot",
            model(json!({"kind": "gru", "hidden_size": 6,
            "layers": 2, "bidirectional": true, "attention": "dot"})),
        ),
        (
            "lstm multiplicative",
            model(json!({"kind": "lstm", "hidden_size": 8,
            "attention": "multiplicative"})),
        ),
        (
            "lstm bidirectional, no attention",
            model(json!({"kind": "lstm", "hidden_size": 6,
            "bidirectional": true, "attention": "none"})),
        ),
        (
            "fcn",
            model(json!({"kind": "fcn", "filters": [8, 6, 4], "kernel_sizes": [4, 5, 3]})),
        ),
        (
            "resnet1d",
            model(json!({"kind": "resnet1d", "filters": [4, 6, 6],
            "kernel_sizes": [4, 3, 1]})),
        ),
    ]
}

/// The strategy kinds on GunPoint's two classes: an ensemble, prior-corrected, a tuned
/// threshold.
fn strategies() -> Vec<(&'static str, Value)> {
    let gru = json!({"kind": "gru", "hidden_size": 6, "attention": "additive"});
    vec![
        (
            "gru easy_ensemble",
            json!({"model": gru,
            "imbalance": {"strategy": "easy_ensemble", "n_subsets": 2}}),
        ),
        (
            "fcn undersample, prior-corrected",
            json!({"model": {"kind": "fcn",
            "filters": [4, 4, 4]}, "imbalance": {"strategy": "undersample",
            "sampling_ratio": 0.8, "correct_probabilities": true}}),
        ),
        (
            "lstm, tuned threshold",
            json!({"model": {"kind": "lstm", "hidden_size": 4},
            "imbalance": {"threshold": "tuned"}}),
        ),
    ]
}

/// Jobs to export: each a name and its spec's patch.
type Kinds = Vec<(&'static str, Value)>;

/// The fixtures the exports are checked on, each with its kinds and channels.
fn sets() -> [(&'static str, Kinds, usize); 2] {
    [
        ("JapaneseVowels_TRAIN.ts", shapes(), CHANNELS),
        ("GunPoint_TRAIN.ts", strategies(), 1),
    ]
}

/// One job per kind on the `.ts` fixture `file`, exported (with `export`, a query string's
/// further parameters) and predicted on `seqs`.
async fn cases(
    app: &TestApp,
    (file, export): (&str, &str),
    kinds: Vec<(&'static str, Value)>,
    seqs: &Sequences,
) -> Vec<Case> {
    let ds = upload_ts(app, "", "text/x-ts", ts_fixture(file)).await;
    let ds = json(ds, 201).await;
    let classes: Vec<String> = (ds["classes"].as_array().unwrap().iter())
        .map(|c| c["value"].as_str().unwrap().to_owned())
        .collect();
    let base = json!({"dataset_id": ds["id"], "seed": 2,
                      "training": {"epochs": 3, "early_stopping": null},
                      "validation": {"folds": 2}});
    let mut out = Vec::new();
    for (name, patch) in kinds {
        let id = succeeded_with(app, &base, &patch, name).await;
        let res = app
            .get(&format!("/v1/jobs/{id}/model.onnx?ensemble=final{export}"))
            .send()
            .await;
        let res = res.unwrap();
        assert_eq!(res.status(), 200, "{name}");
        let onnx = res.bytes().await.unwrap().to_vec();
        let body = json!({"sequences": seqs});
        let res = app
            .post(&format!("/v1/jobs/{id}/predict?ensemble=final"))
            .json(&body);
        let answer = json(res.send().await.unwrap(), 200).await;
        let preds = answer["predictions"].as_array().unwrap();
        out.push(Case {
            name,
            onnx,
            probabilities: (preds.iter())
                .map(|p| {
                    classes
                        .iter()
                        .map(|c| p["probabilities"][c].as_f64().unwrap())
                        .collect()
                })
                .collect(),
            labels: preds
                .iter()
                .map(|p| p["label"].as_str().unwrap().to_owned())
                .collect(),
            answered_by: answer["answered_by"].as_str().unwrap().to_owned(),
        });
    }
    out
}

#[tokio::test]
#[ignore = "needs python3 with onnx and onnxruntime (.ci/run installs them; run with --include-ignored)"]
async fn onnxruntime_answers_sequences_as_predict_for_every_family_and_strategy_kind() {
    needs_onnxruntime();
    let app = TestApp::spawn().await;
    for (file, kinds, channels) in sets() {
        let seqs = sequences(200, 5, channels);
        let (x, lengths, t) = padded(&seqs);
        let nested: Vec<Vec<Vec<f32>>> = (x.chunks(t * channels))
            .map(|s| s.chunks(channels).map(<[f32]>::to_vec).collect())
            .collect();
        // JSON has no NaN: missing values go as null, which the script reads back as NaN.
        let nested: Value = serde_json::to_value(&nested).unwrap();
        for case in cases(&app, (file, ""), kinds, &seqs).await {
            let inputs = json!({"sequences": nested, "lengths": lengths});
            let (got, model) = onnxruntime_answers(&case.onnx, &inputs);
            assert_same(&case, &got, "onnxruntime");
            assert_eq!(model["metadata"]["answered_by"], "final", "{}", case.name);
            let tuned = case.name.ends_with("tuned threshold");
            assert_eq!(model["metadata"]["threshold"] != "", tuned, "{}", case.name);
        }
    }
}

#[tokio::test]
async fn tract_answers_sequences_as_predict_for_every_family_and_strategy_kind_unrolled() {
    let app = TestApp::spawn().await;
    for (file, kinds, channels) in sets() {
        let seqs = sequences(200, 5, channels);
        let (x, lengths, t) = padded(&seqs);
        let n = seqs.len();
        // tract reads ONNX's GRU and LSTM only with a constant sequence_lens: `?steps=` unrolls
        // them over the padded length.
        let unrolled = format!("&steps={t}");
        for case in cases(&app, (file, &unrolled), kinds, &seqs).await {
            let model = tract_onnx::onnx()
                .model_for_read(&mut &case.onnx[..])
                .unwrap()
                .with_input_fact(0, f32::fact([n, t, channels]).into())
                .unwrap()
                .with_input_fact(1, i64::fact([n]).into())
                .unwrap()
                .into_optimized()
                .unwrap()
                .into_runnable()
                .unwrap();
            let x = tract_ndarray::Array3::from_shape_vec((n, t, channels), x.clone()).unwrap();
            let l = tract_ndarray::Array1::from_vec(lengths.clone());
            let out = model.run(tvec![x.into_tensor().into(), l.into_tensor().into()]);
            assert_same(&case, &tract_outputs(&out.unwrap()), "tract");
        }
    }
}
