//! Sequence datasets over HTTP: `.ts` uploads (Content-Type `text/x-ts` or `?format=ts`), JSON
//! and NDJSON records, long-format CSV; their view, and bad inputs named by line, record or id.

use serde_json::{Value, json};

use crate::helpers::submit;
use crate::helpers::{TestApp, error_fields, json, problem, ts_fixture, upload_ts};

#[tokio::test]
async fn a_ts_upload_is_a_sequence_dataset_with_its_channels_lengths_and_classes() {
    let app = TestApp::spawn().await;
    let ds = json(
        upload_ts(
            &app,
            "name=gunpoint",
            "text/x-ts",
            ts_fixture("GunPoint_TRAIN.ts"),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        (ds["kind"].clone(), ds["format"].clone()),
        (json!("sequence"), json!("ts"))
    );
    assert_eq!(ds["rows"], 50);
    assert_eq!(
        ds["sequence"],
        json!({"channels": 1, "length_min": 150, "length_median": 150, "length_max": 150,
               "total_steps": 7500})
    );
    let counts: Vec<(Value, Value)> = ds["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["value"].clone(), c["count"].clone()))
        .collect();
    assert_eq!(counts, [(json!("1"), json!(24)), (json!("2"), json!(26))]);
    let id = ds["id"].as_str().unwrap();
    assert_eq!(app.get_json(&format!("/v1/datasets/{id}")).await, ds);

    // ?format=ts reads the body as .ts whatever its Content-Type (raw bytes, as generated
    // clients send them, with `label` at its default); variable lengths.
    let vowels = json(
        upload_ts(
            &app,
            "format=ts&label=label",
            "application/octet-stream",
            ts_fixture("JapaneseVowels_TRAIN.ts"),
        )
        .await,
        201,
    )
    .await;

    let shape = &vowels["sequence"];
    assert_eq!(
        (
            shape["channels"].clone(),
            shape["length_min"].clone(),
            shape["length_max"].clone()
        ),
        (json!(12), json!(7), json!(26))
    );
    assert_eq!(vowels["classes"].as_array().unwrap().len(), 9);
    assert_eq!(vowels["feature_count"], 12);

    // An MLP does not train on it: a 422 naming model.kind that says what does.
    let p = problem(
        submit(&app, json!({"dataset_id": id, "validation": {"folds": 2}})).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["model.kind"], "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("holds sequences"),
        "{p}"
    );
    // Deleted like any dataset.
    let res = app
        .delete(&format!("/v1/datasets/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn bad_ts_input_is_a_422_naming_its_line_and_nothing_is_stored() {
    let app = TestApp::spawn_with(|s| s.limits.max_sequence_steps = 100).await;
    let head = "@problemName t\n@classLabel true a b\n@data\n";
    for (body, line, says) in [
        (format!("{head}1,2:3:a\n4,5:b\n"), 4, "ragged channels"),
        (format!("{head}1,2:a\n:b\n"), 5, "empty sequence"),
        (format!("{head}1,2:c\n"), 4, "@classLabel"),
        (format!("{head}1,?,x:a\n"), 4, "not a number"),
    ] {
        let p = problem(
            upload_ts(&app, "", "text/x-ts", body.into_bytes()).await,
            422,
        )
        .await;
        assert_eq!(p["line"], line, "{p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{p}");
    }
    // GunPoint's 150 steps are more than this server's max_sequence_steps.
    let p = problem(
        upload_ts(&app, "", "text/x-ts", ts_fixture("GunPoint_TRAIN.ts")).await,
        422,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("max_sequence_steps (100)"),
        "{p}"
    );
    assert!(p["line"].as_u64().unwrap() > 1, "{p}");
    // A .ts file carries its labels; ?format= takes only the upload formats.
    let p = problem(
        upload_ts(&app, "label=y", "text/x-ts", b"@data\n1:a\n2:b\n".to_vec()).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["label"]);
    let p = problem(
        upload_ts(&app, "format=xml", "text/csv", b"x\n1\n".to_vec()).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["format"]);
    let listed = app.get_json("/v1/datasets").await;
    assert_eq!(listed["items"], json!([]), "nothing stored: {listed}");
}

#[tokio::test]
async fn json_and_ndjson_records_with_a_sequence_field_are_sequence_datasets() {
    let app = TestApp::spawn().await;
    let records = json!([
        {"y": "up", "s": [[1, 10], [2, 20], [3, null]]},
        {"y": "down", "s": [[3, 30], [2, 20]]},
        {"y": "up", "s": [[0, 0], [1, 1], [2, 2], [3, 3]]}
    ]);
    let body = serde_json::to_vec(&records).unwrap();
    let ds = json(
        upload_ts(&app, "label=y&sequence=s", "application/json", body).await,
        201,
    )
    .await;
    assert_eq!(
        (ds["kind"].clone(), ds["format"].clone()),
        (json!("sequence"), json!("json"))
    );
    assert_eq!(
        ds["sequence"],
        json!({"channels": 2, "length_min": 2, "length_median": 3, "length_max": 4,
               "total_steps": 9})
    );
    let classes: Vec<&Value> = ds["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["value"])
        .collect();
    assert_eq!(classes, [&json!("down"), &json!("up")]);
    // One channel: each step a number.
    let ndjson = "{\"y\": 1, \"s\": [0.5, 1.5]}\n{\"y\": 2, \"s\": [2.5]}\n";
    let ds = json(
        upload_ts(
            &app,
            "label=y&sequence=s",
            "application/x-ndjson",
            ndjson.into(),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(ds["sequence"]["channels"], 1);

    // Bad records name rows[i].field (and the NDJSON line).
    let bad = "{\"y\": 1, \"s\": [1, 2]}\n{\"y\": 2, \"s\": [3]}\n{\"y\": 1, \"s\": [[1, 2]]}\n";
    let p = problem(
        upload_ts(
            &app,
            "label=y&sequence=s",
            "application/x-ndjson",
            bad.into(),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        (p["line"].clone(), error_fields(&p)),
        (json!(3), vec!["rows[2].s".to_owned()]),
        "{p}"
    );
    for (records, field, says) in [
        (
            json!([{"y": "a", "s": [[1, 2], [3]]}]),
            "rows[0].s",
            "ragged",
        ),
        (json!([{"y": "a", "s": []}]), "rows[0].s", "empty sequence"),
        (json!([{"s": [1]}]), "rows[0].y", "label"),
        (
            json!([{"y": "a", "s": [1, "x"]}]),
            "rows[0].s",
            "not a number",
        ),
    ] {
        let body = serde_json::to_vec(&records).unwrap();
        let p = problem(
            upload_ts(&app, "label=y&sequence=s", "application/json", body).await,
            422,
        )
        .await;
        assert_eq!(error_fields(&p), [field], "{p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{p}");
    }
    let p = problem(
        upload_ts(&app, "sequence=s", "text/csv", b"s,label\n1,a\n".to_vec()).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["sequence"], "{p}");
}

#[tokio::test]
async fn long_format_csv_rows_are_steps_grouped_by_id_and_ordered() {
    let app = TestApp::spawn_with(|s| s.limits.max_sequence_steps = 3).await;
    // Steps out of order, ids interleaved; two channels.
    let csv = "id,t,x,y,label\na,2,0.2,20,up\nb,1,5,50,down\na,1,0.1,10,up\na,3,0.3,30,up\nb,2,6,60,down\nc,1,1,1,up\n";
    let ds = json(
        upload_ts(&app, "sequence_id=id&order=t", "text/csv", csv.into()).await,
        201,
    )
    .await;
    assert_eq!(
        (ds["kind"].clone(), ds["format"].clone()),
        (json!("sequence"), json!("csv"))
    );
    assert_eq!(ds["rows"], 3, "{ds}");
    assert_eq!(
        ds["sequence"],
        json!({"channels": 2, "length_min": 1, "length_median": 2, "length_max": 3,
               "total_steps": 6})
    );
    // Each case: (CSV, query, the field named, what the detail says).
    let cases = [
        (
            "id,t,x,label\na,1,1,up\na,2,2,down\nb,1,1,down\n",
            "sequence_id=id&order=t",
            "sequence_id",
            "\"a\": the label changes",
        ),
        (
            "id,t,x,label\na,1,1,up\na,1,2,up\nb,1,1,down\n",
            "sequence_id=id&order=t",
            "sequence_id",
            "order 1 appears twice",
        ),
        (
            "id,t,x,label\na,1,1,up\na,2,2,up\na,3,2,up\na,4,2,up\nb,1,1,down\n",
            "sequence_id=id&order=t",
            "sequence_id",
            "max_sequence_steps (3)",
        ),
        (
            "id,t,x,label\na,1,1,up\nb,1,1,down\n",
            "sequence_id=key&order=t",
            "sequence_id",
            "no column named \"key\"",
        ),
        (
            "id,t,x,label\na,1,1,up\nb,1,1,down\n",
            "sequence_id=id",
            "order",
            "ordering",
        ),
        (
            "id,t,x,label\na,1,1,up\nb,one,1,down\n",
            "sequence_id=id&order=t",
            "order",
            "not numeric",
        ),
        (
            "id,t,x,label\na,1,red,up\nb,1,1,down\n",
            "sequence_id=id&order=t",
            "x",
            "not numeric",
        ),
    ];
    for (body, query, field, says) in cases {
        let p = problem(upload_ts(&app, query, "text/csv", body.into()).await, 422).await;
        assert_eq!(error_fields(&p), [field], "{body}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{body}: {p}");
    }
    // JSON records with more steps than the limit name the record.
    let body =
        serde_json::to_vec(&json!([{"y": "a", "s": [1, 2, 3, 4]}, {"y": "b", "s": [1]}])).unwrap();
    let p = problem(
        upload_ts(&app, "label=y&sequence=s", "application/json", body).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["rows[0].s"], "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("max_sequence_steps (3)"),
        "{p}"
    );
    // sequence_id on a JSON body is a 422 too.
    let p = problem(
        upload_ts(
            &app,
            "sequence_id=id&order=t",
            "application/json",
            b"[]".to_vec(),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["sequence_id"], "{p}");
    let listed = app.get_json("/v1/datasets").await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "only the good upload: {listed}"
    );
}
