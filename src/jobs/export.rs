//! A job's or a run's models as one ONNX file. For a job, the models predict answers with
//! (`Answerer` decides, as for predict: the final model, or the leading variant's fold models
//! averaged); for a run, its own model. Loaded as predict loads them, exported on the compute
//! pool.

use crate::compute::ComputePool;
use crate::domain::results::RunState;
use crate::engine::export::{self as onnx, Export};
use crate::engine::onnx::ExportError;
use crate::jobs::predict::{self, Answerer, Ensemble, PredictError};
use crate::jobs::{models, views};
use crate::store::jobs::JobView;
use crate::store::{self, Db};

/// Why no ONNX model is served.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    /// No such job or run.
    #[error("{0}")]
    NotFound(String),
    /// The job or run has not succeeded, or has no such models.
    #[error("{0}")]
    NotReady(String),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<PredictError> for ExportFailure {
    fn from(e: PredictError) -> Self {
        match e {
            PredictError::NoModels(m) => ExportFailure::NotReady(m),
            PredictError::Store(e) => ExportFailure::Store(e),
            e @ PredictError::NotFinite { .. } => ExportFailure::Store(anyhow::anyhow!("{e}")),
        }
    }
}

/// The job's answering models as ONNX, with which ones answered (`final` or `folds`).
pub async fn job_onnx(
    on: (&Db, &ComputePool),
    job: &JobView,
    asked: Option<Ensemble>,
    unroll: Option<usize>,
) -> Result<Vec<u8>, ExportFailure> {
    let answerer = Answerer::of(asked, &job.diagnostics);
    let m = predict::models(on.0, job, answerer.folds).await?;
    let answered_by = if answerer.folds { "folds" } else { "final" };
    let how = How {
        threshold: m.threshold,
        answered_by,
        unroll,
    };
    exported(on, job, &m.runs, how).await
}

/// Run `run`'s model as ONNX (a succeeded run's).
pub async fn run_onnx(
    on: (&Db, &ComputePool),
    run: &str,
    unroll: Option<usize>,
) -> Result<Vec<u8>, ExportFailure> {
    let no_run = || ExportFailure::NotFound(format!("no run {run}"));
    let (job_id, state) = (store::run_data::run_owner(on.0, run).await?).ok_or_else(no_run)?;
    if state != RunState::Succeeded {
        return Err(ExportFailure::NotReady(format!(
            "run {run} is {}; its model is exported once it has succeeded",
            state.as_str()
        )));
    }
    let job = (views::job(on.0, &job_id).await?).ok_or_else(no_run)?;
    let how = How {
        threshold: models::load(on.0, run).await?.predictor.threshold(),
        answered_by: "run",
        unroll,
    };
    exported(on, &job, &[run.to_owned()], how).await
}

/// How the exported models answer: the threshold their labels are decided at, which models
/// they are (`final`, `folds`, `run`), the steps recurrent layers are unrolled over.
struct How {
    threshold: Option<f64>,
    answered_by: &'static str,
    unroll: Option<usize>,
}

/// `runs`' models averaged, as `how` says, as ONNX bytes.
async fn exported(
    (pool, compute): (&Db, &ComputePool),
    job: &JobView,
    runs: &[String],
    how: How,
) -> Result<Vec<u8>, ExportFailure> {
    let How {
        threshold,
        answered_by,
        unroll,
    } = how;
    let mut predictors = Vec::with_capacity(runs.len());
    for run in runs {
        let m = models::load(pool, run).await?;
        predictors.push((m.predictor, m.encoding));
    }
    let classes = (predictors.first()).ok_or(ExportError::Empty)?.0.classes();
    let names = models::class_names(pool, &job.id, &job.spec, classes).await?;
    let metadata = vec![
        ("crossfold_version".into(), env!("CARGO_PKG_VERSION").into()),
        ("job".into(), job.id.clone()),
        (
            "runs".into(),
            serde_json::to_string(runs).unwrap_or_default(),
        ),
        ("answered_by".into(), answered_by.into()),
        (
            "classes".into(),
            serde_json::to_string(&names).unwrap_or_default(),
        ),
        (
            "threshold".into(),
            threshold.map(|t| t.to_string()).unwrap_or_default(),
        ),
        (
            "label_column".into(),
            job.spec.label.clone().unwrap_or_default(),
        ),
    ];
    let span = tracing::info_span!("onnx_export", job_id = %job.id, runs = runs.len());
    let bytes = compute
        .run(span, move || {
            onnx::to_onnx(&Export {
                predictors: &predictors,
                classes: &names,
                threshold,
                metadata,
                unroll,
            })
        })
        .await??;
    Ok(bytes)
}
