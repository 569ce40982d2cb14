//! Imbalance strategies through the API: a comparison trains every strategy on the same
//! recorded folds and ranks them; the final model trains the winner; ensembles and the one-class
//! autoencoder run end to end on caravan; specs that cannot work are 422s.

use std::collections::BTreeMap;

use serde_json::json;

use crate::helpers::{TestApp, counts, error_fields, fixture, json, problem};
use crate::helpers::{submit, upload_breast_cancer, wait_until_finished};

#[tokio::test]
async fn a_strategy_list_trains_each_on_the_same_folds_and_ranks_them() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let strategies = ["none", "class_weight", "smote", "easy_ensemble"];
    let spec = json!({
        "dataset_id": ds,
        "model": {"hidden_layers": [16]},
        "training": {"epochs": 3},
        "validation": {"folds": 3},
        "imbalance": {"strategy": strategies, "n_subsets": 3},
    });
    let job = json(submit(&app, spec).await, 202).await;
    let id = job["id"].as_str().unwrap();
    let done = wait_until_finished(&app, id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let folds = metrics["folds"].as_array().unwrap();
    assert_eq!(folds.len(), strategies.len() * 3);

    // The same recorded folds: per fold, every strategy saw the same training class counts
    // and scored the same held-out rows.
    let oof = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
    let mut rows_of: BTreeMap<(String, u64), Vec<u64>> = BTreeMap::new();
    for item in oof["items"].as_array().unwrap() {
        rows_of
            .entry((
                item["strategy"].as_str().unwrap().to_owned(),
                item["fold"].as_u64().unwrap(),
            ))
            .or_default()
            .push(item["row"].as_u64().unwrap());
    }
    for fold in 0..3u64 {
        let reference = &rows_of[&("none".to_owned(), fold)];
        let train_reference = folds
            .iter()
            .find(|f| f["strategy"] == "none" && f["fold"] == fold)
            .unwrap()["train_class_counts"]
            .clone();
        for s in strategies {
            assert_eq!(
                &rows_of[&(s.to_owned(), fold)],
                reference,
                "{s} fold {fold}"
            );
            let f = folds
                .iter()
                .find(|f| f["strategy"] == s && f["fold"] == fold)
                .unwrap();
            assert_eq!(f["train_class_counts"], train_reference, "{s} fold {fold}");
            let (train, resampled) = (
                counts(&f["train_class_counts"]),
                counts(&f["resampled_class_counts"]),
            );
            let (major, minor) = (train[0].max(train[1]), train[0].min(train[1]));
            match s {
                "smote" => assert_eq!(resampled, vec![major, major]),
                "easy_ensemble" => {
                    assert_eq!(resampled, vec![minor, minor]);
                    let members = f["member_class_counts"].as_array().unwrap();
                    assert_eq!(members.len(), 3);
                    assert!(members.iter().all(|m| counts(m) == vec![minor, minor]));
                }
                _ => assert_eq!(resampled, train, "{s} trains on the fold as it is"),
            }
        }
    }

    // The leaderboard: every strategy once, mean and std of balanced accuracy over its own
    // folds, best first.
    let board = metrics["leaderboard"].as_array().unwrap();
    assert_eq!(board.len(), strategies.len());
    let mut means = Vec::new();
    for (i, entry) in board.iter().enumerate() {
        assert_eq!(entry["rank"], i + 1);
        assert_eq!(entry["metric"], "balanced_accuracy");
        let s = entry["strategy"].as_str().unwrap();
        let values: Vec<f64> = folds
            .iter()
            .filter(|f| f["strategy"] == s)
            .map(|f| f["metrics"]["balanced_accuracy"].as_f64().unwrap())
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let std =
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
        assert!(
            (entry["mean"].as_f64().unwrap() - mean).abs() < 1e-12,
            "{entry}"
        );
        assert!(
            (entry["std"].as_f64().unwrap() - std).abs() < 1e-12,
            "{entry}"
        );
        means.push(mean);
    }
    assert!(means.windows(2).all(|w| w[0] >= w[1]), "sorted: {means:?}");
    let mut listed: Vec<&str> = board
        .iter()
        .map(|e| e["strategy"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut want = strategies.to_vec();
    want.sort_unstable();
    assert_eq!(listed, want);

    // The job's summary is the winner's; the final model trained the winner after the folds.
    let winner = board[0]["strategy"].as_str().unwrap();
    assert_eq!(
        done["summary"]["balanced_accuracy"]["mean"]
            .as_f64()
            .unwrap(),
        board[0]["mean"].as_f64().unwrap()
    );
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let final_run = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "final")
        .unwrap()
        .clone();
    assert_eq!(final_run["strategy"], winner, "{final_run}");
    let p = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    assert!(p["pooled"]["balanced_accuracy"].is_number(), "{p}");

    // Ranking by log loss puts the lowest first.
    let spec = json!({
        "dataset_id": ds,
        "model": {"hidden_layers": [8]},
        "training": {"epochs": 2},
        "validation": {"folds": 2},
        "final_model": false,
        "imbalance": {"strategy": ["none", "undersample"], "rank_by": "log_loss"},
    });
    let id = json(submit(&app, spec).await, 202).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let board = app.get_json(&format!("/v1/jobs/{id}/metrics")).await["leaderboard"].clone();
    let (a, b) = (
        board[0]["mean"].as_f64().unwrap(),
        board[1]["mean"].as_f64().unwrap(),
    );
    assert!(a <= b, "{board}");
}

#[tokio::test]
async fn balance_cascade_and_one_class_run_end_to_end_on_caravan_and_predict() {
    let app = TestApp::spawn().await;
    let ds = json(
        app.upload_csv("name=caravan&label=label", fixture("caravan.csv"))
            .await,
        201,
    )
    .await;
    let ds = ds["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for strategy in ["balance_cascade", "one_class"] {
        let spec = json!({
            "dataset_id": ds,
            "model": {"hidden_layers": [16]},
            "training": {"epochs": 2},
            "validation": {"folds": 3},
            "imbalance": {"strategy": strategy, "n_subsets": 3},
        });
        ids.push((
            strategy,
            json(submit(&app, spec).await, 202).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    for (strategy, id) in ids {
        let done = wait_until_finished(&app, &id).await;
        assert_eq!(done["status"], "succeeded", "{strategy}: {done}");
        let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
        for f in metrics["folds"].as_array().unwrap() {
            let train = counts(&f["train_class_counts"]);
            let resampled = counts(&f["resampled_class_counts"]);
            let (major, minor) = (train[0].max(train[1]), train[0].min(train[1]));
            let m = &f["metrics"];
            for key in ["balanced_accuracy", "roc_auc", "pr_auc"] {
                assert!(m[key].as_f64().unwrap().is_finite(), "{strategy}: {m}");
            }
            if strategy == "one_class" {
                // Trained on the majority class alone.
                assert_eq!(resampled.iter().sum::<u64>(), major);
                assert!(resampled.contains(&0));
            } else {
                assert_eq!(resampled, vec![minor, minor]);
                assert_eq!(f["member_class_counts"].as_array().unwrap().len(), 3);
            }
        }
        // Every epoch of every member is on record, numbered on.
        let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
        let run = runs["items"].as_array().unwrap()[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let history = app.get_json(&format!("/v1/runs/{run}/metrics")).await;
        let epochs: Vec<(u64, Option<u64>)> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["epoch"].as_u64().unwrap(), r["member"].as_u64()))
            .collect();
        let want: Vec<(u64, Option<u64>)> = if strategy == "one_class" {
            vec![(1, None), (2, None)]
        } else {
            (0..6).map(|i| (i + 1, Some(i / 2))).collect()
        };
        assert_eq!(epochs, want, "{strategy}");
        // The final model (and the fold models) predict probabilities that sum to one, for the
        // first caravan row without its label.
        let text = String::from_utf8(fixture("caravan.csv")).unwrap();
        let mut lines = text.lines();
        let (header, first) = (lines.next().unwrap(), lines.next().unwrap());
        let cut = |l: &str| l.rsplit_once(',').unwrap().0.to_owned();
        let csv = format!("{}\n{}\n", cut(header), cut(first));
        for ensemble in ["", "?ensemble=folds"] {
            let res = app
                .post(&format!("/v1/jobs/{id}/predict{ensemble}"))
                .header("content-type", "text/csv")
                .body(csv.clone())
                .send()
                .await
                .unwrap();
            let body = json(res, 200).await;
            let p = body["predictions"][0]["probabilities"].as_object().unwrap();
            let total: f64 = p.values().map(|v| v.as_f64().unwrap()).sum();
            assert!((total - 1.0).abs() < 1e-5, "{strategy}{ensemble}: {body}");
        }
    }
}

#[tokio::test]
async fn imbalance_specs_that_cannot_work_are_422s_naming_the_field() {
    let app = TestApp::spawn().await;
    let bc = upload_breast_cancer(&app).await;
    let digits = json(
        app.upload_csv("name=digits&label=label", fixture("digits.csv"))
            .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            json!({"dataset_id": digits, "imbalance": {"strategy": "one_class"}}),
            "imbalance.strategy",
        ),
        (
            json!({"dataset_id": bc, "imbalance": {"strategy": ["none", "smote", "none"]}}),
            "imbalance.strategy",
        ),
        (
            json!({"dataset_id": bc, "imbalance": {"strategy": []}}),
            "imbalance.strategy",
        ),
        (
            json!({"dataset_id": bc, "imbalance": {"strategy": "bagging"}}),
            "imbalance.strategy",
        ),
        (
            json!({"dataset_id": bc, "imbalance": {"strategy": ["none", "smote"], "rank_by": "speed"}}),
            "imbalance.rank_by",
        ),
        (
            json!({"dataset_id": bc, "imbalance": {"strategy": "easy_ensemble", "n_subsets": 0}}),
            "imbalance.n_subsets",
        ),
        (
            json!({"dataset_id": digits, "imbalance": {"strategy": ["none", "smote"], "rank_by": "pr_auc"}}),
            "imbalance.rank_by",
        ),
    ];
    for (spec, field) in cases {
        let p = problem(submit(&app, spec.clone()).await, 422).await;
        assert_eq!(error_fields(&p), vec![field], "{spec}: {p}");
    }
    // A misspelt name in a list is named, with the valid ones.
    let spec = json!({"dataset_id": bc, "imbalance": {"strategy": ["none", "smoote"]}});
    let p = problem(submit(&app, spec).await, 422).await;
    let message = p["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("\"smoote\"") && message.contains("easy_ensemble"),
        "{p}"
    );
    let jobs = app.get_json("/v1/jobs").await;
    assert!(
        jobs["items"].as_array().unwrap().is_empty(),
        "nothing was queued"
    );
}

#[tokio::test]
async fn class_weight_is_balanced_per_fold_or_an_explicit_map_and_is_recorded() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let mut ids = Vec::new();
    for weights in [json!("balanced"), json!({"1": 4.5})] {
        let spec = json!({
            "dataset_id": ds,
            "model": {"hidden_layers": [8]},
            "training": {"epochs": 1},
            "validation": {"folds": 2},
            "final_model": false,
            "imbalance": {"strategy": "class_weight", "class_weights": weights},
        });
        ids.push(
            json(submit(&app, spec).await, 202).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(wait_until_finished(&app, id).await["status"], "succeeded");
        let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
        for f in metrics["folds"].as_array().unwrap() {
            let train = counts(&f["train_class_counts"]);
            let got: Vec<f64> = serde_json::from_value(f["class_weights"].clone()).unwrap();
            let want: Vec<f64> = if i == 0 {
                // scikit-learn's balanced: n / (k · count_c), from this fold's training rows.
                let n: u64 = train.iter().sum();
                train.iter().map(|&c| n as f64 / (2.0 * c as f64)).collect()
            } else {
                vec![1.0, 4.5]
            };
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        }
    }
    for (weights, field) in [
        (json!({"7": 2.0}), "imbalance.class_weights.7"),
        (json!({"1": -1.0}), "imbalance.class_weights.1"),
        (json!("equal"), "imbalance.class_weights"),
        (json!({"1": "high"}), "imbalance.class_weights"),
    ] {
        let spec = json!({"dataset_id": ds, "imbalance": {"strategy": "class_weight", "class_weights": weights}});
        let p = problem(submit(&app, spec).await, 422).await;
        assert_eq!(error_fields(&p), vec![field], "{p}");
    }
}

#[tokio::test]
async fn an_ensembles_best_epoch_is_its_members_mean_within_the_spec_and_its_final_model_follows_it()
 {
    let app = TestApp::spawn().await;
    let ds = crate::helpers::upload_breast_cancer(&app).await;
    // Before, a fold of 3 members listed the epochs of all three as its best epoch (up to 18
    // here), and a final model trained for the folds' epochs trained each member that many.
    let spec = json!({"dataset_id": ds, "imbalance": {"strategy": "easy_ensemble", "n_subsets": 3},
                      "training": {"epochs": 6}, "validation": {"folds": 2},
                      "final_model": {"epochs": "cv"}});
    let id = crate::helpers::queued(&app, spec).await;
    assert_eq!(wait_until_finished(&app, &id).await["status"], "succeeded");
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let best: Vec<u64> = (metrics["folds"].as_array().unwrap().iter())
        .map(|f| f["best_epoch"].as_u64().unwrap())
        .collect();
    assert!(best.iter().all(|&b| (1..=6).contains(&b)), "{best:?}");
    let cv = (best.iter().sum::<u64>() as f64 / best.len() as f64).round() as usize;
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let last = runs["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "final");
    let history = app
        .get_json(&format!(
            "/v1/runs/{}/metrics",
            last["id"].as_str().unwrap()
        ))
        .await;
    let mut per_member = BTreeMap::new();
    for e in history.as_array().unwrap() {
        *per_member
            .entry(e["member"].as_u64().unwrap())
            .or_insert(0usize) += 1;
    }
    assert_eq!(
        per_member,
        BTreeMap::from([(0, cv), (1, cv), (2, cv)]),
        "cv epochs {cv}"
    );
}
