//! `GET /v1/jobs/{id}/metrics`: per fold, the summary across folds, the pooled out-of-fold
//! score, the test set and a comparison's leaderboard. The pooled score reads the held-out
//! predictions of the scored strategy's fold runs one run at a time, so its memory is what it
//! reports, never every strategy's predictions at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::jobs::job_or_404;
use super::state::{AppState, Route};
use crate::domain::results::{FoldResult, JobMetrics, RunKind, RunResult};
use crate::engine::eval::scores::Pooled;
use crate::error::ApiError;
use crate::jobs::results;
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/metrics", get(show))]
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = job_or_404(&state, &id).await?;
    let runs =
        store::run_data::runs_of_job(&state.pool, &id, store::run_data::Detail::Summary).await?;
    let final_run = runs.iter().find(|r| r.kind == RunKind::Final);
    let final_result = final_run.and_then(|r| r.result.as_ref());
    let v = &job.spec.validation;
    // The test set's scores in full (the summary drops the confusion matrix).
    let test = match final_run
        .filter(|r| r.result.is_some() && (v.test_fraction > 0.0 || v.test_dataset_id.is_some()))
    {
        Some(run) => match store::run_data::result_json(&state.pool, &run.id).await? {
            Some(text) => {
                serde_json::from_str::<RunResult>(&text)
                    .map_err(anyhow::Error::from)?
                    .metrics
            }
            None => None,
        },
        None => None,
    };
    let final_epochs = final_result.and_then(|r| r.cv_epochs.clone());
    let fold_results = results::fold_results(&runs);
    let leaderboard = results::leaderboard(&job.spec, &fold_results);
    // A comparison's pooled score is its leading variant's.
    let leader = results::leader(&job.spec, &fold_results);
    // Each fold's entry, with its confusion matrix, from its full stored result: read, written
    // out as text and dropped one run at a time (a 1,000-class matrix is a million numbers).
    let mut folds = Vec::new();
    let mut pooled_runs = Vec::new();
    for run in &runs {
        if run.kind != RunKind::Fold || run.result.is_none() {
            continue;
        }
        let Some(text) = store::run_data::result_json(&state.pool, &run.id).await? else {
            continue;
        };
        let result: RunResult = serde_json::from_str(&text).map_err(anyhow::Error::from)?;
        drop(text);
        let entry = FoldResult {
            run_id: &run.id,
            strategy: result.strategy,
            variant: result.variant,
            fold: run.fold,
            repeat: run.repeat,
            best_epoch: result.best_epoch,
            train_class_counts: &result.train_class_counts,
            validation_class_counts: &result.validation_class_counts,
            resampled_class_counts: &result.resampled_class_counts,
            member_class_counts: &result.member_class_counts,
            class_weights: &result.class_weights,
            metrics: &result.metrics,
        };
        folds.push(serde_json::value::to_raw_value(&entry).map_err(anyhow::Error::from)?);
        if leader.is_none_or(|l| results::Variant::of(&result) == l) {
            pooled_runs.push(run.id.clone());
        }
    }
    let mut pool = Pooled::default();
    for run in &pooled_runs {
        let Some(h) = store::run_data::heldout(&state.pool, run).await? else {
            continue;
        };
        if !pool.add(&h.labels, h.proba.iter().map(|&p| f64::from(p)), h.classes) {
            tracing::warn!(run_id = %run, "held-out predictions of another width; not pooled");
        }
    }
    // Scoring sorts every class's column: off the async runtime.
    let pooled = tokio::task::spawn_blocking(move || pool.score())
        .await
        .map_err(|e| anyhow::anyhow!("scoring the pooled predictions: {e}"))?;
    Ok(Json(JobMetrics {
        status: job.status,
        folds,
        summary: job.summary,
        pooled,
        test,
        leaderboard,
        final_epochs,
    })
    .into_response())
}
