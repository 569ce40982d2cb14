//! `init`: a job fine-tuned from another job's model starts from its weights (with its
//! encoding), frozen layers keep them to the bit, and what does not fit is a 422.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, fixture, json, problem};
use crate::helpers::{queued, submit, upload_breast_cancer, wait_until_finished};

fn spec(ds: &str, seed: u64, epochs: u64) -> Value {
    json!({
        "dataset_id": ds, "seed": seed,
        "model": {"hidden_layers": [32, 16]},
        "optimizer": {"kind": "adam", "learning_rate": 0.001},
        "training": {"epochs": epochs, "early_stopping": null},
        "validation": {"folds": 2},
    })
}

async fn finished(app: &TestApp, spec: Value) -> String {
    let id = queued(app, spec).await;
    let job = wait_until_finished(app, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    id
}

/// The job's final run: its id and first epoch's training loss.
async fn final_run(app: &TestApp, job: &str) -> (String, f64) {
    let run = app.final_run(job).await;
    let history = app.get_json(&format!("/v1/runs/{run}/metrics")).await;
    (run, history[0]["train_loss"].as_f64().unwrap())
}

#[tokio::test]
async fn a_fine_tuned_job_starts_lower_and_frozen_layers_keep_the_sources_weights() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let source = finished(&app, spec(&ds, 1, 15)).await;
    let scratch = finished(&app, spec(&ds, 9, 2)).await;
    let mut tuned = spec(&ds, 9, 2);
    tuned["init"] = json!({"job_id": source});
    let tuned = finished(&app, tuned).await;
    let (_, scratch_loss) = final_run(&app, &scratch).await;
    let (_, tuned_loss) = final_run(&app, &tuned).await;
    assert!(
        tuned_loss < scratch_loss,
        "fine-tuned {tuned_loss} vs scratch {scratch_loss}"
    );
    // The resolved spec names the source's run.
    let (source_run, _) = final_run(&app, &source).await;
    let job = app.get_json(&format!("/v1/jobs/{tuned}")).await;
    assert_eq!(job["spec"]["init"]["run"], source_run.as_str(), "{job}");

    let mut frozen = spec(&ds, 9, 3);
    frozen["init"] = json!({"job_id": source, "run": "final", "freeze_layers": 1});
    let frozen = finished(&app, frozen).await;
    let (frozen_run, _) = final_run(&app, &frozen).await;
    let (a, b) = (
        app.checkpoint(&source_run).await,
        app.checkpoint(&frozen_run).await,
    );
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&a).unwrap(),
        safetensors::SafeTensors::deserialize(&b).unwrap(),
    );
    for name in ["hidden.0.weight", "hidden.0.bias"] {
        assert_eq!(
            a.tensor(name).unwrap().data(),
            b.tensor(name).unwrap().data(),
            "{name} is frozen"
        );
    }
    assert_ne!(
        a.tensor("hidden.1.weight").unwrap().data(),
        b.tensor("hidden.1.weight").unwrap().data(),
        "the layer above trains"
    );
}

#[tokio::test]
async fn init_that_does_not_fit_is_a_422_naming_each_mismatch() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let source = finished(&app, spec(&ds, 1, 2)).await;
    let with = |mut s: Value, init: Value| {
        s["init"] = init;
        s
    };
    let mut other_model = with(spec(&ds, 1, 2), json!({"job_id": source}));
    other_model["model"]["hidden_layers"] = json!([8]);
    let caravan = json(
        app.upload_csv("label=label", fixture("caravan.csv")).await,
        201,
    )
    .await;
    let caravan = caravan["id"].as_str().unwrap().to_owned();
    for (body, field) in [
        (
            with(spec(&ds, 1, 2), json!({"job_id": "job_nope"})),
            "init.job_id",
        ),
        (
            with(
                spec(&ds, 1, 2),
                json!({"job_id": source, "run": "run_nope"}),
            ),
            "init.run",
        ),
        (
            with(
                spec(&ds, 1, 2),
                json!({"job_id": source, "freeze_layers": 3}),
            ),
            "init.freeze_layers",
        ),
        (other_model, "model"),
        (
            with(spec(&caravan, 1, 2), json!({"job_id": source})),
            "init",
        ),
    ] {
        let p = problem(submit(&app, body.clone()).await, 422).await;
        let fields = error_fields(&p);
        assert!(
            !fields.is_empty() && fields.iter().all(|f| f == field),
            "{body}: {p}"
        );
    }
}
