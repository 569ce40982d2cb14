//! Finding work: jobs named, described and tagged at submit and later, and the list filtered
//! and sorted by them and by their scores, every bad token a 422 that names it.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, error_fields, json, problem, queued, submit, upload_breast_cancer, wait_until_finished,
};

/// The ids of the jobs listed for `query` (`filter=…&order_by=…`), following every cursor.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let (mut ids, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = app
            .get_json(&format!("/v1/jobs?limit=2&{query}{cursor}"))
            .await;
        for job in page["items"].as_array().unwrap() {
            ids.push(job["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return ids,
        }
    }
}

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn jobs_named_and_tagged_are_found_by_filter_and_sorted_by_score() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = |name: &str, team: &str, hidden: Value| {
        json!({"dataset_id": ds, "name": name, "description": "a first look",
               "tags": {"team": team}, "model": {"hidden_layers": hidden},
               "training": {"epochs": 2}, "validation": {"folds": 2}, "final_model": false})
    };
    let a = queued(&app, spec("churn small", "risk", json!([4]))).await;
    let b = queued(&app, spec("Churn wide", "risk", json!([64, 64]))).await;
    let c = queued(&app, spec("fraud", "ops", json!([16]))).await;
    let mut score = std::collections::BTreeMap::new();
    for id in [&a, &b, &c] {
        let job = wait_until_finished(&app, id).await;
        assert_eq!(
            (job["status"].as_str(), job["tags"]["team"].is_string()),
            (Some("succeeded"), true)
        );
        assert_eq!(job["dataset_name"], "bc");
        score.insert(
            id.clone(),
            job["summary"]["balanced_accuracy"]["mean"]
                .as_f64()
                .unwrap(),
        );
    }
    let by_team = listed(&app, &format!("filter={}", encoded("tags.team = 'risk'"))).await;
    assert_eq!(by_team, [b.clone(), a.clone()]);
    let by_name = listed(
        &app,
        &format!(
            "filter={}",
            encoded("name ilike 'churn%' and family = 'mlp'")
        ),
    )
    .await;
    assert_eq!(by_name, [b.clone(), a.clone()]);
    let mut best_first = vec![a.clone(), b.clone(), c.clone()];
    best_first.sort_by(|x, y| score[y].total_cmp(&score[x]));
    assert_eq!(
        listed(&app, "order_by=metrics.balanced_accuracy").await,
        best_first
    );
    let floor = score.values().cloned().fold(f64::INFINITY, f64::min);
    let above = listed(
        &app,
        &format!(
            "filter={}",
            encoded(&format!("metrics.balanced_accuracy > {floor}"))
        ),
    )
    .await;
    assert_eq!(above.len(), 2, "{above:?} above {floor}");

    // Renamed and retagged later; what it trains cannot be changed.
    let renamed = app
        .patch(&format!("/v1/jobs/{c}"))
        .json(&json!({"name": "fraud v2", "tags": {"team": "risk"}}));
    let renamed = json(renamed.send().await.unwrap(), 200).await;
    assert_eq!(
        (renamed["name"].as_str(), renamed["description"].as_str()),
        (Some("fraud v2"), Some("a first look"))
    );
    assert_eq!(
        listed(
            &app,
            &format!("filter={}&order_by=name", encoded("tags.team = 'risk'"))
        )
        .await,
        [a.clone(), b.clone(), c.clone()]
    );
    let respec = app
        .patch(&format!("/v1/jobs/{c}"))
        .json(&json!({"training": {"epochs": 9}}));
    let p = problem(respec.send().await.unwrap(), 422).await;
    assert_eq!(error_fields(&p), ["training"]);
    let missing = app.patch("/v1/jobs/job_nope").json(&json!({"name": "x"}));
    problem(missing.send().await.unwrap(), 404).await;
}

#[tokio::test]
async fn a_bad_filter_sort_or_tag_is_a_422_naming_the_token() {
    let app = TestApp::spawn().await;
    let cases = [
        ("filter", "nme = 'x'", "'nme'"),
        (
            "filter",
            "metrics.balanced_accuracy > 'high'",
            "character 28",
        ),
        ("filter", "name = 'a' or name = 'b'", "'or'"),
        ("order_by", "metrics.speed", "'metrics.speed'"),
    ];
    for (param, value, names) in cases {
        let res = app
            .get(&format!("/v1/jobs?{param}={}", encoded(value)))
            .send()
            .await
            .unwrap();
        let p = problem(res, 422).await;
        assert_eq!(error_fields(&p), [param]);
        assert!(p.to_string().contains(names), "{value}: {p}");
    }
    let ds = upload_breast_cancer(&app).await;
    let res = submit(
        &app,
        json!({"dataset_id": ds, "name": "", "tags": {"bad key": "x"},
                                  "training": {"epochs": 0}}),
    )
    .await;
    let p = problem(res, 422).await;
    assert_eq!(
        error_fields(&p),
        ["name", "tags.bad key", "training.epochs"]
    );
}

#[tokio::test]
async fn three_jobs_compare_side_by_side_with_their_differences_summaries_and_curves() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    let spec = |hidden: Value, dropout: f64| {
        json!({"dataset_id": ds, "model": {"hidden_layers": hidden, "dropout": dropout},
               "training": {"epochs": 3, "early_stopping": null}, "validation": {"folds": 2},
               "final_model": false})
    };
    let ids = [
        queued(&app, spec(json!([8]), 0.0)).await,
        queued(&app, spec(json!([8]), 0.2)).await,
        queued(&app, spec(json!([16, 16]), 0.0)).await,
    ];
    for id in &ids {
        wait_until_finished(&app, id).await;
    }
    let c = app
        .get_json(&format!("/v1/compare?jobs={}", ids.join(",")))
        .await;
    let shown: Vec<&str> = c["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(shown, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let fields: Vec<&str> = c["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["model.dropout", "model.hidden_layers"], "{c}");
    assert_eq!(c["differences"][1]["values"], json!([[8], [8], [16, 16]]));
    let ba = c["summaries"]["balanced_accuracy"].as_array().unwrap();
    assert_eq!(ba.len(), 3);
    for (i, id) in ids.iter().enumerate() {
        let job = app.get_json(&format!("/v1/jobs/{id}")).await;
        assert_eq!(ba[i], job["summary"]["balanced_accuracy"]);
        let train = c["curves"][i]["train_loss"].as_array().unwrap();
        assert_eq!(
            train
                .iter()
                .map(|p| p[0].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }
    // Fewer than two, an empty id and unknown jobs are refused.
    for bad in [ids[0].clone(), format!("{},", ids[0])] {
        let p = problem(
            app.get(&format!("/v1/compare?jobs={bad}"))
                .send()
                .await
                .unwrap(),
            422,
        )
        .await;
        assert_eq!(error_fields(&p), ["jobs"]);
    }
    let res = app
        .get(&format!("/v1/compare?jobs={},job_nope", ids[0]))
        .send()
        .await
        .unwrap();
    problem(res, 404).await;
}

/// The `(event, data)` pairs of an event stream's text.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            Some((name.to_owned(), serde_json::from_str(&data).unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn the_jobs_list_streams_its_page_then_each_changed_job_until_settled() {
    let app = TestApp::spawn().await;
    let ds = upload_breast_cancer(&app).await;
    // Long enough to be seen training between the feed's 200 ms ticks on a fast machine (300
    // epochs once settled between two ticks in CI: one job event).
    let spec = json!({"dataset_id": ds, "tags": {"watch": "yes"}, "final_model": false,
                      "model": {"hidden_layers": [64, 64]}, "validation": {"folds": 2},
                      "training": {"epochs": 1500, "early_stopping": null}});
    let id = queued(&app, spec).await;
    let filter = encoded("tags.watch = 'yes'");
    let res = app
        .get(&format!("/v1/events?filter={filter}&until=settled"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let events = sse_events(&res.text().await.unwrap());
    let (first, data) = &events[0];
    assert_eq!(
        (first.as_str(), &data["items"][0]["id"]),
        ("page", &json!(id))
    );
    // Every later event is that job changed; its progress never goes back, and it ends settled.
    let jobs: Vec<&Value> = events[1..]
        .iter()
        .map(|(e, d)| {
            assert_eq!((e.as_str(), &d["id"]), ("job", &json!(id)), "{d}");
            d
        })
        .collect();
    assert!(jobs.len() >= 2, "{} job events", jobs.len());
    let fractions: Vec<f64> = std::iter::once(data["items"][0].clone())
        .chain(jobs.iter().map(|j| (*j).clone()))
        .map(|j| j["progress"]["fraction"].as_f64().unwrap())
        .collect();
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    assert_eq!(jobs.last().unwrap()["status"], "succeeded");

    // The stream follows the first page only, and names what it does not take.
    for (query, field) in [
        ("cursor=5", "cursor"),
        ("until=done", "until"),
        ("filter=nme%3D1", "filter"),
    ] {
        let res = app
            .get(&format!("/v1/events?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_fields(&problem(res, 422).await),
            vec![field],
            "{query}"
        );
    }
}
