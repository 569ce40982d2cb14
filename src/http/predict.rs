//! `POST /v1/jobs/{id}/predict` and `GET /v1/jobs/{id}/predictions`: class probabilities for new
//! rows from the stored models, and the out-of-fold predictions of cross-validation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::extract::{LimitedBytes, QueryParams, media_type, parse_json, unsupported};
use super::jobs::job_or_404;
use super::{AppState, Route};
use crate::domain::job::JobStatus;
use crate::engine::checkpoint::Checkpoint;
use crate::engine::encode::{Encoding, RawValue};
use crate::engine::model::Dev;
use crate::error::{ApiError, FieldError, Location};
use crate::queue::results;
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/jobs/{id}/predict", post(predict)),
        ("/v1/jobs/{id}/predictions", get(predictions)),
    ]
}

/// The class names of a job's dataset (indices if the dataset is gone).
async fn class_names(
    state: &AppState,
    dataset_id: &str,
    classes: usize,
) -> Result<Vec<String>, ApiError> {
    Ok(
        match store::datasets::get_dataset(&state.pool, dataset_id).await? {
            Some(ds) => ds.classes.into_iter().map(|c| c.value).collect(),
            None => (0..classes).map(|c| c.to_string()).collect(),
        },
    )
}

/// The rows to predict: `{"rows": [{…}]}` as JSON, or CSV with a header row (cells that parse
/// as numbers are numbers; empty cells and `NA` are missing).
fn rows_of(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Value>, ApiError> {
    let (content_type, essence) = media_type(headers);
    match essence.as_str() {
        "application/json" => {
            let body = parse_json(body)?;
            match body.get("rows") {
                Some(Value::Array(rows)) => Ok(rows.clone()),
                _ => Err(ApiError::invalid_field(
                    "rows",
                    "an array of objects, one per row: {\"rows\": [{\"column\": value, …}]}",
                )),
            }
        }
        "text/csv" => {
            let mut rdr = csv::ReaderBuilder::new().from_reader(body);
            let names = rdr
                .headers()
                .map_err(|e| ApiError::malformed(format!("malformed CSV header: {e}")))?
                .clone();
            let mut rows = Vec::new();
            for record in rdr.records() {
                let record = record.map_err(|e| ApiError::Malformed {
                    detail: format!("malformed CSV: {e}"),
                    location: Location {
                        line: e.position().map(|p| p.line()),
                        column: None,
                    },
                    errors: vec![],
                })?;
                let row: Map<String, Value> = names
                    .iter()
                    .zip(record.iter())
                    .map(|(k, v)| {
                        let v = v.trim();
                        let value = if v.is_empty() || v == "NA" {
                            Value::Null
                        } else {
                            v.parse::<f64>()
                                .ok()
                                .filter(|f| f.is_finite())
                                .map_or_else(|| json!(v), |f| json!(f))
                        };
                        (k.trim().to_owned(), value)
                    })
                    .collect();
                rows.push(Value::Object(row));
            }
            Ok(rows)
        }
        _ => Err(unsupported(content_type, "application/json or text/csv")),
    }
}

async fn predict(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
    headers: HeaderMap,
    LimitedBytes(body): LimitedBytes,
) -> Result<Json<Value>, ApiError> {
    let folds = match query.take("ensemble").as_deref() {
        None | Some("final") => false,
        Some("folds") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "ensemble",
                "folds, or absent for the final model",
            ));
        }
    };
    let unknown = query.unknown(&["ensemble"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let job = job_or_404(&state, &id).await?;
    if job.status != JobStatus::Succeeded {
        return Err(ApiError::Conflict(format!(
            "job {id} is {}; it predicts once it has succeeded",
            job.status.as_str()
        )));
    }
    let rows = rows_of(&headers, &body)?;
    let runs = store::runs::runs_of_job(&state.pool, &id, store::runs::Detail::Results).await?;
    // A comparison's fold ensemble is its leading strategy's fold models.
    let leader = results::leader(&job.spec, &results::fold_results(&runs));
    let wanted: Vec<String> = runs
        .iter()
        .filter(|(r, _, _)| {
            r.status == "succeeded"
                && (if folds {
                    r.kind == "fold"
                        && leader.is_none_or(|l| r.strategy.as_deref() == Some(l.as_str()))
                } else {
                    r.kind == "final"
                })
        })
        .map(|(r, _, _)| r.id.clone())
        .collect();
    if wanted.is_empty() {
        return Err(ApiError::Conflict(if folds {
            "the job has no fold models".into()
        } else {
            "the job has no final model (it was submitted with final_model: false); use ?ensemble=folds".into()
        }));
    }
    let mut models = Vec::new();
    for run in &wanted {
        let bytes = store::runs::checkpoint(&state.pool, run)
            .await?
            .and_then(|c| c.1)
            .ok_or_else(|| anyhow::anyhow!("run {run} has no checkpoint"))?;
        let ck = Checkpoint::from_bytes(&bytes).map_err(|e| anyhow::anyhow!(e))?;
        let encoding: Encoding = serde_json::from_str(ck.encoding.as_deref().unwrap_or("null"))
            .map_err(|e| anyhow::anyhow!("run {run}: encoding: {e}"))?;
        models.push((ck, encoding));
    }
    let label = job.spec["label"].as_str().unwrap_or("label").to_owned();
    let classes = models[0].0.classes();
    let names = class_names(&state, &job.dataset_id, classes).await?;
    // Check every row first, so all bad cells are reported at once.
    let mut errors = Vec::new();
    let mut objects = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(map) = row else {
            errors.push(FieldError::new(
                format!("rows[{i}]"),
                "each row must be an object of column → value",
            ));
            continue;
        };
        for key in map.keys() {
            if *key != label && !models[0].1.names().any(|n| n == key) {
                errors.push(FieldError::new(
                    format!("rows[{i}].{key}"),
                    "not a feature column of this model",
                ));
            }
        }
        objects.push(map.clone());
    }
    let mut inputs: Vec<Vec<Vec<f32>>> = vec![Vec::new(); models.len()];
    for (i, map) in objects.iter().enumerate() {
        for (m, (_, encoding)) in models.iter().enumerate() {
            match encoding.encode_row(|name| raw(map.get(name))) {
                Ok(x) => inputs[m].push(x),
                Err(e) if m == 0 => errors.push(FieldError::new(format!("rows[{i}]"), e)),
                Err(_) => {}
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let n = objects.len();
    let averaged = tokio::task::spawn_blocking(move || {
        let dev = Dev::default();
        let mut sum = vec![0.0f64; n * classes];
        for ((mut ck, _), x) in models.into_iter().zip(inputs) {
            for (s, p) in sum.iter_mut().zip(ck.proba(&dev, &x.concat(), n)) {
                *s += p;
            }
        }
        sum
    })
    .await
    .map_err(|e| anyhow::anyhow!("prediction crashed: {e}"))?;
    let count = wanted.len() as f64;
    let predictions: Vec<Value> = averaged
        .chunks(classes)
        .map(|p| {
            let best = (0..classes).fold(0, |b, c| if p[c] > p[b] { c } else { b });
            let probabilities: Map<String, Value> = names
                .iter()
                .zip(p)
                .map(|(name, v)| (name.clone(), json!(v / count)))
                .collect();
            json!({"label": names[best], "probabilities": probabilities})
        })
        .collect();
    Ok(Json(json!({"predictions": predictions, "models": wanted})))
}

fn raw(v: Option<&Value>) -> RawValue {
    match v {
        None | Some(Value::Null) => RawValue::Missing,
        Some(Value::Number(n)) => RawValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) if s.trim().is_empty() || s == "NA" => RawValue::Missing,
        Some(Value::String(s)) => RawValue::Text(s.trim().to_owned()),
        Some(other) => RawValue::Text(other.to_string()),
    }
}

/// Out-of-fold predictions: row index, fold, repeat, true label, probabilities (JSON, or CSV
/// with `Accept: text/csv`).
async fn predictions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = job_or_404(&state, &id).await?;
    let runs = store::runs::runs_of_job(&state.pool, &id, store::runs::Detail::Predictions).await?;
    let mut items = Vec::new();
    let mut classes = 0;
    for (run, _, p) in &runs {
        // Out-of-fold predictions only (the final model's test-set predictions are not).
        let (Some(p), "fold") = (p, run.kind.as_str()) else {
            continue;
        };
        let (rows, labels, proba) = (
            p["rows"].as_array(),
            p["labels"].as_array(),
            p["proba"].as_array(),
        );
        for ((r, l), pr) in rows
            .into_iter()
            .flatten()
            .zip(labels.into_iter().flatten())
            .zip(proba.into_iter().flatten())
        {
            classes = pr.as_array().map_or(0, Vec::len);
            items.push((
                r.as_u64().unwrap_or(0),
                run.fold,
                run.repeat,
                l.as_u64().unwrap_or(0) as usize,
                pr.clone(),
                run.strategy.clone(),
            ));
        }
    }
    // A comparison has one set of out-of-fold predictions per strategy (in the spec's order).
    let comparison = job.spec["imbalance"]["strategy"].is_array();
    let order = |s: &Option<String>| {
        job.spec["imbalance"]["strategy"]
            .as_array()
            .and_then(|l| l.iter().position(|v| v.as_str() == s.as_deref()))
            .unwrap_or(0)
    };
    items.sort_by_key(|i| (order(&i.5), i.2, i.0));
    let names = class_names(&state, &job.dataset_id, classes).await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let mut csv = String::from(if comparison {
            "strategy,row,fold,repeat,label"
        } else {
            "row,fold,repeat,label"
        });
        for n in &names {
            csv.push_str(&format!(",p_{n}"));
        }
        csv.push('\n');
        for (row, fold, repeat, label, p, strategy) in &items {
            if comparison {
                csv.push_str(strategy.as_deref().unwrap_or_default());
                csv.push(',');
            }
            let probs: Vec<String> = p
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v.to_string())
                .collect();
            csv.push_str(&format!(
                "{row},{},{},{},{}\n",
                fold.unwrap_or(0),
                repeat.unwrap_or(0),
                names.get(*label).cloned().unwrap_or_default(),
                probs.join(",")
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response());
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|(row, fold, repeat, label, p, strategy)| {
            let probabilities: Map<String, Value> = names.iter().cloned().zip(p.as_array().cloned().unwrap_or_default()).collect();
            json!({"row": row, "fold": fold, "repeat": repeat, "strategy": strategy, "label": names.get(label), "probabilities": probabilities})
        })
        .collect();
    Ok(Json(json!({"items": items})).into_response())
}
