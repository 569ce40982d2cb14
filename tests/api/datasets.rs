//! `/v1/datasets`: uploads in every format, schema inference, validation, listing, deletion,
//! idempotency and persistence.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, error_fields, fixture, json, problem};

/// `sha256sum tests/fixtures/caravan.csv`, computed outside crossfold.
const CARAVAN_SHA256: &str = "4adeb68e1e8b9438e1d3685336ea0ac1b6232efb0f9501a1123715d24039f04e";

fn classes(ds: &Value) -> Vec<(String, u64)> {
    ds["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["value"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// caravan.csv as records (`[{col: number}]`), built with the csv crate, not with crossfold.
fn caravan_records() -> Vec<serde_json::Map<String, Value>> {
    let bytes = fixture("caravan.csv");
    let mut rdr = csv::Reader::from_reader(bytes.as_slice());
    let headers = rdr.headers().unwrap().clone();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), json!(v.parse::<f64>().unwrap())))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn caravan_csv_upload_reports_rows_features_classes_and_the_file_sha256() {
    let app = TestApp::spawn().await;
    let bytes = fixture("caravan.csv");
    let res = app
        .upload_csv("name=caravan&label=label", bytes.clone())
        .await;
    assert_eq!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .split('/')
            .count(),
        4
    );
    let ds = json(res, 201).await;
    assert!(ds["id"].as_str().unwrap().starts_with("ds_"));
    assert_eq!(ds["name"], "caravan");
    assert_eq!(ds["rows"], 5822);
    assert_eq!(ds["columns"].as_array().unwrap().len(), 86);
    assert_eq!(ds["feature_count"], 85);
    let features: Vec<&Value> = ds["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "feature")
        .collect();
    assert_eq!(features.len(), 85);
    assert!(
        features
            .iter()
            .all(|c| c["type"] == "numeric" && c["missing"] == 0)
    );
    assert_eq!(ds["label"], "label");
    assert_eq!(classes(&ds), vec![("0".into(), 5474), ("1".into(), 348)]);
    assert!((ds["imbalance_ratio"].as_f64().unwrap() - 5474.0 / 348.0).abs() < 1e-12);
    assert_eq!(ds["sha256"], CARAVAN_SHA256);
    assert_eq!(ds["sha256"], hex_sha256(&bytes));
    assert_eq!(ds["bytes"], bytes.len() as u64);
    assert!(ds["created_at"].as_str().unwrap().ends_with('Z'));
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The parts of a dataset that do not depend on the upload's format or bytes.
fn schema(ds: &Value) -> (Value, Value, Value, Value) {
    (
        ds["rows"].clone(),
        ds["columns"].clone(),
        ds["classes"].clone(),
        ds["imbalance_ratio"].clone(),
    )
}

#[tokio::test]
async fn caravan_as_json_records_and_as_ndjson_gives_the_csv_schema_and_counts() {
    let app = TestApp::spawn().await;
    let from_csv = json(
        app.upload_csv("label=label", fixture("caravan.csv")).await,
        201,
    )
    .await;
    let records = caravan_records();

    let body = serde_json::to_vec(&records).unwrap();
    let res = app
        .post("/v1/datasets?label=label")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let from_json = json(res, 201).await;
    assert_eq!(schema(&from_json), schema(&from_csv));
    assert_eq!(from_json["format"], "json");
    assert_eq!(from_json["sha256"], hex_sha256(&body));

    let ndjson: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    let res = app
        .post("/v1/datasets?label=label")
        .header("content-type", "application/x-ndjson")
        .body(ndjson.clone())
        .send()
        .await
        .unwrap();
    let from_ndjson = json(res, 201).await;
    assert_eq!(schema(&from_ndjson), schema(&from_csv));
    assert_eq!(from_ndjson["format"], "ndjson");

    // The records as an object's `records` (how a generated client sends them), and the NDJSON
    // as raw bytes named by ?format= (how it sends a raw body).
    let res = app
        .post("/v1/datasets?label=label")
        .json(&json!({ "records": records }))
        .send()
        .await
        .unwrap();
    assert_eq!(schema(&json(res, 201).await), schema(&from_csv));
    let res = app
        .post("/v1/datasets?label=label&format=ndjson")
        .header("content-type", "application/octet-stream")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    let raw = json(res, 201).await;
    assert_eq!(
        (schema(&raw), &raw["format"]),
        (schema(&from_csv), &json!("ndjson"))
    );
}

#[tokio::test]
async fn the_columnar_json_form_is_accepted() {
    let app = TestApp::spawn().await;
    let body = json!({"columns": ["x", "color", "y"], "rows": [[1.5, "red", "a"], [null, "blue", "b"], [2, "red", "a"]]});
    let res = app
        .post("/v1/datasets?label=y")
        .header("content-type", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    let ds = json(res, 201).await;
    assert_eq!(ds["rows"], 3);
    assert_eq!(ds["columns"][0]["type"], "numeric");
    assert_eq!(ds["columns"][0]["missing"], 1);
    assert_eq!(ds["columns"][1]["type"], "categorical");
    assert_eq!(ds["columns"][1]["cardinality"], 2);
    assert_eq!(classes(&ds), vec![("a".into(), 2), ("b".into(), 1)]);
}

#[tokio::test]
async fn types_and_missing_values_are_inferred_per_column() {
    let app = TestApp::spawn().await;
    let csv = "age,city,score,label\n\
               34,Paris,1.5,yes\n\
               ,Lyon,NA,no\n\
               51,NA,null,yes\n\
               28,Paris,2e1,no\n";
    let ds = json(app.upload_csv("label=label", csv).await, 201).await;
    let cols = ds["columns"].as_array().unwrap();
    assert_eq!(cols[0]["type"], "numeric");
    assert_eq!(cols[0]["missing"], 1);
    assert_eq!(cols[1]["type"], "categorical");
    assert_eq!(cols[1]["missing"], 1);
    assert_eq!(cols[1]["cardinality"], 2);
    assert_eq!(cols[2]["type"], "numeric");
    assert_eq!(cols[2]["missing"], 2);
    assert_eq!(cols[3]["role"], "label");
    assert_eq!(classes(&ds), vec![("no".into(), 2), ("yes".into(), 2)]);
    assert_eq!(ds["imbalance_ratio"], 1.0);
}

/// breast_cancer.csv with the cell of line `line`, column 1 ("mean radius") replaced by `cell`.
fn breast_cancer_with(line: usize, cell: &str) -> String {
    let text = String::from_utf8(fixture("breast_cancer.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let rest = lines[line - 1].split_once(',').unwrap().1.to_owned();
    lines[line - 1] = format!("{cell},{rest}");
    lines.join("\n") + "\n"
}

#[tokio::test]
async fn a_numeric_column_with_a_typo_is_a_422_naming_the_cell_unless_its_type_is_declared() {
    let app = TestApp::spawn().await;
    // One typo in 569 cells: before, the column silently became 456 categories.
    let csv = breast_cancer_with(12, "1O.5");
    let p = problem(app.upload_csv("label=label", csv.clone()).await, 422).await;
    assert_eq!(
        (p["line"].as_u64(), p["column"].as_u64()),
        (Some(12), Some(1)),
        "{p}"
    );
    let detail = p["detail"].as_str().unwrap();
    for part in [
        "\"mean radius\"",
        "1 of its 569 cells",
        "line 12 \"1O.5\"",
        "types=mean radius:categorical",
    ] {
        assert!(detail.contains(part), "{part} in {detail}");
    }
    // Declared categorical, it is read as categories; declared numeric, the typo is named.
    let ds = json(
        app.upload_csv("label=label&types=mean%20radius:categorical", csv.clone())
            .await,
        201,
    )
    .await;
    assert_eq!(ds["columns"][0]["type"], "categorical");
    let p = problem(
        app.upload_csv("label=label&types=mean%20radius:numeric", csv)
            .await,
        422,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("\"1O.5\" is not a number"),
        "{p}"
    );
    assert_eq!(p["line"], 12);
    // A column of words with a few numbers is text, as before.
    let words = "city,label\n".to_owned() + &"Paris,a\nLyon,b\n".repeat(20) + "75,a\n";
    let ds = json(app.upload_csv("label=label", words).await, 201).await;
    assert_eq!(ds["columns"][0]["type"], "categorical");
    for (types, names) in [
        ("nope:numeric", "nope"),
        ("mean%20radius:float", "float"),
        ("label:numeric", "label"),
    ] {
        let res = app
            .upload_csv(
                &format!("label=label&types={types}"),
                fixture("breast_cancer.csv"),
            )
            .await;
        let p = problem(res, 422).await;
        assert_eq!(error_fields(&p), ["types"], "{p}");
        assert!(p.to_string().contains(names), "{names}: {p}");
    }
}

#[tokio::test]
async fn a_semicolon_delimiter_is_honoured() {
    let app = TestApp::spawn().await;
    let ds = json(
        app.upload_csv("label=c&delimiter=;", "a;b;c\n1,5;2;x\n3;4;y\n")
            .await,
        201,
    )
    .await;
    // "1,5" is not a number, so column a is categorical.
    assert_eq!(ds["columns"][0]["type"], "categorical");
    assert_eq!(ds["columns"][1]["type"], "numeric");
}

#[tokio::test]
async fn a_ragged_row_is_a_400_naming_its_line() {
    let app = TestApp::spawn().await;
    let body = problem(
        app.upload_csv("label=b", "a,b\n1,x\n2,y\n3\n4,x\n").await,
        400,
    )
    .await;
    assert_eq!(body["line"], 4, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("line 4"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_label_column_is_a_422_naming_label() {
    let app = TestApp::spawn().await;
    let body = problem(
        app.upload_csv("label=nope", fixture("caravan.csv")).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&body), vec!["label"]);
    assert!(body["detail"].as_str().unwrap().contains("nope"));
}

#[tokio::test]
async fn a_label_with_a_single_class_is_a_422() {
    let app = TestApp::spawn().await;
    let body = problem(app.upload_csv("label=y", "x,y\n1,a\n2,a\n").await, 422).await;
    assert_eq!(error_fields(&body), vec!["label"]);
    assert!(body["detail"].as_str().unwrap().contains("single class"));
}

#[tokio::test]
async fn a_row_without_a_label_is_a_422_with_line_and_column() {
    let app = TestApp::spawn().await;
    let body = problem(app.upload_csv("label=y", "x,y\n1,a\n2,\n3,b\n").await, 422).await;
    assert_eq!(
        (body["line"].clone(), body["column"].clone()),
        (json!(3), json!(2))
    );
}

#[tokio::test]
async fn empty_and_header_only_bodies_are_rejected() {
    let app = TestApp::spawn().await;
    let body = problem(app.upload_csv("label=y", "").await, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("empty"), "{body}");
    let body = problem(app.upload_csv("label=y", "x,y\n").await, 422).await;
    assert!(
        body["detail"].as_str().unwrap().contains("no data rows"),
        "{body}"
    );
}

#[tokio::test]
async fn duplicate_and_empty_column_names_are_rejected_with_their_column() {
    let app = TestApp::spawn().await;
    let body = problem(app.upload_csv("label=y", "x,y,x\n1,a,2\n").await, 400).await;
    assert_eq!(body["column"], 3, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("duplicate"));
    let body = problem(app.upload_csv("label=y", "x,,y\n1,2,a\n").await, 400).await;
    assert_eq!(body["column"], 2, "{body}");
}

/// No database text may hold a NUL (PostgreSQL's cannot): a column, dataset or label name
/// with one is refused on every backend, naming where.
#[tokio::test]
async fn names_with_a_nul_character_are_rejected_naming_where() {
    let app = TestApp::spawn().await;
    let body = problem(app.upload_csv("label=y", "x,a\0b,y\n1,2,a\n").await, 400).await;
    assert_eq!(
        (body["line"].clone(), body["column"].clone()),
        (json!(1), json!(2)),
        "{body}"
    );
    let body = problem(
        app.upload_csv("label=y&name=a%00b", "x,y\n1,a\n2,b\n")
            .await,
        422,
    )
    .await;
    assert_eq!(crate::helpers::error_fields(&body), ["name"], "{body}");
    let body = problem(app.upload_csv("label=y%00", "x,y\n1,a\n2,b\n").await, 422).await;
    assert_eq!(crate::helpers::error_fields(&body), ["label"], "{body}");
}

#[tokio::test]
async fn non_finite_numbers_in_a_numeric_column_are_rejected_with_line_and_column() {
    let app = TestApp::spawn().await;
    for bad in ["inf", "NaN", "-Infinity", "1e39"] {
        let csv = format!("x,z,y\n1,2,a\n3,{bad},b\n");
        let body = problem(app.upload_csv("label=y", csv).await, 422).await;
        assert_eq!(
            (body["line"].clone(), body["column"].clone()),
            (json!(3), json!(2)),
            "{bad}: {body}"
        );
    }
}

#[tokio::test]
async fn nan_text_in_a_text_column_is_just_a_category() {
    let app = TestApp::spawn().await;
    let ds = json(
        app.upload_csv("label=y", "name,y\nNan,a\nBob,b\n").await,
        201,
    )
    .await;
    assert_eq!(ds["columns"][0]["type"], "categorical");
    assert_eq!(ds["columns"][0]["missing"], 0);
}

#[tokio::test]
async fn invalid_utf8_is_a_400_with_line_and_column() {
    let app = TestApp::spawn().await;
    let mut csv = b"x,y\n1,a\n2,".to_vec();
    csv.extend_from_slice(&[0xff, 0xfe]);
    csv.extend_from_slice(b"\n");
    let body = problem(app.upload_csv("label=y", csv).await, 400).await;
    assert_eq!(
        (body["line"].clone(), body["column"].clone()),
        (json!(3), json!(2)),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains("UTF-8"));
}

#[tokio::test]
async fn malformed_json_is_a_400_problem_with_its_position() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/v1/datasets?label=y")
        .header("content-type", "application/json")
        .body("[{\"x\": 1, \"y\": \"a\"},\n {\"x\": 2 \"y\": \"b\"}]")
        .send()
        .await
        .unwrap();
    let body = problem(res, 400).await;
    assert_eq!(body["line"], 2, "{body}");
}

#[tokio::test]
async fn malformed_ndjson_names_its_line() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/v1/datasets?label=y")
        .header("content-type", "application/x-ndjson")
        .body("{\"x\": 1, \"y\": \"a\"}\n{\"x\": 2, \"y\": \"b\"}\n{\"x\": 3,\n")
        .send()
        .await
        .unwrap();
    let body = problem(res, 400).await;
    assert_eq!(body["line"], 3, "{body}");
}

#[tokio::test]
async fn a_nested_json_value_is_a_422_naming_its_path() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/v1/datasets?label=y")
        .json(&json!([{"x": 1, "y": "a"}, {"x": [2], "y": "b"}]))
        .send()
        .await
        .unwrap();
    let body = problem(res, 422).await;
    assert_eq!(error_fields(&body), vec!["rows[1].x"]);
}

#[tokio::test]
async fn an_unsupported_content_type_is_a_415() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/v1/datasets?label=y")
        .header("content-type", "application/xml")
        .body("<x/>")
        .send()
        .await
        .unwrap();
    let body = problem(res, 415).await;
    assert!(body["detail"].as_str().unwrap().contains("text/csv"));
    let res = app
        .post("/v1/datasets?label=y")
        .body("x,y\n")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
    // Raw bytes need their format named: a 422 naming `format`, not a guess.
    let res = app
        .post("/v1/datasets?label=y")
        .header("content-type", "application/octet-stream")
        .body("x,y\n1,a\n2,b\n")
        .send()
        .await
        .unwrap();
    assert_eq!(error_fields(&problem(res, 422).await), vec!["format"]);
}

#[tokio::test]
async fn bad_query_parameters_are_all_named_at_once() {
    let app = TestApp::spawn().await;
    let body = problem(
        app.upload_csv("label=y&delimiter=ab&lable=y", "x,y\n1,a\n2,b\n")
            .await,
        422,
    )
    .await;
    let mut fields = error_fields(&body);
    fields.sort();
    assert_eq!(fields, vec!["delimiter", "lable"]);
}

#[tokio::test]
async fn row_and_column_limits_are_enforced_with_a_422_naming_the_limit() {
    let app = TestApp::spawn_with(|s| {
        s.limits.max_rows = 3;
        s.limits.max_columns = 3;
    })
    .await;
    let body = problem(
        app.upload_csv("label=y", "x,y\n1,a\n2,b\n3,a\n4,b\n").await,
        422,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("max_rows"),
        "{body}"
    );
    let body = problem(app.upload_csv("label=y", "a,b,c,y\n1,2,3,a\n").await, 422).await;
    assert!(
        body["detail"].as_str().unwrap().contains("max_columns"),
        "{body}"
    );
    json(app.upload_csv("label=y", "x,y\n1,a\n2,b\n3,a\n").await, 201).await;
}

#[tokio::test]
async fn datasets_are_listed_newest_first_with_a_cursor() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let ds = json(
            app.upload_csv(&format!("name=d{i}&label=y"), "x,y\n1,a\n2,b\n")
                .await,
            201,
        )
        .await;
        ids.push(ds["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/datasets?limit=2&cursor={c}"),
            None => "/v1/datasets?limit=2".to_owned(),
        };
        let page = app.get_json(&path).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let body = problem(app.get("/v1/datasets?limit=0").send().await.unwrap(), 422).await;
    assert_eq!(error_fields(&body), vec!["limit"]);
    let body = problem(app.get("/v1/datasets?cursor=zz").send().await.unwrap(), 422).await;
    assert_eq!(error_fields(&body), vec!["cursor"]);
}

#[tokio::test]
async fn a_dataset_can_be_fetched_and_deleted() {
    let app = TestApp::spawn().await;
    let ds = json(app.upload_csv("label=y", "x,y\n1,a\n2,b\n").await, 201).await;
    let id = ds["id"].as_str().unwrap();
    let got = app.get_json(&format!("/v1/datasets/{id}")).await;
    assert_eq!(got, ds);
    let res = app
        .delete(&format!("/v1/datasets/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    problem(
        app.get(&format!("/v1/datasets/{id}")).send().await.unwrap(),
        404,
    )
    .await;
    problem(
        app.delete(&format!("/v1/datasets/{id}"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn an_idempotency_key_returns_the_original_dataset_and_refuses_another_body() {
    let app = TestApp::spawn().await;
    let send = |body: &'static str| {
        app.post("/v1/datasets?label=y")
            .header("content-type", "text/csv")
            .header("idempotency-key", "upload-1")
            .body(body)
            .send()
    };
    let first = json(send("x,y\n1,a\n2,b\n").await.unwrap(), 201).await;
    let again = send("x,y\n1,a\n2,b\n").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again = json(again, 201).await;
    assert_eq!(again["id"], first["id"]);
    let list = app.get_json("/v1/datasets").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let body = problem(send("x,y\n1,a\n2,c\n").await.unwrap(), 409).await;
    assert!(body["detail"].as_str().unwrap().contains("Idempotency-Key"));
}

#[tokio::test]
async fn concurrent_uploads_with_one_idempotency_key_create_one_dataset() {
    let app = TestApp::spawn().await;
    let sends = (0..10).map(|_| {
        app.post("/v1/datasets?label=y")
            .header("content-type", "text/csv")
            .header("idempotency-key", "same")
            .body("x,y\n1,a\n2,b\n")
            .send()
    });
    let responses = futures_util::future::join_all(sends).await;
    let mut ids = std::collections::BTreeSet::new();
    for res in responses {
        ids.insert(
            json(res.unwrap(), 201).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn datasets_and_their_values_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    let ds = json(
        app.upload_csv("name=caravan&label=label", fixture("caravan.csv"))
            .await,
        201,
    )
    .await;
    let id = ds["id"].as_str().unwrap().to_owned();
    app.restart().await;
    let list = app.get_json("/v1/datasets").await;
    assert_eq!(list["items"][0]["id"], ds["id"]);
    let got = app.get_json(&format!("/v1/datasets/{id}")).await;
    assert_eq!(got, ds);

    // The stored values are what the file holds, ready for training without re-parsing.
    let pool = crossfold::store::connect(&app.settings.database_url)
        .await
        .unwrap();
    let columns = crossfold::store::datasets::load_columns(&pool, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(columns.len(), 86);
    let bytes = fixture("caravan.csv");
    let mut rdr = csv::Reader::from_reader(bytes.as_slice());
    let first: Vec<f32> = rdr
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    for (j, col) in columns.iter().take(85).enumerate() {
        match &col.data {
            crossfold::domain::dataset::ColumnData::Numeric(v) => {
                assert_eq!(v.len(), 5822);
                assert_eq!(v[0], first[j], "column {j}");
            }
            other => panic!("column {j} is not numeric: {other:?}"),
        }
    }
    match &columns[85].data {
        crossfold::domain::dataset::ColumnData::Categorical { codes, categories } => {
            assert_eq!(categories, &["0", "1"]);
            assert_eq!(codes.iter().filter(|&&c| c == 1).count(), 348);
        }
        other => panic!("the label is not categorical: {other:?}"),
    }
}
