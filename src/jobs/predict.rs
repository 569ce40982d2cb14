//! Scoring new rows or sequences with a finished job's models: the final model, or a fold
//! ensemble (a comparison's leading variant's folds), each run's model loaded in turn and
//! scored a chunk at a time on the compute pool, the probabilities summed.

use std::sync::Arc;

use crate::store::Db;

use super::models::{self, StoredModel};
use super::results;
use crate::compute::ComputePool;
use crate::domain::finding::{Finding, Kind, Severity};
use crate::domain::results::{RunKind, RunResult, RunState};
use crate::engine::data::encode::Unseen;
use crate::engine::data::sequences::SequenceScaling;
use crate::engine::predict::Predictor;
use crate::ingest::predict_sequences::PredictSequences;
use crate::ingest::rows::PredictRows;
use crate::ingest::ts::Sequence;
use crate::store::{self, jobs::JobView};

/// Rows scored at once: bounds the activations of a wide model.
const PREDICT_CHUNK: usize = 1024;

/// Why a prediction cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The job has no such models (yet).
    #[error("{0}")]
    NoModels(String),
    /// A row's (or sequence's) output is not finite: `rows[i]` or `sequences[i]`.
    #[error("the model's output is not finite for these values (far outside the training data)")]
    NotFinite { field: String },
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Which models answer a predict request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answerer {
    /// The fold ensemble (the leading variant's fold models) rather than the final model.
    pub folds: bool,
    /// Why the fold ensemble answers when `?ensemble=` did not ask for it.
    pub why: Option<String>,
}

/// The models a request asks for (`?ensemble=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensemble {
    Final,
    Folds,
}

impl Answerer {
    /// `?ensemble=` as asked; unasked, the final model, unless the job found that it did not
    /// converge as its folds did (`final_model_unconverged`): then the fold ensemble, saying so.
    pub fn of(asked: Option<Ensemble>, findings: &[Finding]) -> Self {
        let unconverged = (findings.iter())
            .find(|f| f.kind == Kind::FinalModelUnconverged && f.severity >= Severity::Warning);
        match (asked, unconverged) {
            (Some(a), _) => Self {
                folds: a == Ensemble::Folds,
                why: None,
            },
            (None, Some(f)) => Self {
                folds: true,
                why: Some(format!("{}: {}", f.kind.as_str(), f.evidence.summary)),
            },
            (None, None) => Self {
                folds: false,
                why: None,
            },
        }
    }
}

/// The models that answer: their runs, the first loaded (it decides the classes and checks
/// the input).
pub struct Models {
    pub runs: Vec<String>,
    pub first: StoredModel,
    /// The threshold on class 1's probability their answers are decided at
    /// (`imbalance.threshold: "tuned"`): the final model's, stored with it, or for the fold
    /// ensemble the leading variant's, stored with the job's results.
    pub threshold: Option<f64>,
}

/// The final model, or (`folds`) the fold models of the leading variant.
pub async fn models(pool: &Db, job: &JobView, folds: bool) -> Result<Models, PredictError> {
    let runs =
        store::run_data::runs_of_job(pool, &job.id, store::run_data::Detail::Summary).await?;
    let fold_results: Vec<&RunResult> = results::fold_results(&runs);
    let leader = results::leader(&job.spec, &fold_results);
    let wanted: Vec<String> = runs
        .iter()
        .filter(|r| {
            r.state == RunState::Succeeded
                && match folds {
                    true => {
                        r.kind == RunKind::Fold
                            && leader.is_none_or(|l| {
                                r.strategy == Some(l.strategy) && r.variant as usize == l.model
                            })
                    }
                    false => r.kind == RunKind::Final,
                }
        })
        .map(|r| r.id.clone())
        .collect();
    let Some(first) = wanted.first() else {
        return Err(PredictError::NoModels(match folds {
            true => "the job has no fold models".into(),
            false => "the job has no final model (it was submitted with final_model: false); \
                      use ?ensemble=folds"
                .into(),
        }));
    };
    let first = models::load(pool, first).await?;
    let threshold = match folds {
        false => first.predictor.threshold(),
        true => (store::jobs::results(pool, &job.id).await?)
            .and_then(|(_, _, results)| Some(results?.threshold?.value)),
    };
    Ok(Models {
        runs: wanted,
        first,
        threshold,
    })
}

/// Each model of `m` in turn (the first as loaded, the others read one at a time), checked to
/// score `classes` classes.
async fn each_model(
    pool: &Db,
    m: &mut Option<StoredModel>,
    run: &str,
    classes: usize,
) -> anyhow::Result<StoredModel> {
    let model = match m.take() {
        Some(loaded) => loaded,
        None => models::load(pool, run).await?,
    };
    let found = model.predictor.classes();
    anyhow::ensure!(
        found == classes,
        "run {run} has {found} classes, not {classes}"
    );
    Ok(model)
}

/// The summed class probabilities of `rows` (rows × classes) over the models.
pub async fn score_rows(
    (pool, compute): (&Db, &ComputePool),
    job_id: &str,
    m: Models,
    rows: Arc<PredictRows>,
) -> Result<Vec<f64>, PredictError> {
    let classes = m.first.predictor.classes();
    let n = rows.len();
    let mut sum = vec![0.0f64; n * classes];
    let mut first = Some(m.first);
    for run in &m.runs {
        let model = each_model(pool, &mut first, run, classes).await?;
        let (rows, acc) = (rows.clone(), std::mem::take(&mut sum));
        let span = tracing::info_span!("predict", job_id = %job_id, run_id = %run, rows = n);
        let (back, bad) = compute
            .run(span, move || score_into(model, rows, acc, classes))
            .await?;
        sum = back;
        if let Some(row) = bad {
            return Err(PredictError::NotFinite {
                field: format!("rows[{row}]"),
            });
        }
    }
    Ok(sum)
}

/// Adds one model's probabilities for `rows` to `sum`, a chunk at a time; also returns the first
/// row whose output is not finite, if any.
fn score_into(
    model: StoredModel,
    rows: Arc<PredictRows>,
    mut sum: Vec<f64>,
    classes: usize,
) -> (Vec<f64>, Option<usize>) {
    let StoredModel {
        mut predictor,
        encoding,
    } = model;
    let n = rows.len();
    for start in (0..n).step_by(PREDICT_CHUNK) {
        let end = (start + PREDICT_CHUNK).min(n);
        // Checked with the first model; another model's encoding fits the same columns, and a
        // category its fold's training rows lacked encodes as zeros, as in its held-out rows.
        let Ok(x) = rows.encode(&encoding, (start, end), Unseen::Zeros) else {
            return (sum, Some(start));
        };
        let p = predictor.proba(&x, end - start);
        if let Some(bad) = p.iter().position(|v| !v.is_finite()) {
            return (sum, Some(start + bad / classes));
        }
        for (s, v) in sum[start * classes..end * classes].iter_mut().zip(p) {
            *s += v;
        }
    }
    (sum, None)
}

/// What sequences scored to: per sequence and class the summed probabilities, and (with
/// `explain`) the summed attention weights.
pub struct Scored {
    pub sum: Vec<f64>,
    pub attention: Option<Vec<Vec<f64>>>,
}

/// Scores `seqs` with each of the models.
pub async fn score_sequences(
    (pool, compute): (&Db, &ComputePool),
    job_id: &str,
    m: Models,
    seqs: Arc<PredictSequences>,
    explain: bool,
) -> Result<Scored, PredictError> {
    let classes = m.first.predictor.classes();
    let n = seqs.sequences.len();
    let mut scored = Scored {
        sum: vec![0.0; n * classes],
        attention: explain.then(|| seqs.sequences.iter().map(|s| vec![0.0; s.steps]).collect()),
    };
    let mut first = Some(m.first);
    for run in &m.runs {
        let model = each_model(pool, &mut first, run, classes).await?;
        let Some(scaling) = model.encoding.sequence.clone() else {
            return Err(anyhow::anyhow!("run {run} is not a sequence model").into());
        };
        let seqs = seqs.clone();
        let mut acc = std::mem::replace(
            &mut scored,
            Scored {
                sum: Vec::new(),
                attention: None,
            },
        );
        let span = tracing::info_span!("predict", job_id = %job_id, run_id = %run, sequences = n);
        let (back, bad) = compute
            .run(span, move || {
                let bad = score_one(model.predictor, &scaling, &seqs, &mut acc, classes);
                (acc, bad)
            })
            .await?;
        scored = back;
        if let Some(i) = bad {
            return Err(PredictError::NotFinite {
                field: format!("sequences[{i}]"),
            });
        }
    }
    Ok(scored)
}

/// Adds one model's probabilities (and attention weights) to `acc`; the first sequence whose
/// output is not finite, if any.
fn score_one(
    mut predictor: Predictor,
    scaling: &SequenceScaling,
    seqs: &PredictSequences,
    acc: &mut Scored,
    classes: usize,
) -> Option<usize> {
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
        let p = predictor.proba(&x, end - start);
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

/// The attention weights of run `run` (a sequence model with attention) on the first `n`
/// sequences of the job's dataset, with those sequences' classes and the class names; `None`
/// when the model has no attention or the dataset is gone.
pub async fn dataset_attention(
    on: (&Db, &ComputePool),
    job: &JobView,
    run: &str,
    n: usize,
) -> Result<Option<(Scored, Vec<u32>, Vec<String>)>, PredictError> {
    let pool = on.0;
    let model = models::load(pool, run).await?;
    if model.encoding.sequence.is_none() || !model.predictor.has_attention() {
        return Ok(None);
    }
    let Some(values) = store::datasets::load_sequences(pool, &job.dataset_id).await? else {
        return Ok(None);
    };
    let (labels, _) = store::datasets::load_labels(pool, &job.dataset_id)
        .await?
        .unwrap_or_default();
    let classes = model.predictor.classes();
    let names = models::class_names(pool, &job.id, &job.spec, classes).await?;
    let mut sequences = Vec::new();
    let mut offset = 0usize;
    for &len in values.lengths.iter().take(n) {
        let k = len as usize * values.channels;
        sequences.push(Sequence {
            steps: len as usize,
            values: values.values[offset..offset + k].to_vec(),
        });
        offset += k;
    }
    let seqs = PredictSequences {
        sequences,
        labels: None,
    };
    let models = Models {
        runs: vec![run.to_owned()],
        threshold: model.predictor.threshold(),
        first: model,
    };
    let scored = score_sequences(on, &job.id, models, Arc::new(seqs), true).await?;
    Ok(Some((scored, labels, names)))
}
