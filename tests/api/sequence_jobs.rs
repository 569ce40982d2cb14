//! GRU jobs on sequence datasets end to end: folds and strategies (every sampler), stacked and
//! bidirectional layers, per-layer statistics, checkpoints with PyTorch's names, predict from
//! `.ts` and JSON with attention weights, and the 422s of specs that do not fit.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, fixture, json, problem};
use crate::helpers::{queued, submit, wait_until_finished};
use crate::helpers::{ts_fixture, upload_ts};

/// The GRU spec the tests train: small and quick.
fn gru(dataset: &Value, attention: &str) -> Value {
    json!({
        "dataset_id": dataset["id"], "seed": 4,
        "model": {"kind": "gru", "hidden_size": 16, "attention": attention},
        "optimizer": {"kind": "adam", "learning_rate": 0.01},
        "training": {"epochs": 3, "batch_size": 32, "early_stopping": null},
        "validation": {"folds": 2},
    })
}

#[tokio::test]
async fn a_gru_job_trains_on_sequences_and_predicts_with_each_sequences_attention_weights() {
    let app = TestApp::spawn().await;
    let vowels = json(
        upload_ts(&app, "", "text/x-ts", ts_fixture("JapaneseVowels_TRAIN.ts")).await,
        201,
    )
    .await;
    // Two strategies on the same folds: random over-sampling copies packed sequences.
    let mut spec = gru(&vowels, "additive");
    spec["imbalance"] = json!({"strategy": ["none", "oversample"]});
    let id = queued(&app, spec).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let accuracy = metrics["summary"]["accuracy"]["mean"].as_f64().unwrap();
    assert!(
        accuracy > 1.0 / 9.0 + 0.2,
        "better than chance over 9 classes: {accuracy}"
    );
    assert_eq!(
        metrics["leaderboard"].as_array().unwrap().len(),
        2,
        "{metrics}"
    );
    // Per-layer statistics: the GRU, the attention, the output layer.
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let run = runs["items"][0]["id"].as_str().unwrap().to_owned();
    let history = app.get_json(&format!("/v1/runs/{run}/metrics")).await;
    let norms = history[0]["layer_grad_norms"].as_array().unwrap();
    assert_eq!(norms.len(), 3, "{history}");
    assert!(norms.iter().all(|v| v.as_f64().unwrap() > 0.0), "{norms:?}");

    // The final model predicts a .ts file; its labels give the accuracy.
    let res = app
        .post(&format!("/v1/jobs/{id}/predict"))
        .header("content-type", "text/x-ts")
        .body(ts_fixture("JapaneseVowels_TRAIN.ts"))
        .send()
        .await
        .unwrap();
    let predicted = json(res, 200).await;
    assert_eq!(predicted["predictions"].as_array().unwrap().len(), 270);
    let train_accuracy = predicted["accuracy"].as_f64().unwrap();
    assert!(train_accuracy > 0.3, "{train_accuracy}");
    // JSON sequences, with the attention weights of each: one per step, summing to 1.
    let steps = |n: usize, channels: usize| -> Vec<Vec<f64>> {
        (0..n)
            .map(|t| {
                (0..channels)
                    .map(|c| ((t * 7 + c) % 5) as f64 * 0.1)
                    .collect()
            })
            .collect()
    };
    let body = json!({"sequences": [steps(9, 12), steps(20, 12)]});
    let res = app
        .post(&format!("/v1/jobs/{id}/predict?explain=attention"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let explained = json(res, 200).await;
    for (p, n) in explained["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .zip([9, 20])
    {
        let w: Vec<f64> = p["attention"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(w.len(), n, "{p}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{w:?}");
        assert!(w.iter().all(|&v| v >= 0.0));
        let total: f64 = p["probabilities"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
    // The attention plot: the final model's weights on the dataset's first sequences, each
    // sequence's summing to 1, its class in the legend.
    let plot = app
        .get_json(&format!(
            "/v1/jobs/{id}/attention.svg?sequences=3&format=json"
        ))
        .await;
    let series = plot["series"].as_array().unwrap();
    assert_eq!(series.len(), 3, "{plot}");
    for s in series {
        let sum: f64 = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-4, "{s}");
        assert!(s["name"].as_str().unwrap().contains("class"), "{s}");
    }
    let svg = app
        .get(&format!("/v1/jobs/{id}/attention.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("attention weight"));
    let bad = app
        .get(&format!("/v1/jobs/{id}/attention.svg?sequences=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_fields(&problem(bad, 422).await), ["sequences"]);
    // Without explain the same sequences score the same.
    let plain = json(
        app.post(&format!("/v1/jobs/{id}/predict"))
            .json(&body)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        plain["predictions"][1]["probabilities"],
        explained["predictions"][1]["probabilities"]
    );
    // Wrong channels, an empty sequence, an unknown explain: 422s naming what is wrong.
    for (body, field) in [
        (
            json!({"sequences": [steps(3, 12), steps(3, 2)]}),
            "sequences[1]",
        ),
        (json!({"sequences": [[]]}), "sequences[0]"),
        (json!({"rows": [{"a": 1}]}), "sequences"),
    ] {
        let p = problem(
            app.post(&format!("/v1/jobs/{id}/predict"))
                .json(&body)
                .send()
                .await
                .unwrap(),
            422,
        )
        .await;
        assert_eq!(error_fields(&p), [field], "{p}");
    }
    let p = problem(
        app.post(&format!("/v1/jobs/{id}/predict?explain=gradients"))
            .json(&body)
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["explain"], "{p}");

    // The checkpoint has PyTorch's names and shapes (tests/api/python.rs loads one in Python).
    let ck = app
        .get(&format!("/v1/runs/{run}/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(ck.status(), 200);
    let bytes = ck.bytes().await.unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, shape) in [
        ("gru.weight_ih_l0", vec![48, 12]),
        ("gru.weight_hh_l0", vec![48, 16]),
        ("gru.bias_ih_l0", vec![48]),
        ("gru.bias_hh_l0", vec![48]),
        ("attention.W_s.weight", vec![16, 16]),
        ("attention.W_h.weight", vec![16, 16]),
        ("attention.v.weight", vec![1, 16]),
        ("output.weight", vec![9, 32]),
        ("output.bias", vec![9]),
    ] {
        assert_eq!(tensors.tensor(name).unwrap().shape(), shape, "{name}");
    }
}

/// An LSTM and a GRU on identical folds: both on the leaderboard, the LSTM's checkpoint with
/// `nn.LSTM`'s names and shapes, its layers in the per-layer statistics, its attention
/// weights in predict.
#[tokio::test]
async fn an_lstm_trains_beside_a_gru_on_identical_folds_with_pytorchs_names() {
    let app = TestApp::spawn().await;
    let vowels = json(
        upload_ts(&app, "", "text/x-ts", ts_fixture("JapaneseVowels_TRAIN.ts")).await,
        201,
    )
    .await;
    let mut spec = gru(&vowels, "additive");
    spec["model"] = json!([
        {"kind": "gru", "hidden_size": 16, "attention": "additive"},
        {"kind": "lstm", "hidden_size": 16, "layers": 2, "bidirectional": true,
         "attention": "additive", "unit_forget_bias": true},
    ]);
    let id = queued(&app, spec).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let board = metrics["leaderboard"].as_array().unwrap();
    assert_eq!(board.len(), 2, "{metrics}");
    for row in board {
        let accuracy = row["summary"]["accuracy"]["mean"].as_f64().unwrap();
        assert!(accuracy > 1.0 / 9.0 + 0.2, "better than chance: {row}");
        let v = row["variant"].as_u64().unwrap() as usize;
        assert_eq!(row["model"]["kind"], ["gru", "lstm"][v], "{row}");
    }
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let lstm = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["variant"] == 1)
        .unwrap();
    let run = lstm["id"].as_str().unwrap().to_owned();
    // Two LSTM layers, the attention, the output layer.
    let history = app.get_json(&format!("/v1/runs/{run}/metrics")).await;
    assert_eq!(
        history[0]["layer_grad_norms"].as_array().unwrap().len(),
        4,
        "{history}"
    );
    let bytes = app.checkpoint(&run).await;
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, shape) in [
        ("lstm.weight_ih_l0", vec![64, 12]),
        ("lstm.weight_hh_l0_reverse", vec![64, 16]),
        ("lstm.weight_ih_l1", vec![64, 32]),
        ("lstm.bias_hh_l1_reverse", vec![64]),
        ("attention.W_s.weight", vec![32, 32]),
        ("output.weight", vec![9, 64]),
    ] {
        assert_eq!(tensors.tensor(name).unwrap().shape(), shape, "{name}");
    }
    let res = app
        .post(&format!("/v1/jobs/{id}/predict?explain=attention"))
        .header("content-type", "text/x-ts")
        .body(ts_fixture("JapaneseVowels_TRAIN.ts"))
        .send()
        .await
        .unwrap();
    let predicted = json(res, 200).await;
    let first = &predicted["predictions"][0];
    let weights = first["attention"].as_array().unwrap();
    let sum: f64 = weights.iter().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4, "{first}");
    // unit_forget_bias is an LSTM's: a GRU spec asking for it is a 422 naming it.
    let mut bad = gru(&vowels, "none");
    bad["model"]["unit_forget_bias"] = json!(true);
    let p = problem(submit(&app, bad).await, 422).await;
    assert_eq!(error_fields(&p), ["model.unit_forget_bias"], "{p}");
}

#[tokio::test]
async fn specs_that_do_not_fit_sequences_or_tables_are_422s_naming_the_field() {
    let app = TestApp::spawn().await;
    let vowels = json(
        upload_ts(&app, "", "text/x-ts", ts_fixture("JapaneseVowels_TRAIN.ts")).await,
        201,
    )
    .await;
    let table = json(
        app.post("/v1/datasets?label=label")
            .header("content-type", "text/csv")
            .body(fixture("breast_cancer.csv"))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let cases = [
        // A GRU on a table.
        (gru(&table, "none"), vec!["model.kind"], "is a table"),
        // A GRU's field on an MLP is refused, not stored unread (and not also range-checked).
        (
            json!({"dataset_id": table["id"], "model": [{"layers": 0}]}),
            vec!["model[0].layers"],
            "does not apply to a mlp: it reads hidden_layers",
        ),
        // SMOTE and NearMiss compare sequences as vectors: equal lengths only.
        (
            {
                let mut s = gru(&vowels, "dot");
                s["imbalance"] = json!({"strategy": ["smote", "nearmiss"]});
                s
            },
            vec!["imbalance.strategy", "imbalance.strategy"],
            "equal lengths",
        ),
        (
            {
                let mut s = gru(&vowels, "none");
                s["imbalance"] = json!({"strategy": "one_class"});
                s
            },
            // And one_class needs two classes, which vowels do not have either.
            vec!["imbalance.strategy", "imbalance.strategy"],
            "autoencoder of table rows",
        ),
        (
            {
                let mut s = gru(&vowels, "none");
                s["model"]["layers"] = json!(0);
                s["model"]["hidden_size"] = json!(0);
                s
            },
            vec!["model.hidden_size", "model.layers"],
            "",
        ),
    ];
    for (spec, fields, says) in cases {
        let p = problem(submit(&app, spec.clone()).await, 422).await;
        assert_eq!(error_fields(&p), fields, "{spec}: {p}");
        assert!(p.to_string().contains(says), "{p}");
    }
    // A model list names the variant.
    let mut list = gru(&vowels, "none");
    list["model"] = json!([{"kind": "gru"}, {"kind": "mlp"}]);
    let p = problem(submit(&app, list).await, 422).await;
    assert_eq!(error_fields(&p), ["model[1].kind"], "{p}");
    let jobs = app.get_json("/v1/jobs").await;
    assert_eq!(jobs["items"], json!([]), "nothing queued: {jobs}");
}

#[tokio::test]
async fn every_sampler_trains_a_stacked_bidirectional_gru_on_equal_length_sequences() {
    let app = TestApp::spawn().await;
    // 36 sequences of 6 steps and 2 channels, 27 "flat" and 9 "rising": long-format CSV.
    let mut csv = String::from("id,t,a,b,label\n");
    for i in 0..36 {
        let rising = i % 4 == 0;
        for t in 0..6 {
            let a = if rising {
                t as f64 * 0.5
            } else {
                ((i * 7 + t) % 5) as f64 * 0.1
            };
            csv.push_str(&format!(
                "s{i},{t},{a},{},{}\n",
                (i + t) % 3,
                if rising { "rising" } else { "flat" }
            ));
        }
    }
    let ds = json(
        upload_ts(&app, "sequence_id=id&order=t", "text/csv", csv.into()).await,
        201,
    )
    .await;
    assert_eq!(ds["imbalance_ratio"], 3.0, "{ds}");
    let spec = json!({
        "dataset_id": ds["id"], "seed": 1,
        "model": {"kind": "gru", "hidden_size": 6, "layers": 2, "bidirectional": true,
                  "dropout": 0.2, "attention": "additive"},
        "training": {"epochs": 2, "batch_size": 8, "early_stopping": null},
        "validation": {"folds": 3},
        "imbalance": {"strategy": ["smote", "nearmiss", "undersample", "easy_ensemble",
                                   "balance_cascade", "class_weight"], "n_subsets": 2},
    });
    let id = queued(&app, spec.clone()).await;
    let job = wait_until_finished(&app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    assert_eq!(
        metrics["leaderboard"].as_array().unwrap().len(),
        6,
        "{metrics}"
    );
    // SMOTE balanced the fold's training sequences; NearMiss cut the larger class.
    let folds = metrics["folds"].as_array().unwrap();
    let counts = |strategy: &str| -> Vec<Value> {
        folds
            .iter()
            .find(|f| f["strategy"] == strategy)
            .map(|f| f["resampled_class_counts"].as_array().unwrap().clone())
            .unwrap()
    };
    assert_eq!(counts("smote")[0], counts("smote")[1], "{metrics}");
    assert_eq!(counts("nearmiss")[0], counts("nearmiss")[1], "{metrics}");
    // Per-layer statistics: two GRU layers, the attention, the output layer.
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let run = runs["items"][0]["id"].as_str().unwrap().to_owned();
    let history = app.get_json(&format!("/v1/runs/{run}/metrics")).await;
    assert_eq!(
        history[0]["layer_grad_norms"].as_array().unwrap().len(),
        4,
        "{} {history}",
        job["spec"]["model"]
    );
    let bytes = app
        .get(&format!("/v1/runs/{run}/checkpoint"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        tensors.tensor("gru.weight_ih_l1_reverse").unwrap().shape(),
        [18, 12]
    );
    assert_eq!(
        tensors.tensor("attention.W_h.weight").unwrap().shape(),
        [12, 12]
    );
    assert_eq!(tensors.tensor("output.weight").unwrap().shape(), [2, 24]);

    // Fine-tuning a GRU from this job's final model, its first layer frozen: that layer's
    // tensors (both directions) are the source's to the bit.
    let source_run = app.final_run(&id).await;
    let mut tuned = spec.clone();
    tuned["imbalance"] = json!({"strategy": "none"});
    tuned["init"] = json!({"job_id": id, "freeze_layers": 1});
    let tuned = queued(&app, tuned).await;
    let job = wait_until_finished(&app, &tuned).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (a, b) = (
        app.checkpoint(&source_run).await,
        app.checkpoint(&app.final_run(&tuned).await).await,
    );
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&a).unwrap(),
        safetensors::SafeTensors::deserialize(&b).unwrap(),
    );
    for name in [
        "gru.weight_ih_l0",
        "gru.weight_hh_l0_reverse",
        "gru.bias_hh_l0",
    ] {
        assert_eq!(
            a.tensor(name).unwrap().data(),
            b.tensor(name).unwrap().data(),
            "{name}"
        );
    }
    assert_ne!(
        a.tensor("gru.weight_ih_l1").unwrap().data(),
        b.tensor("gru.weight_ih_l1").unwrap().data()
    );
}
