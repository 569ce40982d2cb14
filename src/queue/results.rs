//! What a finished run stores (its result and held-out predictions) and the job summary built
//! from its runs' results. Pure functions over engine output and JSON.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::engine::cv::{self, FoldOutcome, Table};

/// The run's stored result: metrics, best epoch, class counts (the audit trail), encoding.
pub fn run_result(outcome: &FoldOutcome) -> Value {
    let metrics = outcome.scores.as_ref().map(|s| {
        let mut m: serde_json::Map<String, Value> = cv::scalars(s)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        m.insert("confusion_matrix".into(), json!(s.confusion_matrix));
        Value::Object(m)
    });
    json!({
        "best_epoch": outcome.trained.best_epoch,
        "stop": outcome.trained.stop,
        "epochs_run": outcome.trained.history.len(),
        "metrics": metrics,
        "train_class_counts": outcome.train_class_counts,
        "resampled_class_counts": outcome.resampled_class_counts,
        "encoding": outcome.encoding,
    })
}

/// The held-out rows, their labels and probabilities.
pub fn run_predictions(table: &Table<'_>, outcome: &FoldOutcome) -> Option<Value> {
    if outcome.rows.is_empty() {
        return None;
    }
    let k = table.classes;
    let proba: Vec<&[f64]> = outcome.proba.chunks(k).collect();
    let labels: Vec<u32> = outcome.rows.iter().map(|&r| table.y[r]).collect();
    Some(json!({"rows": outcome.rows, "labels": labels, "proba": proba}))
}

/// `{"<metric>": {"mean", "std", "min", "max"}}` over the fold runs' scalar metrics.
pub fn summary(runs: &[(String, Option<String>)]) -> Option<Value> {
    let maps: Vec<BTreeMap<String, f64>> = runs
        .iter()
        .filter(|(kind, _)| kind == "fold")
        .filter_map(|(_, result)| result.as_deref())
        .filter_map(|r| serde_json::from_str::<Value>(r).ok())
        .filter_map(|r| {
            r["metrics"].as_object().map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_f64().map(|f| (k.clone(), f)))
                    .collect()
            })
        })
        .collect();
    (!maps.is_empty()).then(|| json!(cv::summarize_maps(&maps)))
}
