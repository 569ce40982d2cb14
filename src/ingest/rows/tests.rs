use super::*;
use serde_json::json;

fn encoding() -> Encoding {
    serde_json::from_value(json!({"features": [
        {"type": "numeric", "name": "x", "mean": 1.0, "std": 2.0},
        {"type": "categorical", "name": "color", "categories": ["red", "1.50"]}
    ]}))
    .unwrap()
}

#[test]
fn missing_markers_and_numbers_read_as_at_upload() {
    let csv = b"x,color\nnull,red\nNA,1.50\n3,\n";
    let rows = PredictRows::from_csv(csv, 10).unwrap();
    let x = rows.encode(&encoding(), (0, 3), Unseen::Refuse).unwrap();
    assert_eq!(x, [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    let json = json!({"rows": [{"x": null, "color": "red"}, {}]});
    let rows = PredictRows::from_json(&json, 10).unwrap();
    assert_eq!(
        rows.encode(&encoding(), (0, 2), Unseen::Refuse).unwrap()[..3],
        [0.0, 1.0, 0.0]
    );
}

#[test]
fn bad_values_name_their_row_and_column() {
    let json = json!({"rows": [{"x": 1}, {"color": "blue"}, {"x": "high"}, {"x": 1e300}]});
    let rows = PredictRows::from_json(&json, 10).unwrap();
    let (errors, total) = rows
        .encode(&encoding(), (0, 4), Unseen::Refuse)
        .unwrap_err();
    assert_eq!(total, 3);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["rows[1].color", "rows[2].x", "rows[3].x"]);
}

#[test]
fn an_unseen_category_is_refused_or_zeros_and_counted() {
    let json = json!({"rows": [{"color": "blue"}, {"color": "red"}, {"color": "blue"}]});
    let rows = PredictRows::from_json(&json, 10).unwrap();
    let (errors, _) = rows
        .encode(&encoding(), (0, 1), Unseen::Refuse)
        .unwrap_err();
    assert_eq!(errors[0].field, "rows[0].color");
    let x = rows.encode(&encoding(), (0, 2), Unseen::Zeros).unwrap();
    assert_eq!(x, [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(rows.unseen(&encoding()), [("color".to_owned(), 2)]);
}

#[test]
fn a_value_that_encodes_to_infinity_is_rejected() {
    let json = json!({"rows": [{"x": -3e38}]});
    let tight: Encoding = serde_json::from_value(json!({"features": [
        {"type": "numeric", "name": "x", "mean": 0.0, "std": 1e-3}
    ]}))
    .unwrap();
    let rows = PredictRows::from_json(&json, 10).unwrap();
    let (errors, _) = rows.encode(&tight, (0, 1), Unseen::Refuse).unwrap_err();
    assert_eq!(errors[0].field, "rows[0].x");
}

#[test]
fn an_unknown_column_is_one_error_at_its_first_row() {
    let mut csv = String::from("x,shade\n");
    for _ in 0..1000 {
        csv.push_str("1,dark\n");
    }
    let rows = PredictRows::from_csv(csv.as_bytes(), 1000).unwrap();
    let unknown = rows.unknown_columns(&encoding(), "label");
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].field, "rows[0].shade");
    let json = json!({"rows": [{"x": 1}, {"x": 2, "shade": "dark"}]});
    let rows = PredictRows::from_json(&json, 10).unwrap();
    assert_eq!(
        rows.unknown_columns(&encoding(), "y")[0].field,
        "rows[1].shade"
    );
}

#[test]
fn rows_that_each_name_a_new_column_cost_what_they_hold() {
    // Dense storage would be 10,000 × 10,000 cells here.
    let rows: Vec<Value> = (0..10_000).map(|i| json!({format!("c{i}"): i})).collect();
    let rows = PredictRows::from_json(&json!({"rows": rows}), 10_000).unwrap();
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows.rows.iter().map(Vec::len).sum::<usize>(), 10_000);
    assert_eq!(rows.unknown_columns(&encoding(), "y").len(), 10_000);
    assert_eq!(rows.check(&encoding(), Unseen::Refuse), Ok(()));
}

#[test]
fn more_rows_than_the_limit_are_refused() {
    let json = json!({"rows": [{}, {}, {}]});
    let err = PredictRows::from_json(&json, 2).unwrap_err();
    assert!(err.message.contains("max_predict_rows"), "{err:?}");
    assert!(PredictRows::from_csv(b"x\n1\n2\n3\n", 2).is_err());
}
