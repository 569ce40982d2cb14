//! `datasets` and `dataset_columns`: dataset summaries and their column values.

use std::sync::Arc;

use super::dataset_cache::DatasetValues;
use super::{Db, idempotency, on_backend};
use crate::domain::dataset::{Column, DatasetSummary, ParsedDataset, SequenceValues};

/// The idempotency scope of `POST /v1/datasets`.
pub const IDEMPOTENCY_SCOPE: &str = "datasets";

/// What an insert did.
#[derive(Debug)]
pub enum Inserted {
    /// Stored as a new dataset.
    Created(Box<DatasetSummary>),
    /// The idempotency key was already used, by this request hash, for this dataset.
    KeyUsed(idempotency::UsedKey),
}

/// An idempotency key with the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct KeyedRequest<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// What deleting a dataset did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
    /// Queued, running or cancelling jobs use it (how many): nothing was deleted.
    InUse(i64),
}

super::dispatch! { datasets:
    /// Stores a parsed dataset (summary, then each column) in one transaction, with its
    /// idempotency key if any; a key another request already took is reported, not an error.
    pub async fn insert_dataset(
        summary: DatasetSummary,
        parsed: &ParsedDataset,
        keyed: Option<KeyedRequest<'_>>,
    ) -> anyhow::Result<Inserted>;
    /// One dataset's summary.
    pub async fn get_dataset(id: &str) -> anyhow::Result<Option<DatasetSummary>>;
    /// A page of datasets, newest first: the summaries and the cursor of the next page.
    pub async fn list_datasets(
        limit: u32,
        before_seq: Option<i64>,
    ) -> anyhow::Result<(Vec<DatasetSummary>, Option<i64>)>;
    /// Deletes a dataset, its columns and the idempotency keys that created it, unless an
    /// unfinished job uses it. The check and the delete share one write transaction, and job
    /// creation checks the dataset inside its own, so neither can slip between the other's
    /// check and write.
    pub async fn delete_dataset(id: &str) -> anyhow::Result<Deleted>;
    /// A dataset's columns with their values, in upload order, as training loads them.
    pub async fn load_columns(id: &str) -> anyhow::Result<Option<Vec<Column>>>;
    /// Only the label column's class codes and the number of classes (what a fold assignment
    /// needs), without reading the feature columns.
    pub async fn load_labels(id: &str) -> anyhow::Result<Option<(Vec<u32>, usize)>>;
    /// One column by name (`None`: no such dataset or column).
    pub async fn load_column(id: &str, name: &str) -> anyhow::Result<Option<Column>>;
    /// One numeric column's values by name (`None`: no such dataset or column, or not numeric).
    pub async fn load_numeric_column(id: &str, name: &str) -> anyhow::Result<Option<Vec<f32>>>;
}

super::dispatch! { dataset_values:
    /// A sequence dataset's values, if `id` is one.
    pub async fn load_sequences(id: &str) -> anyhow::Result<Option<SequenceValues>>;
}

/// A dataset's values as a run trains on them (`None`: no such dataset): from this process's
/// memory when it holds them, else from its disk cache when it has one
/// (`Db::with_dataset_cache`), else from the database; then kept in both.
pub async fn values(db: &Db, id: &str) -> anyhow::Result<Option<Arc<DatasetValues>>> {
    if let Some(values) = db.memo().values(id) {
        return Ok(Some(values));
    }
    let Some(values) = stored_values(db, id).await? else {
        return Ok(None);
    };
    let values = Arc::new(values);
    db.memo().keep_values(id, values.clone());
    Ok(Some(values))
}

/// A dataset's values from the disk cache or the database (`None`: no such dataset).
async fn stored_values(db: &Db, id: &str) -> anyhow::Result<Option<DatasetValues>> {
    let Some(cache) = db.dataset_cache().cloned() else {
        return load_values(db, id).await;
    };
    let Some(summary) = remembered_summary(db, id).await? else {
        return Ok(None);
    };
    let read = (cache.clone(), summary.clone());
    if let Some(values) = tokio::task::spawn_blocking(move || read.0.get(&read.1)).await? {
        return Ok(Some(values));
    }
    let Some(values) = load_values(db, id).await? else {
        return Ok(None);
    };
    let cached = tokio::task::spawn_blocking(move || {
        // A failed write costs the next run a database read, nothing more.
        if let Err(e) = cache.put(&summary, &values) {
            tracing::warn!(dataset_id = %summary.id, error = %e, "caching a dataset failed");
        }
        values
    });
    Ok(Some(cached.await?))
}

/// A dataset's values from the database.
async fn load_values(db: &Db, id: &str) -> anyhow::Result<Option<DatasetValues>> {
    let Some(columns) = on_backend!(db, datasets::load_columns(id))? else {
        return Ok(None);
    };
    let sequences = on_backend!(db, dataset_values::load_sequences(id))?;
    Ok(Some(DatasetValues { columns, sequences }))
}

/// A dataset's summary, read once per process (what keys the cache never changes).
async fn remembered_summary(db: &Db, id: &str) -> anyhow::Result<Option<DatasetSummary>> {
    if let Some(summary) = db.memo().dataset(id) {
        return Ok(Some(summary));
    }
    let summary = get_dataset(db, id).await?;
    if let Some(summary) = &summary {
        db.memo().keep_dataset(summary);
    }
    Ok(summary)
}
