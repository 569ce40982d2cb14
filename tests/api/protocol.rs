//! The protocol's columns and datasets: `validation.group_column` keeps each group in one fold
//! with the classes spread as evenly as the groups allow, and `validation.test_dataset_id`
//! has the final model score every row of another dataset once; what does not fit is a 422.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, fixture, json, problem};
use crate::helpers::{queued, submit, wait_until_finished};

fn breast_cancer() -> String {
    String::from_utf8(fixture("breast_cancer.csv")).unwrap()
}

/// breast_cancer.csv with a `patient` column (text; groups of uneven size, not contiguous).
fn with_patients() -> (String, Vec<String>) {
    let text = breast_cancer();
    let mut lines = text.lines();
    let mut csv = format!("{},patient\n", lines.next().unwrap());
    let mut patients = Vec::new();
    for (i, line) in lines.enumerate() {
        let p = format!("p{}", (i * i + 3 * i) % 101);
        csv.push_str(&format!("{line},{p}\n"));
        patients.push(p);
    }
    (csv, patients)
}

async fn upload(app: &TestApp, query: &str, csv: String) -> String {
    let ds = json(app.upload_csv(query, csv).await, 201).await;
    ds["id"].as_str().unwrap().to_owned()
}

async fn succeeded(app: &TestApp, spec: Value) -> String {
    let id = queued(app, spec).await;
    let job = wait_until_finished(app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    id
}

#[tokio::test]
async fn a_group_column_keeps_every_group_in_one_fold_and_spreads_the_classes() {
    let app = TestApp::spawn().await;
    let (csv, patients) = with_patients();
    let ds = upload(&app, "label=label", csv).await;
    let id = succeeded(
        &app,
        json!({"dataset_id": ds, "seed": 4, "training": {"epochs": 1},
               "validation": {"folds": 5, "repeats": 2, "group_column": "patient"}}),
    )
    .await;
    let predictions = app
        .get_json(&format!("/v1/jobs/{id}/predictions?limit=10000"))
        .await;
    let items = predictions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2 * 569, "every row held out once per repeat");
    let largest = {
        let mut sizes = BTreeMap::<&str, usize>::new();
        for p in &patients {
            *sizes.entry(p).or_default() += 1;
        }
        *sizes.values().max().unwrap() as f64
    };
    let mut assignments = Vec::new();
    for repeat in 0..2u64 {
        let mut fold_of_patient = BTreeMap::<&str, u64>::new();
        let mut counts = [[0.0f64; 2]; 5];
        let mut class_totals = [0.0f64; 2];
        let mut folds = vec![0u64; 569];
        for p in items.iter().filter(|p| p["repeat"] == repeat) {
            let (row, fold) = (p["row"].as_u64().unwrap(), p["fold"].as_u64().unwrap());
            let patient = patients[row as usize].as_str();
            let first = *fold_of_patient.entry(patient).or_insert(fold);
            assert_eq!(first, fold, "repeat {repeat}: {patient} is in two folds");
            let class = p["label"].as_str().unwrap().parse::<usize>().unwrap();
            counts[fold as usize][class] += 1.0;
            class_totals[class] += 1.0;
            folds[row as usize] = fold;
        }
        // Each fold's class count is within a group of the ideal share.
        for (f, c) in counts.iter().enumerate() {
            for class in 0..2 {
                let ideal = class_totals[class] / 5.0;
                assert!(
                    (c[class] - ideal).abs() <= largest,
                    "repeat {repeat} fold {f}: {} rows of class {class}, ideal {ideal:.1}",
                    c[class]
                );
            }
        }
        assignments.push(folds);
    }
    assert_ne!(assignments[0], assignments[1], "repeats shuffle the groups");
    // The group column is not a feature.
    let encoding = app.final_encoding(&id).await;
    assert!(!encoding.contains("patient"), "{encoding}");

    for (validation, field) in [
        (json!({"group_column": "nope"}), "validation.group_column"),
        (json!({"group_column": "label"}), "validation.group_column"),
        (
            json!({"group_column": "patient", "test_fraction": 0.2}),
            "validation.test_fraction",
        ),
        (
            json!({"group_column": "patient", "fold_column": "mean radius"}),
            "validation.group_column",
        ),
    ] {
        let spec = json!({"dataset_id": ds, "validation": validation});
        let p = problem(submit(&app, spec.clone()).await, 422).await;
        assert!(error_fields(&p).contains(&field.to_owned()), "{spec}: {p}");
    }
    // Too few groups for the folds, and a row without a group: 422s from the dry run too.
    let few = "x,g,label\n1,a,0\n2,a,1\n3,b,0\n4,b,1\n5,a,0\n6,b,1\n".to_owned();
    let few = upload(&app, "label=label", few).await;
    let missing = "x,g,label\n1,a,0\n2,,1\n3,b,0\n4,b,1\n5,c,0\n6,c,1\n".to_owned();
    let missing = upload(&app, "label=label", missing).await;
    for (ds, says) in [(few, "2 groups"), (missing, "row 1")] {
        let spec = json!({"dataset_id": ds, "validation": {"folds": 3, "group_column": "g"}});
        let res = app.dry_run(&spec).await;
        let p = problem(res, 422).await;
        assert_eq!(error_fields(&p), ["validation.group_column"], "{p}");
        assert!(p.to_string().contains(says), "{p}");
    }
}

#[tokio::test]
async fn a_test_dataset_is_scored_once_by_the_final_model_on_every_row() {
    let app = TestApp::spawn().await;
    let text = breast_cancer();
    let lines: Vec<&str> = text.lines().collect();
    let (header, rows) = (lines[0], &lines[1..]);
    let part = |r: &[&str]| format!("{header}\n{}\n", r.join("\n"));
    let train = upload(&app, "label=label", part(&rows[..400])).await;
    let test = upload(&app, "label=label", part(&rows[400..])).await;
    let id = succeeded(
        &app,
        json!({"dataset_id": train, "seed": 2, "training": {"epochs": 3},
               "validation": {"folds": 3, "test_dataset_id": test}, "final_model": false}),
    )
    .await;
    let job = app.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(
        job["spec"]["final_model"], true,
        "a test dataset needs the final model"
    );
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let scored = &metrics["test"];
    let confusion = scored["confusion_matrix"].as_array().unwrap();
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 169, "every test row once: {scored}");
    // The same as predicting the test rows with the final model.
    let res = app
        .post(&format!("/v1/jobs/{id}/predict"))
        .header("content-type", "text/csv")
        .body(part(&rows[400..]))
        .send()
        .await
        .unwrap();
    let predicted = json(res, 200).await;
    let label_at = header.split(',').position(|h| h == "label").unwrap();
    let right = predicted["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&rows[400..])
        .filter(|(p, row)| p["label"] == row.split(',').nth(label_at).unwrap())
        .count();
    let accuracy = scored["accuracy"].as_f64().unwrap();
    assert!(
        (accuracy - right as f64 / 169.0).abs() < 1e-12,
        "{accuracy} vs {right}/169"
    );

    // Another label column, a missing feature column, an unknown dataset, and a test fraction besides.
    let renamed_label = upload(
        &app,
        "label=y",
        part(&rows[400..]).replacen("label", "y", 1),
    )
    .await;
    let fewer = {
        let cut = |l: &str| l.split(',').skip(1).collect::<Vec<_>>().join(",");
        let body: Vec<String> = lines[401..].iter().map(|l| cut(l)).collect();
        format!("{}\n{}\n", cut(header), body.join("\n"))
    };
    let fewer = upload(&app, "label=label", fewer).await;
    for (validation, field) in [
        (
            json!({"test_dataset_id": "ds_nope"}),
            "validation.test_dataset_id",
        ),
        (
            json!({"test_dataset_id": renamed_label}),
            "validation.test_dataset_id",
        ),
        (
            json!({"test_dataset_id": fewer}),
            "validation.test_dataset_id",
        ),
        (
            json!({"test_dataset_id": test, "test_fraction": 0.2}),
            "validation.test_fraction",
        ),
    ] {
        let spec = json!({"dataset_id": train, "validation": validation});
        let p = problem(submit(&app, spec.clone()).await, 422).await;
        let fields = error_fields(&p);
        assert!(
            !fields.is_empty() && fields.iter().all(|f| f == field),
            "{spec}: {p}"
        );
    }
}

/// 60 rows: `grade` (numeric, 3 classes) follows x1, `kind` (text, 2 classes) follows x2 and is
/// missing in every 7th row, `y` is the upload's label, `c` is constant.
fn relabel_csv() -> String {
    let mut csv = String::from("x1,x2,grade,kind,c,y\n");
    for i in 0..60u32 {
        let grade = i % 3;
        let kind = if i % 7 == 3 {
            ""
        } else if i % 2 == 0 {
            "a"
        } else {
            "b"
        };
        csv.push_str(&format!(
            "{},{},{grade},{kind},1,{}\n",
            f64::from(grade) * 2.0 + f64::from(i % 5) * 0.1,
            f64::from(i % 2) * 3.0 + f64::from(i % 4) * 0.2,
            i % 4 / 2
        ));
    }
    csv
}

#[tokio::test]
async fn another_column_can_be_the_label_and_missing_labels_need_a_rule() {
    let app = TestApp::spawn().await;
    let ds = upload(&app, "label=y", relabel_csv()).await;
    let spec = |label: &str| {
        json!({"dataset_id": ds, "label": label, "seed": 1,
               "training": {"epochs": 20, "early_stopping": null},
               "optimizer": {"kind": "adam", "learning_rate": 0.01},
               "validation": {"folds": 3}})
    };
    // A numeric column: its values are the classes, in numeric order.
    let id = succeeded(&app, spec("grade")).await;
    let metrics = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let confusion = metrics["pooled"]["confusion_matrix"].as_array().unwrap();
    assert_eq!(confusion.len(), 3, "{metrics}");
    let predictions = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
    let items = predictions["items"].as_array().unwrap();
    assert_eq!(items.len(), 60);
    for p in items {
        let row = p["row"].as_u64().unwrap();
        assert_eq!(p["label"], (row % 3).to_string(), "{p}");
    }
    // The upload's label is now a feature: the model reads y, and predict needs it.
    let encoding = app.final_encoding(&id).await;
    assert!(
        encoding.contains("\"y\"") && !encoding.contains("\"grade\""),
        "{encoding}"
    );
    let res = app
        .post(&format!("/v1/jobs/{id}/predict"))
        .json(&json!({"rows": [{"x1": 4.1, "x2": 0.2, "kind": "a", "c": 1, "y": "0"}]}))
        .send()
        .await
        .unwrap();
    let predicted = json(res, 200).await;
    let p = &predicted["predictions"][0];
    let names: Vec<&String> = p["probabilities"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["0", "1", "2"], "{p}");
    let job = app.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["spec"]["label"], "grade");

    // A text column missing in 9 rows: a 422 unless those rows are left out.
    let p = problem(submit(&app, spec("kind")).await, 422).await;
    assert_eq!(error_fields(&p), ["label"], "{p}");
    assert!(p.to_string().contains("9 rows"), "{p}");
    let mut dropping = spec("kind");
    dropping["drop_missing_label"] = json!(true);
    let id = succeeded(&app, dropping).await;
    let predictions = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
    let rows: Vec<u64> = predictions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows.len(), 51, "{predictions}");
    assert!(
        rows.iter().all(|r| r % 7 != 3),
        "a row without a label was held out"
    );
    let runs = app.get_json(&format!("/v1/jobs/{id}/runs")).await;
    let last = runs["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "final");
    let m = app.get_json(&format!("/v1/jobs/{id}/metrics")).await;
    let held_out: u64 = m["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            crate::helpers::counts(&f["validation_class_counts"])
                .iter()
                .sum::<u64>()
        })
        .sum();
    assert_eq!(held_out, 51);

    for label in ["c", "nope"] {
        let p = problem(submit(&app, spec(label)).await, 422).await;
        assert_eq!(error_fields(&p), ["label"], "{label}: {p}");
    }
}

/// Only the columns a job trains on are one-hot encoded, so only they count toward
/// `max_categories`: a text column of 5,000 values as the group column, or left out by
/// `features`, is fine.
#[tokio::test]
async fn columns_the_job_does_not_train_on_do_not_count_toward_max_categories() {
    let app = TestApp::spawn_with(|s| s.limits.max_categories = 100).await;
    let text = breast_cancer();
    let mut lines = text.lines();
    let mut csv = format!("{},visit\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        csv.push_str(&format!("{line},v{}\n", i % 500));
    }
    let ds = upload(&app, "label=label", csv).await;
    let grouped = json!({"dataset_id": ds, "validation": {"folds": 2, "group_column": "visit"},
                         "training": {"epochs": 1}, "final_model": false});
    assert_eq!(submit(&app, grouped).await.status(), 202);
    let chosen = json!({"dataset_id": ds, "features": ["mean radius", "mean texture"],
                        "training": {"epochs": 1}, "final_model": false});
    assert_eq!(submit(&app, chosen).await.status(), 202);
    // Trained on, it is still refused.
    let p = problem(submit(&app, json!({"dataset_id": ds})).await, 422).await;
    assert_eq!(error_fields(&p), ["features"], "{p}");
    assert!(p["detail"].as_str().unwrap().contains("\"visit\""), "{p}");
}

/// A test set (or pretraining set) that is the job's own dataset, or the same bytes uploaded
/// again, is refused: the test score would be on training rows.
#[tokio::test]
async fn the_jobs_own_dataset_as_its_test_or_pretraining_set_is_refused() {
    let app = TestApp::spawn().await;
    let ds = upload(&app, "label=label", breast_cancer()).await;
    let again = upload(&app, "label=label&name=again", breast_cancer()).await;
    for other in [&ds, &again] {
        let tested = json!({"dataset_id": ds, "validation": {"test_dataset_id": other}});
        let p = problem(submit(&app, tested).await, 422).await;
        assert_eq!(error_fields(&p), ["validation.test_dataset_id"], "{p}");
        assert!(
            p["detail"].as_str().unwrap().contains("never trains on"),
            "{p}"
        );
        let pretrained = json!({"dataset_id": ds,
            "pretrain": {"kind": "autoencoder", "epochs": 1, "dataset_id": other}});
        let p = problem(submit(&app, pretrained).await, 422).await;
        assert_eq!(error_fields(&p), ["pretrain.dataset_id"], "{p}");
    }
}

/// Submitting a job with a test dataset while that dataset is deleted: one of the two wins,
/// never both (the job would fail later without its test set).
#[tokio::test]
async fn a_job_on_a_test_dataset_and_its_delete_never_both_succeed() {
    let app = TestApp::spawn().await;
    let ds = upload(&app, "label=label", breast_cancer()).await;
    let text = breast_cancer();
    for round in 0..20 {
        // Each round's test set: other rows than the last round's (a new dataset each time).
        let test: String = text
            .lines()
            .take(60 + round)
            .map(|l| format!("{l}\n"))
            .collect();
        let test = upload(&app, "label=label", test).await;
        let spec = json!({"dataset_id": ds, "training": {"epochs": 1}, "validation":
                          {"folds": 2, "test_dataset_id": test}});
        let delete = app.delete(&format!("/v1/datasets/{test}")).send();
        let (job, deleted) = tokio::join!(submit(&app, spec), delete);
        let (job, deleted) = (job.status().as_u16(), deleted.unwrap().status().as_u16());
        assert!(
            [(202, 409), (422, 204)].contains(&(job, deleted)),
            "round {round}: job {job}, delete {deleted}"
        );
    }
}

/// Class names are stored with the job: after its dataset is deleted, predictions, out-of-fold
/// predictions and plots still name classes `5` and `7`, not `0` and `1`.
#[tokio::test]
async fn class_names_outlive_the_dataset() {
    let app = TestApp::spawn().await;
    let mut csv = String::from("x,label\n");
    for i in 0..40 {
        csv.push_str(&format!("{},{}\n", i, if i < 20 { 5 } else { 7 }));
    }
    let ds = upload(&app, "label=label", csv).await;
    let id = succeeded(
        &app,
        json!({"dataset_id": ds, "training": {"epochs": 3}, "validation": {"folds": 2}}),
    )
    .await;
    let res = app
        .delete(&format!("/v1/datasets/{ds}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let p = json(
        app.post(&format!("/v1/jobs/{id}/predict"))
            .json(&json!({"rows": [{"x": 1.0}]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let probabilities = p["predictions"][0]["probabilities"].as_object().unwrap();
    assert_eq!(probabilities.keys().collect::<Vec<_>>(), ["5", "7"], "{p}");
    assert!(
        ["5", "7"].contains(&p["predictions"][0]["label"].as_str().unwrap()),
        "{p}"
    );
    let oof = app.get_json(&format!("/v1/jobs/{id}/predictions")).await;
    let truth: std::collections::BTreeSet<&str> = oof["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(truth.into_iter().collect::<Vec<_>>(), ["5", "7"], "{oof}");
    let confusion = app
        .get_json(&format!("/v1/jobs/{id}/confusion.svg?format=json"))
        .await;
    assert!(confusion.to_string().contains("\"7\""), "{confusion}");
}
