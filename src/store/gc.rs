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

/// The store's run objects (key, age in seconds) beside the keys the database points to.
struct Survey<'a> {
    store: &'a super::artifacts::Artifacts,
    pointers: HashSet<String>,
    objects: Vec<(String, i64)>,
}

/// Reads the pointers, then lists the objects (`None`: no object store).
async fn survey(db: &Db) -> anyhow::Result<Option<Survey<'_>>> {
    let Some(store) = db.artifacts() else {
        return Ok(None);
    };
    // Pointers first: an object written after this read is younger than any sane `min_age`.
    let pointers = on_backend!(db, artifact_keys::all())?.into_iter().collect();
    let objects = store.list("runs").await?;
    Ok(Some(Survey {
        store,
        pointers,
        objects,
    }))
}

impl Survey<'_> {
    /// Pointers whose object is not listed, sorted.
    fn dangling(&self) -> Vec<String> {
        let listed: HashSet<&String> = self.objects.iter().map(|o| &o.0).collect();
        let mut missing: Vec<String> = self
            .pointers
            .iter()
            .filter(|k| !listed.contains(k))
            .cloned()
            .collect();
        missing.sort();
        missing
    }
}

/// Deletes every object of the store's runs that no pointer names and is at least `min_age` old.
pub async fn collect(db: &Db, min_age: Duration) -> anyhow::Result<Collected> {
    let Some(survey) = survey(db).await? else {
        anyhow::bail!("no object store (--artifacts): every artifact is in the database");
    };
    let mut collected = Collected {
        listed: survey.objects.len(),
        dangling: survey.dangling(),
        ..Collected::default()
    };
    for (key, age_secs) in &survey.objects {
        if survey.pointers.contains(key) {
            continue;
        } else if ((*age_secs).max(0) as u64) < min_age.as_secs() {
            collected.young += 1;
        } else {
            survey.store.delete(key).await?;
            collected.deleted += 1;
        }
    }
    Ok(collected)
}

/// The objects `db` points to, once each is checked present; an error naming the missing ones.
pub async fn check_pointers(db: &Db) -> anyhow::Result<usize> {
    let Some(survey) = survey(db).await? else {
        return Ok(0);
    };
    let missing = survey.dangling();
    anyhow::ensure!(
        missing.is_empty(),
        "{} artifacts are missing from {}: {missing:?}",
        missing.len(),
        survey.store.url()
    );
    Ok(survey.pointers.len())
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
