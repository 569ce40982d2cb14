//! A run's model as predicting reads it: the predictor (weights, an ensemble's members, a
//! one-class calibration, the prior correction; never the resume state), its feature encoding
//! parsed once, and the class names stored with the job.

use sqlx::SqlitePool;

use crate::domain::job::JobSpec;
use crate::engine::checkpoint;
use crate::engine::data::encode::Encoding;
use crate::engine::data::labels::Labels;
use crate::engine::predict::Predictor;
use crate::store;

/// A run's stored model, ready to score rows.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub predictor: Predictor,
    pub encoding: Encoding,
}

/// Run `run`'s model (an error if it has none: a run that did not finish).
pub async fn load(pool: &SqlitePool, run: &str) -> anyhow::Result<StoredModel> {
    let bytes = store::run_data::checkpoint(pool, run)
        .await?
        .and_then(|c| c.1)
        .ok_or_else(|| anyhow::anyhow!("run {run} has no checkpoint"))?;
    let stored =
        checkpoint::predictor_from_bytes(&bytes).map_err(|e| anyhow::anyhow!("run {run}: {e}"))?;
    let encoding = Encoding::from_stored(stored.encoding.as_deref().unwrap_or("null"))
        .map_err(|e| anyhow::anyhow!("run {run}: encoding: {e}"))?;
    Ok(StoredModel {
        predictor: stored.predictor,
        encoding,
    })
}

/// The class names of a job: as stored with it at submit; for a job stored before they were,
/// its dataset's classes or those of the column it chose as the `label` (indices if the
/// dataset is gone).
pub async fn class_names(
    pool: &SqlitePool,
    job_id: &str,
    spec: &JobSpec,
    classes: usize,
) -> anyhow::Result<Vec<String>> {
    if let Some(names) = store::jobs::class_names(pool, job_id).await? {
        return Ok(names);
    }
    let indices = || (0..classes).map(|c| c.to_string()).collect();
    let Some(ds) = store::datasets::get_dataset(pool, &spec.dataset_id).await? else {
        return Ok(indices());
    };
    Ok(match spec.label.as_ref().filter(|l| **l != ds.label) {
        None => ds.classes.into_iter().map(|c| c.value).collect(),
        Some(name) => match store::datasets::load_column(pool, &ds.id, name).await? {
            Some(column) => Labels::of(&column.data).classes,
            None => indices(),
        },
    })
}
