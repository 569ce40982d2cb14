//! What predicting reads from the store: a run's model with its feature encoding, and the class
//! names of a job.

use super::state::AppState;
use crate::domain::job::JobSpec;
use crate::engine::checkpoint;
use crate::engine::data::encode::Encoding;
use crate::engine::data::labels::Labels;
use crate::engine::predict::Predictor;
use crate::error::ApiError;
use crate::store;

/// The class names of a job: as stored with it at submit; for a job stored before they were,
/// its dataset's classes or those of the column it chose as the `label` (indices if the dataset
/// is gone).
pub async fn class_names(
    state: &AppState,
    job_id: &str,
    spec: &JobSpec,
    classes: usize,
) -> Result<Vec<String>, ApiError> {
    if let Some(names) = store::jobs::class_names(&state.pool, job_id).await? {
        return Ok(names);
    }
    let indices = || (0..classes).map(|c| c.to_string()).collect();
    let Some(ds) = store::datasets::get_dataset(&state.pool, &spec.dataset_id).await? else {
        return Ok(indices());
    };
    Ok(match spec.label.as_ref().filter(|l| **l != ds.label) {
        None => ds.classes.into_iter().map(|c| c.value).collect(),
        Some(name) => match store::datasets::load_column(&state.pool, &ds.id, name).await? {
            Some(column) => Labels::of(&column.data).classes,
            None => indices(),
        },
    })
}

/// A run's stored model and its feature encoding.
pub async fn load_model(state: &AppState, run: &str) -> Result<(Predictor, Encoding), ApiError> {
    let bytes = store::run_data::checkpoint(&state.pool, run)
        .await?
        .and_then(|c| c.1)
        .ok_or_else(|| anyhow::anyhow!("run {run} has no checkpoint"))?;
    let stored = checkpoint::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("run {run}: {e}"))?;
    let encoding: Encoding = serde_json::from_str(stored.encoding.as_deref().unwrap_or("null"))
        .map_err(|e| anyhow::anyhow!("run {run}: encoding: {e}"))?;
    Ok((stored.predictor(), encoding))
}
