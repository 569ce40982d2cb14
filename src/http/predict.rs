//! `POST /v1/jobs/{id}/predict`: class probabilities for new rows from the stored models.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::body_format::body_format;
use super::extract::{LimitedBytes, QueryParams, parse_json};
use super::jobs::job_or_404;
use super::predict_sequences::sequences_of;
use super::state::{AppState, Route};
use crate::config::MAX_PREDICT_PROBABILITIES;
use crate::domain::dataset::UploadFormat;
use crate::domain::job::JobStatus;
use crate::engine::data::encode::{Encoding, Unseen};
use crate::error::{ApiError, FieldError};
use crate::ingest::rows::{PredictRows, RowError};
use crate::jobs::predict::Ensemble;
use crate::jobs::views::JobView;
use crate::jobs::{models, predict};

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/predict", post(predict))]
}

/// The rows to predict: `{"rows": [{…}]}` as JSON, or CSV with a header row, read as an upload
/// reads its cells.
fn rows_of(
    format: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    max_rows: usize,
) -> Result<PredictRows, ApiError> {
    let accepted = [UploadFormat::Json, UploadFormat::Csv];
    let rows = match body_format(format, headers, &accepted)? {
        UploadFormat::Csv => PredictRows::from_csv(body, max_rows)?,
        _ => PredictRows::from_json(&parse_json(body)?, max_rows)?,
    };
    if rows.is_empty() {
        return Err(ApiError::invalid_field(
            "rows",
            "at least one row to predict",
        ));
    }
    Ok(rows)
}

fn row_errors(errors: Vec<RowError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(e.field, e.message))
        .collect()
}

/// `?ensemble=folds|final`: the models asked for (`None`: the ones predict answers with).
pub(super) fn take_ensemble(query: &mut QueryParams) -> Result<Option<Ensemble>, ApiError> {
    Ok(match query.take_choice("ensemble", &["folds", "final"])? {
        Some("folds") => Some(Ensemble::Folds),
        Some(_) => Some(Ensemble::Final),
        None => None,
    })
}

/// Job `id`, which must have succeeded (a 409 saying what then happens, `then`, otherwise).
pub(super) async fn succeeded_job(
    state: &AppState,
    id: &str,
    then: &str,
) -> Result<JobView, ApiError> {
    let job = job_or_404(state, id).await?;
    if job.status != JobStatus::Succeeded {
        return Err(ApiError::Conflict(format!(
            "job {id} is {}; {then} once it has succeeded",
            job.status.as_str()
        )));
    }
    Ok(job)
}

async fn predict(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut query: QueryParams,
    headers: HeaderMap,
    LimitedBytes(body): LimitedBytes,
) -> Result<Json<Value>, ApiError> {
    let asked = take_ensemble(&mut query)?;
    let explain = query.take_choice("explain", &["attention"])?.is_some();
    let format = query.take_choice("format", &["csv", "json", "ts"])?;
    let strict = query.take_bool("strict")?;
    let unseen = match query.take_choice("unseen", &["refuse", "zeros"])? {
        Some("zeros") => Unseen::Zeros,
        _ => Unseen::Refuse,
    };
    let unknown = query.unknown(&["ensemble", "explain", "format", "strict", "unseen"]);
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(unknown));
    }
    let job = succeeded_job(&state, &id, "it predicts").await?;
    let answerer = predict::Answerer::of(asked, &job.diagnostics);
    let models = predict::models(&state.pool, &job, answerer.folds).await?;
    let classes = models.first.predictor.classes();
    let max_rows = state
        .limits
        .max_predict_rows
        .min(MAX_PREDICT_PROBABILITIES / classes.max(1) as u64) as usize;
    let names = models::class_names(&state.pool, &job.id, &job.spec, classes).await?;
    let on = (&state.pool, &state.predict_pool);
    if let Some(scaling) = &models.first.encoding.sequence {
        let seqs = sequences_of(&state, &headers, &body, format, scaling.channels, max_rows)?;
        drop(body);
        if explain && !models.first.predictor.has_attention() {
            return Err(ApiError::invalid_field(
                "explain",
                "this model has no attention (model.attention is none)",
            ));
        }
        let (runs, labels) = (models.runs.clone(), seqs.labels.clone());
        let decide = Decide::new(&names, runs.len(), models.threshold, &answerer);
        let scored = predict::score_sequences(on, &id, models, Arc::new(seqs), explain).await?;
        return Ok(Json(sequence_predictions(scored, &decide, &runs, labels)));
    }
    if explain {
        return Err(ApiError::invalid_field(
            "explain",
            "attention weights are for sequence models (model.kind gru)",
        ));
    }
    let rows = Arc::new(rows_of(format, &headers, &body, max_rows)?);
    drop(body);
    let label = job.spec.label.clone().unwrap_or_else(|| "label".into());
    let encoding = &models.first.encoding;
    check_rows(&rows, encoding, &label, (strict, unseen))?;
    let counts = |c: Vec<(String, usize)>| -> Map<String, Value> {
        c.into_iter()
            .map(|(column, n)| (column, json!(n)))
            .collect()
    };
    let imputed = counts(rows.imputed(encoding));
    let zeroed = (unseen == Unseen::Zeros).then(|| counts(rows.unseen(encoding)));
    let runs = models.runs.clone();
    let decide = Decide::new(&names, runs.len(), models.threshold, &answerer);
    let sum = predict::score_rows(on, &id, models, rows).await?;
    let mut body = json!({"predictions": decide.json(&sum), "models": runs, "imputed": imputed});
    if let Some(zeroed) = zeroed {
        body["unseen"] = json!(zeroed);
    }
    decide.describe(&mut body);
    Ok(Json(body))
}

/// Every unknown column (and, `strict`, every feature left out) and bad cell (an unseen
/// category unless `Unseen::Zeros`) of `rows` for `encoding`, reported at once before any
/// scoring.
fn check_rows(
    rows: &PredictRows,
    encoding: &Encoding,
    label: &str,
    (strict, unseen): (bool, Unseen),
) -> Result<(), ApiError> {
    let mut unknown = rows.unknown_columns(encoding, label);
    if strict {
        unknown.extend(rows.absent_columns(encoding));
    }
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(row_errors(unknown)));
    }
    if let Err((errors, total)) = rows.check(encoding, unseen) {
        let mut errors = row_errors(errors);
        if total > errors.len() {
            errors.push(FieldError::new(
                "rows",
                format!("{} more invalid values not listed", total - errors.len()),
            ));
        }
        return Err(ApiError::invalid_fields(errors));
    }
    Ok(())
}

/// The response for scored sequences: predictions, attention weights (the mean over the
/// models), and with a `.ts` file's labels, their accuracy.
fn sequence_predictions(
    scored: predict::Scored,
    decide: &Decide<'_>,
    runs: &[String],
    labels: Option<Vec<String>>,
) -> Value {
    let names = decide.names;
    let mut out = decide.json(&scored.sum);
    if let Some(attention) = scored.attention {
        let count = runs.len() as f64;
        for (p, w) in out.iter_mut().zip(attention) {
            let w: Vec<f64> = w.into_iter().map(|v| v / count).collect();
            p["attention"] = json!(w);
        }
    }
    let mut body = json!({"predictions": out, "models": runs});
    decide.describe(&mut body);
    if let Some(labels) = labels {
        let right = scored
            .sum
            .chunks(names.len())
            .zip(&labels)
            .filter(|(p, l)| names[decide.class(p)] == **l)
            .count();
        body["accuracy"] = json!(right as f64 / labels.len().max(1) as f64);
    }
    body
}

/// How summed probabilities become answers: the class names, the models summed, the
/// decision threshold on class 1's probability (`None`: the most probable class), and which
/// models answered.
struct Decide<'a> {
    names: &'a [String],
    models: f64,
    threshold: Option<f64>,
    answerer: &'a predict::Answerer,
}

impl<'a> Decide<'a> {
    fn new(
        names: &'a [String],
        models: usize,
        threshold: Option<f64>,
        answerer: &'a predict::Answerer,
    ) -> Self {
        let threshold = threshold.filter(|_| names.len() == 2);
        Self {
            names,
            models: models as f64,
            threshold,
            answerer,
        }
    }

    /// Each row's label and probabilities: the mean of the models' summed probabilities.
    fn json(&self, sum: &[f64]) -> Vec<Value> {
        sum.chunks(self.names.len())
            .map(|p| {
                let probabilities: Map<String, Value> = (self.names.iter().zip(p))
                    .map(|(name, v)| (name.clone(), json!(v / self.models)))
                    .collect();
                json!({"label": self.names[self.class(p)], "probabilities": probabilities})
            })
            .collect()
    }

    /// The class of summed probabilities `p`: class 1 where its mean reaches the threshold,
    /// else the most probable (the first of ties).
    fn class(&self, p: &[f64]) -> usize {
        match self.threshold {
            Some(t) => usize::from(p[1] / self.models >= t),
            None => (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b }),
        }
    }

    /// Says in the response which models answered (and why the fold ensemble, unasked) and
    /// which threshold decided the labels.
    fn describe(&self, body: &mut Value) {
        body["answered_by"] = json!(if self.answerer.folds {
            "folds"
        } else {
            "final"
        });
        if let Some(why) = &self.answerer.why {
            body["answered_by_reason"] = json!(why);
        }
        if let Some(t) = self.threshold {
            body["threshold"] = json!(t);
        }
    }
}
