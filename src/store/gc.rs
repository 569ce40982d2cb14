//! Collecting objects no pointer names: checkpoints replaced by newer ones, the writes of an
//! attempt that lost its lease before committing, the artifacts of deleted jobs. An object
//! younger than `min_age` is kept even without a pointer: its writer may be about to commit it.

use std::collections::HashSet;
use std::time::Duration;

use super::{Db, on_backend};

/// What one collection found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Objects listed.
    pub listed: usize,
    /// Objects without a pointer, deleted.
    pub deleted: usize,
    /// Objects without a pointer, kept: younger than `min_age`.
    pub young: usize,
    /// Pointers whose object is missing (none, unless something outside deleted it).
    pub dangling: Vec<String>,
}

/// Deletes every object of the store's runs that no pointer names and is at least `min_age` old.
pub async fn collect(db: &Db, min_age: Duration) -> anyhow::Result<Collected> {
    let Some(store) = db.artifacts() else {
        anyhow::bail!("no object store (--artifacts): every artifact is in the database");
    };
    // Pointers first: an object written after this read is younger than any sane `min_age`.
    let pointers: HashSet<String> = on_backend!(db, artifact_keys::all())?.into_iter().collect();
    let objects = store.list("runs").await?;
    let mut collected = Collected {
        listed: objects.len(),
        ..Collected::default()
    };
    let mut seen = HashSet::with_capacity(objects.len());
    for (key, age_secs) in objects {
        if pointers.contains(&key) {
            seen.insert(key);
        } else if (age_secs.max(0) as u64) < min_age.as_secs() {
            collected.young += 1;
        } else {
            store.delete(&key).await?;
            collected.deleted += 1;
        }
    }
    collected.dangling = pointers.into_iter().filter(|k| !seen.contains(k)).collect();
    collected.dangling.sort();
    Ok(collected)
}

/// The objects `db` points to, once each is checked present; an error naming the missing ones.
pub async fn check_pointers(db: &Db) -> anyhow::Result<usize> {
    let Some(store) = db.artifacts() else {
        return Ok(0);
    };
    let pointers: HashSet<String> = on_backend!(db, artifact_keys::all())?.into_iter().collect();
    let listed: HashSet<String> = store.list("runs").await?.into_iter().map(|o| o.0).collect();
    let mut missing: Vec<&String> = pointers.difference(&listed).collect();
    missing.sort();
    anyhow::ensure!(
        missing.is_empty(),
        "{} artifacts are missing from {}: {missing:?}",
        missing.len(),
        store.url()
    );
    Ok(pointers.len())
}

/// Collects every `every` until `shutdown`, keeping objects younger than `every` (a process
/// with an object store runs this; several processes collecting at once is harmless).
pub async fn on_a_timer(db: Db, every: Duration, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match collect(&db, every).await {
            Ok(c) => tracing::info!(
                deleted = c.deleted,
                kept_young = c.young,
                dangling = c.dangling.len(),
                "collected unreferenced artifacts"
            ),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "collecting artifacts failed"),
        }
    }
}
