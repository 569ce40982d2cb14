//! A run's model as predicting reads it: the predictor (weights, an ensemble's members, a
//! one-class calibration, the prior correction; never the resume state), its feature encoding
//! parsed once, and the class names stored with the job. A succeeded run's checkpoint never
//! changes, so its model is kept once read (up to `LOADED_BYTES` of checkpoints, the oldest
//! dropped first): predicting with it again reads and parses nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use crate::store::Db;

use crate::domain::job::JobSpec;
use crate::domain::results::RunState;
use crate::engine::checkpoint;
use crate::engine::data::encode::Encoding;
use crate::engine::data::labels::Labels;
use crate::engine::predict::Predictor;
use crate::store;

/// Checkpoint bytes whose models are kept for predicting again.
const LOADED_BYTES: usize = 256 << 20;

/// A run's stored model, ready to score rows.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub predictor: Predictor,
    pub encoding: Encoding,
}

/// Run `run`'s model (an error if it has none: a run that did not finish).
pub async fn load(pool: &Db, run: &str) -> anyhow::Result<StoredModel> {
    if let Some(model) = loaded().get(run) {
        return Ok(model);
    }
    let (state, bytes) = store::run_data::checkpoint(pool, run)
        .await?
        .and_then(|(state, bytes)| Some((state, bytes?)))
        .ok_or_else(|| anyhow::anyhow!("run {run} has no checkpoint"))?;
    let stored =
        checkpoint::predictor_from_bytes(&bytes).map_err(|e| anyhow::anyhow!("run {run}: {e}"))?;
    let encoding = Encoding::from_stored(stored.encoding.as_deref().unwrap_or("null"))
        .map_err(|e| anyhow::anyhow!("run {run}: encoding: {e}"))?;
    let model = StoredModel {
        predictor: stored.predictor,
        encoding,
    };
    if state == RunState::Succeeded {
        loaded().keep(run, bytes.len(), &model);
    }
    Ok(model)
}

/// Keeps run `run`'s model, just stored as succeeded with a checkpoint of `checkpoint_bytes`
/// (the worker's, so that predicting with it parses nothing even the first time).
pub fn keep(run: &str, checkpoint_bytes: usize, model: &StoredModel) {
    loaded().keep(run, checkpoint_bytes, model);
}

/// Models of succeeded runs, by run, the oldest first out.
#[derive(Default)]
struct Loaded {
    models: HashMap<String, (usize, StoredModel)>,
    order: VecDeque<String>,
    bytes: usize,
}

static LOADED: LazyLock<Mutex<Loaded>> = LazyLock::new(Default::default);

fn loaded() -> std::sync::MutexGuard<'static, Loaded> {
    LOADED.lock().unwrap_or_else(|e| e.into_inner())
}

impl Loaded {
    fn get(&self, run: &str) -> Option<StoredModel> {
        self.models.get(run).map(|(_, m)| m.clone())
    }

    fn keep(&mut self, run: &str, bytes: usize, model: &StoredModel) {
        if bytes > LOADED_BYTES / 2 || self.models.contains_key(run) {
            return;
        }
        while self.bytes + bytes > LOADED_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((b, _)) = self.models.remove(&oldest) {
                self.bytes -= b;
            }
        }
        self.models.insert(run.to_owned(), (bytes, model.clone()));
        self.order.push_back(run.to_owned());
        self.bytes += bytes;
    }
}

/// The class names of a job: as stored with it at submit; for a job stored before they were,
/// its dataset's classes or those of the column it chose as the `label` (indices if the
/// dataset is gone).
pub async fn class_names(
    pool: &Db,
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
