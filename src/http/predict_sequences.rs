//! The sequence half of `POST /v1/jobs/{id}/predict`: sequences from a `.ts` file or JSON,
//! scaled and packed as each model's training sequences were, scored a chunk at a time on the
//! predict pool; `?explain=attention` adds each sequence's attention weights per step (the mean
//! over the models scored), and a `.ts` file's labels give the predictions' accuracy.

use std::sync::Arc;

use axum::http::HeaderMap;

use super::extract::{media_type, parse_json, unsupported};
use super::state::AppState;
use super::stored_model::load_model;
use crate::engine::data::encode::Encoding;
use crate::engine::model::param::Dev;
use crate::engine::predict::Predictor;
use crate::error::ApiError;
use crate::ingest::predict_sequences::PredictSequences;
use crate::ingest::ts::TsLimits;

/// What the sequences scored to: per sequence and class the summed probabilities, and (with
/// `explain`) the summed attention weights.
pub struct Scored {
    pub sum: Vec<f64>,
    pub attention: Option<Vec<Vec<f64>>>,
    pub labels: Option<Vec<String>>,
}

/// Reads the body as sequences of `channels` (`.ts` by content type or `?format=ts`).
pub fn sequences_of(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    ts: bool,
    channels: usize,
    max_sequences: usize,
) -> Result<PredictSequences, ApiError> {
    let limits = TsLimits {
        max_steps: usize::try_from(state.limits.max_sequence_steps).unwrap_or(usize::MAX),
        max_values: usize::try_from(state.limits.max_cells).unwrap_or(usize::MAX),
        max_channels: channels,
        max_sequences,
    };
    let (content_type, essence) = media_type(headers);
    Ok(match essence.as_str() {
        _ if ts => PredictSequences::from_ts(body, &limits, channels)?,
        "text/x-ts" => PredictSequences::from_ts(body, &limits, channels)?,
        "application/json" => PredictSequences::from_json(&parse_json(body)?, &limits, channels)?,
        _ => {
            return Err(unsupported(
                content_type,
                "application/json {\"sequences\": [...]} or text/x-ts",
            ));
        }
    })
}

/// Scores `seqs` with each of `runs` (the first already loaded).
pub async fn score(
    state: &AppState,
    job_id: &str,
    runs: &[String],
    first: (Predictor, Encoding),
    seqs: PredictSequences,
    explain: bool,
) -> Result<Scored, ApiError> {
    let classes = first.0.classes();
    let n = seqs.sequences.len();
    let labels = seqs.labels.clone();
    let seqs = Arc::new(seqs);
    let mut scored = Scored {
        sum: vec![0.0; n * classes],
        attention: explain.then(|| seqs.sequences.iter().map(|s| vec![0.0; s.steps]).collect()),
        labels,
    };
    let mut model = Some(first);
    for run in runs {
        let (predictor, encoding) = match model.take() {
            Some(loaded) => loaded,
            None => load_model(state, run).await?,
        };
        if predictor.classes() != classes {
            let found = predictor.classes();
            return Err(anyhow::anyhow!("run {run} has {found} classes, not {classes}").into());
        }
        let Some(scaling) = encoding.sequence.clone() else {
            return Err(anyhow::anyhow!("run {run} is not a sequence model").into());
        };
        let seqs = seqs.clone();
        let mut acc = std::mem::replace(
            &mut scored,
            Scored {
                sum: Vec::new(),
                attention: None,
                labels: None,
            },
        );
        let span = tracing::info_span!("predict", job_id = %job_id, run_id = %run, sequences = n);
        let (back, bad) = state
            .predict_pool
            .run(span, move || {
                let bad = score_one(predictor, &scaling, &seqs, &mut acc, classes);
                (acc, bad)
            })
            .await?;
        scored = back;
        if let Some(i) = bad {
            return Err(ApiError::invalid_field(
                format!("sequences[{i}]"),
                "the model's output is not finite for these values (far outside the training data)",
            ));
        }
    }
    Ok(scored)
}

/// Adds one model's probabilities (and attention weights) to `acc`; the first sequence whose
/// output is not finite, if any.
fn score_one(
    mut predictor: Predictor,
    scaling: &crate::engine::data::sequences::SequenceScaling,
    seqs: &PredictSequences,
    acc: &mut Scored,
    classes: usize,
) -> Option<usize> {
    let dev = Dev::default();
    let n = seqs.sequences.len();
    let mut start = 0;
    while start < n {
        let longest = seqs.sequences[start..]
            .iter()
            .map(|s| s.steps)
            .max()
            .unwrap_or(1);
        let rows = predictor.chunk_rows(scaling.width(longest));
        let end = (start + rows).min(n);
        let chunk = &seqs.sequences[start..end];
        let steps = chunk.iter().map(|s| s.steps).max().unwrap_or(1);
        let x = scaling.pack(chunk.iter().map(|s| s.values.as_slice()), steps);
        let p = predictor.proba(&dev, &x, end - start);
        if let Some(bad) = p.iter().position(|v| !v.is_finite()) {
            return Some(start + bad / classes);
        }
        for (s, v) in acc.sum[start * classes..end * classes].iter_mut().zip(p) {
            *s += v;
        }
        if let Some(attention) = acc.attention.as_mut() {
            for (i, w) in predictor.attention(&x, end - start).into_iter().enumerate() {
                for (a, v) in attention[start + i].iter_mut().zip(w) {
                    *a += f64::from(v);
                }
            }
        }
        start = end;
    }
    None
}
