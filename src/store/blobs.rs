//! Where a run's blobs go and come from: into the object store when the store has one (the
//! database then holds the key), else into the database itself.

use super::Db;
use super::artifacts::{ArtifactError, Blob, Stored, key};

/// Stores `bytes` as the run's artifact `what` under lease `token`: into the object store if
/// `db` has one (what the database then holds is its key), else into the database itself.
pub(crate) async fn stash<'a>(
    db: &Db,
    (run_id, token): (&str, i64),
    what: &str,
    bytes: &'a [u8],
) -> Result<Stored<'a>, ArtifactError> {
    let Some(store) = db.artifacts() else {
        return Ok(Stored::Inline(bytes));
    };
    let key = key(run_id, token, what);
    store.put(&key, bytes.to_vec()).await?;
    Ok(Stored::Object(key))
}

/// The bytes of a stored blob, read from the object store if that is where it is.
pub(crate) async fn fetch(db: &Db, blob: Blob) -> anyhow::Result<Vec<u8>> {
    match (blob, db.artifacts()) {
        (Blob::Inline(bytes), _) => Ok(bytes),
        (Blob::Object(key), Some(store)) => store.get(&key).await,
        (Blob::Object(key), None) => anyhow::bail!(
            "the artifact {key} is in an object store: start this process with --artifacts"
        ),
    }
}
