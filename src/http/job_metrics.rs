//! `GET /v1/jobs/{id}/metrics`: per fold, the summary across folds, the pooled out-of-fold
//! score, the test set and a comparison's leaderboard. The pooled score reads the held-out
//! predictions of the scored strategy's fold runs one run at a time, so its memory is what it
//! reports, never every strategy's predictions at once.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::jobs::job_or_404;
use crate::engine::{cv, metrics};
use crate::error::ApiError;
use crate::queue::results;
use crate::store;

pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_or_404(&state, &id).await?;
    let runs = store::runs::runs_of_job(&state.pool, &id, store::runs::Detail::Summary).await?;
    let has_test = job.spec["validation"]["test_fraction"]
        .as_f64()
        .unwrap_or(0.0)
        > 0.0;
    let test = runs
        .iter()
        .find(|(r, _)| r.kind == "final")
        .and_then(|(_, result)| result.as_ref())
        .map(|r| r["metrics"].clone())
        .filter(|m| has_test && !m.is_null());
    let leaderboard = results::leaderboard(&job.spec, &results::fold_results(&runs));
    // A comparison's pooled score is its leading strategy's.
    let leader = leaderboard.as_deref().and_then(results::top);
    // Each fold's entry, with its confusion matrix, from its full stored result: read, written
    // out as text and dropped one run at a time (a 1,000-class matrix is a million numbers).
    let mut folds_out: Vec<String> = Vec::new();
    let mut pooled_runs = Vec::new();
    for (view, result) in &runs {
        if view.kind != "fold" || result.is_none() {
            continue;
        }
        let Some(text) = store::runs::result_json(&state.pool, &view.id).await? else {
            continue;
        };
        let result: Value = serde_json::from_str(&text).map_err(anyhow::Error::from)?;
        drop(text);
        let entry = json!({
            "run_id": view.id,
            "strategy": view.strategy,
            "fold": view.fold,
            "repeat": view.repeat,
            "best_epoch": result["best_epoch"],
            "train_class_counts": result["train_class_counts"],
            "validation_class_counts": result["validation_class_counts"],
            "resampled_class_counts": result["resampled_class_counts"],
            "member_class_counts": result["member_class_counts"],
            "class_weights": result["class_weights"],
            "metrics": result["metrics"],
        });
        folds_out.push(entry.to_string());
        if leader.is_none_or(|l| view.strategy.as_deref() == Some(l.as_str())) {
            pooled_runs.push(view.id.clone());
        }
    }
    let (mut y, mut proba, mut classes) = (Vec::new(), Vec::new(), None);
    for run in &pooled_runs {
        let Some(h) = store::runs::heldout(&state.pool, run).await? else {
            continue;
        };
        if *classes.get_or_insert(h.classes) != h.classes {
            tracing::warn!(run_id = %run, "held-out predictions of another width; not pooled");
            continue;
        }
        y.extend_from_slice(&h.labels);
        proba.extend(h.proba.iter().map(|&p| f64::from(p)));
    }
    // Scoring sorts every class's column: off the async runtime.
    let pooled = match classes.filter(|_| !y.is_empty()) {
        None => None,
        Some(k) => Some(
            tokio::task::spawn_blocking(move || {
                let s = metrics::score(&y, &proba, k);
                let mut m: serde_json::Map<String, Value> = cv::scalars(&s)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), json!(v)))
                    .collect();
                m.insert("confusion_matrix".into(), json!(s.confusion_matrix));
                Value::Object(m)
            })
            .await
            .map_err(|e| anyhow::anyhow!("scoring the pooled predictions: {e}"))?,
        ),
    };
    // The folds go in as the text they already are.
    let rest = json!({
        "summary": job.summary,
        "pooled": pooled,
        "test": test,
        "leaderboard": leaderboard,
    })
    .to_string();
    let body = format!(
        "{{\"status\":{},\"folds\":[{}],{}",
        json!(job.status),
        folds_out.join(","),
        &rest[1..]
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
