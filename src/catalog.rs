//! Datasets as the API serves them: a parsed upload stored under a new id (or, for an
//! idempotency key used before with the same request, the dataset it made then), listed,
//! shown, and deleted unless a job still reads it.

use crate::store::Db;

use crate::domain::dataset::{DatasetSummary, ParsedDataset};
use crate::domain::ids;
pub use crate::store::datasets::Deleted;
use crate::store::datasets::{self as store, Inserted, KeyedRequest};

/// What storing an upload did.
#[derive(Debug)]
pub enum Stored {
    Created(DatasetSummary),
    /// The idempotency key's earlier request, the same as this one: its dataset.
    Replayed(DatasetSummary),
}

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("this Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Stores `parsed` as dataset `name`; `key` is the request's idempotency key and
/// `request_hash` what identifies the request.
pub async fn store_upload(
    pool: &Db,
    parsed: &ParsedDataset,
    name: String,
    (key, request_hash): (Option<&str>, &str),
) -> Result<Stored, StoreError> {
    let summary = parsed.summary(ids::new_id("ds"), name, ids::now_rfc3339());
    let keyed = key.map(|key| KeyedRequest { key, request_hash });
    match store::insert_dataset(pool, summary, parsed, keyed).await? {
        Inserted::Created(summary) => Ok(Stored::Created(*summary)),
        Inserted::KeyUsed(used) if used.request_hash == request_hash => {
            let summary = store::get_dataset(pool, &used.resource_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("idempotency key points at a missing dataset"))?;
            Ok(Stored::Replayed(summary))
        }
        Inserted::KeyUsed(_) => Err(StoreError::KeyReused),
    }
}

/// Dataset `id` (`None`: no such dataset).
pub async fn dataset(pool: &Db, id: &str) -> anyhow::Result<Option<DatasetSummary>> {
    store::get_dataset(pool, id).await
}

/// A page of datasets, newest first, and the next page's cursor.
pub async fn datasets(
    pool: &Db,
    limit: u32,
    before: Option<i64>,
) -> anyhow::Result<(Vec<DatasetSummary>, Option<i64>)> {
    store::list_datasets(pool, limit, before).await
}

/// Deletes dataset `id` unless a queued or running job reads it.
pub async fn delete(pool: &Db, id: &str) -> anyhow::Result<Deleted> {
    store::delete_dataset(pool, id).await
}
