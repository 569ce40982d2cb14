//! `GET /v1/jobs/{id}/predictions`: the out-of-fold predictions of cross-validation, in
//! (variant, strategy, repeat, row) order. Read one group of fold runs (a model variant's
//! strategy's repeat) at a time, so
//! memory stays at one group however large the job: JSON comes in pages (`limit`, `cursor`),
//! CSV (`Accept: text/csv`) is streamed.

use std::convert::Infallible;

use crate::Db;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::extract::QueryParams;
use super::jobs::job_or_404;
use super::state::{AppState, Route};
use crate::config::MAX_PREDICT_PROBABILITIES;
use crate::domain::job::Strategy;
use crate::error::{ApiError, FieldError};
use crate::jobs::heldout::{Group, Item, classes_of, groups, load};
use crate::jobs::models::class_names;
use crate::jobs::views;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/predictions", get(predictions))]
}

/// Most items in one JSON page (and at most 1,000,000 probabilities).
const MAX_PAGE: u64 = 10_000;
/// CSV rows formatted per chunk sent.
const CSV_CHUNK_ROWS: usize = 1024;

async fn predictions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = job_or_404(&state, &id).await?;
    let runs = views::runs(&state.pool, &id).await?;
    let groups = groups(&job.spec, &runs);
    let classes = classes_of(&runs);
    let names = class_names(&state.pool, &job.id, &job.spec, classes).await?;
    let comparison = Columns {
        variant: job.spec.has_model_variants(),
        strategy: job.spec.imbalance.strategy.is_comparison(),
    };
    let page_max = MAX_PAGE.min(MAX_PREDICT_PROBABILITIES / classes.max(1) as u64);
    let mut errors = Vec::new();
    let limit = match query.take("limit") {
        None => page_max,
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (1..=page_max).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("an integer from 1 to {page_max} for this job"),
                ));
                page_max
            }
        },
    };
    let cursor = match query.take("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(s) => s.parse::<u64>().unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "cursor",
                "not a cursor this server returned (use next_cursor from the previous page)",
            ));
            0
        }),
    };
    errors.extend(query.unknown(&["limit", "cursor"]));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let wants_csv = super::extract::prefers_csv(&headers);
    if wants_csv {
        return Ok(stream_csv(state.pool.clone(), groups, names, comparison));
    }
    // Skip whole groups before the cursor, then read groups until the page is full.
    let mut items = Vec::new();
    let mut offset = 0u64;
    let mut more = false;
    for g in &groups {
        if offset + g.len <= cursor {
            offset += g.len;
            continue;
        }
        if items.len() as u64 >= limit {
            more = true;
            break;
        }
        let loaded = load(&state.pool, g).await?;
        for item in loaded {
            if offset >= cursor && (items.len() as u64) < limit {
                items.push(item_json(&item, g, &names));
            } else if offset >= cursor {
                more = true;
            }
            offset += 1;
        }
    }
    let next = more.then(|| (cursor + items.len() as u64).to_string());
    Ok(Json(json!({"items": items, "next_cursor": next})).into_response())
}

fn item_json(item: &Item, g: &Group, names: &[String]) -> Value {
    let probabilities: Map<String, Value> = names
        .iter()
        .cloned()
        .zip(item.proba.iter().map(|&p| json!(f64::from(p))))
        .collect();
    json!({"row": item.row, "fold": item.fold, "repeat": g.repeat, "variant": g.variant,
           "strategy": g.strategy, "label": names.get(item.label as usize),
           "probabilities": probabilities})
}

/// The CSV's leading columns a comparison adds: which model variant, which strategy.
#[derive(Debug, Clone, Copy)]
struct Columns {
    variant: bool,
    strategy: bool,
}

/// The CSV, written group by group by a task as the client reads it.
fn stream_csv(pool: Db, groups: Vec<Group>, names: Vec<String>, comparison: Columns) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        // csv::Writer quotes what needs it (a class named `a,b`); each chunk is flushed out.
        let mut out = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = Vec::new();
        if comparison.variant {
            header.push("variant".into());
        }
        if comparison.strategy {
            header.push("strategy".into());
        }
        header.extend(["row", "fold", "repeat", "label"].map(String::from));
        header.extend(names.iter().map(|n| format!("p_{n}")));
        if out.write_record(&header).is_err() {
            return;
        }
        for g in &groups {
            let items = match load(&pool, g).await {
                Ok(items) => items,
                Err(e) => {
                    // The status is sent already: end the body early, and say why in the log.
                    tracing::error!(error = %format!("{e:#}"), "streaming predictions failed");
                    return;
                }
            };
            for chunk in items.chunks(CSV_CHUNK_ROWS) {
                for item in chunk {
                    let mut record: Vec<String> = Vec::with_capacity(5 + item.proba.len());
                    if comparison.variant {
                        record.push(g.variant.to_string());
                    }
                    if comparison.strategy {
                        record.push(g.strategy.map_or("", Strategy::as_str).to_owned());
                    }
                    record.push(item.row.to_string());
                    record.push(item.fold.unwrap_or(0).to_string());
                    record.push(g.repeat.unwrap_or(0).to_string());
                    record.push(names.get(item.label as usize).cloned().unwrap_or_default());
                    record.extend(item.proba.iter().map(|&p| f64::from(p).to_string()));
                    if out.write_record(&record).is_err() {
                        return;
                    }
                }
                let bytes = match out.into_inner() {
                    Ok(bytes) => bytes,
                    Err(_) => return,
                };
                out = csv::Writer::from_writer(Vec::new());
                if tx.send(Bytes::from(bytes)).await.is_err() {
                    return; // the client went away
                }
            }
        }
        if let Ok(bytes) = out.into_inner()
            && !bytes.is_empty()
        {
            let _ = tx.send(Bytes::from(bytes)).await;
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        Body::from_stream(body),
    )
        .into_response()
}
