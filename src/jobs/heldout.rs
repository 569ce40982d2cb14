//! A job's held-out predictions, read one run at a time: the leading variant's fold runs' sets
//! (what plots draw), and the out-of-fold groups the predictions list pages through.

use crate::store::Db;

use super::results::{self, Variant};
use crate::domain::heldout::HeldOut;
use crate::domain::job::{JobSpec, Strategy};
use crate::domain::results::RunKind;
use crate::store::{self, run_data::RunRow};

/// One fold run's held-out predictions.
pub struct HeldOutSet {
    pub fold: Option<u32>,
    pub repeat: Option<u32>,
    pub heldout: HeldOut,
}

impl HeldOutSet {
    /// `fold 2`, `fold 2, repeat 1`.
    pub fn name(&self) -> String {
        let fold = self
            .fold
            .map_or("final".to_owned(), |f| format!("fold {f}"));
        match self.repeat.filter(|&r| r > 0) {
            Some(r) => format!("{fold}, repeat {r}"),
            None => fold,
        }
    }
}

/// The leading variant's finished fold runs' held-out predictions (of one class count).
pub async fn leader_sets(
    pool: &Db,
    spec: &JobSpec,
    runs: &[RunRow],
) -> anyhow::Result<Vec<HeldOutSet>> {
    let leader = results::leader(spec, &results::fold_results(runs));
    let mut sets: Vec<HeldOutSet> = Vec::new();
    for run in runs {
        let pooled = run.kind == RunKind::Fold
            && run
                .result
                .as_ref()
                .is_some_and(|r| leader.is_none_or(|l| Variant::of(r) == l));
        if !pooled {
            continue;
        }
        let Some(heldout) = store::run_data::heldout(pool, &run.id).await? else {
            continue;
        };
        if sets
            .first()
            .is_some_and(|s| s.heldout.classes != heldout.classes)
        {
            continue;
        }
        sets.push(HeldOutSet {
            fold: run.fold,
            repeat: run.repeat,
            heldout,
        });
    }
    Ok(sets)
}

/// The fold runs of one strategy's repeat, whose held-out rows partition the dataset.
pub struct Group {
    /// The model variant (index into a `model` list; 0 for one model).
    pub variant: u32,
    pub strategy: Option<Strategy>,
    pub repeat: Option<u32>,
    /// (run id, fold)
    pub runs: Vec<(String, Option<u32>)>,
    /// Held-out rows in all, from the runs' results.
    pub len: u64,
}

/// One out-of-fold prediction.
pub struct Item {
    pub row: u32,
    pub fold: Option<u32>,
    pub label: u32,
    pub proba: Vec<f32>,
}

/// The job's groups in (variant, strategy in the spec's order, repeat) order: one per model
/// variant, strategy and repeat, so no two models' predictions of a row are mixed.
pub fn groups(spec: &JobSpec, runs: &[RunRow]) -> Vec<Group> {
    let listed = spec.imbalance.strategy.list();
    let order = |s: &Option<Strategy>| {
        s.and_then(|s| listed.iter().position(|&l| l == s))
            .unwrap_or(0)
    };
    let mut groups: Vec<Group> = Vec::new();
    for run in runs {
        // Out-of-fold predictions only (the final model's test-set predictions are not).
        let Some(result) = run.result.as_ref().filter(|_| run.kind == RunKind::Fold) else {
            continue;
        };
        let len: u64 = result.validation_class_counts.iter().sum();
        match groups.iter_mut().find(|g| {
            g.variant == run.variant && g.strategy == run.strategy && g.repeat == run.repeat
        }) {
            Some(g) => {
                g.runs.push((run.id.clone(), run.fold));
                g.len += len;
            }
            None => groups.push(Group {
                variant: run.variant,
                strategy: run.strategy,
                repeat: run.repeat,
                runs: vec![(run.id.clone(), run.fold)],
                len,
            }),
        }
    }
    groups.sort_by_key(|g| (g.variant, order(&g.strategy), g.repeat));
    groups
}

/// A group's predictions, by row.
pub async fn load(pool: &Db, group: &Group) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    for (run_id, fold) in &group.runs {
        let Some(h) = store::run_data::heldout(pool, run_id).await? else {
            continue;
        };
        items.extend((0..h.len()).map(|i| Item {
            row: h.rows[i],
            fold: *fold,
            label: h.labels[i],
            proba: h.row(i).to_vec(),
        }));
    }
    items.sort_by_key(|i| i.row);
    Ok(items)
}

/// The number of classes, from the first finished fold's held-out class counts (no blob read).
pub fn classes_of(runs: &[RunRow]) -> usize {
    runs.iter()
        .filter(|run| run.kind == RunKind::Fold)
        .find_map(|run| run.result.as_ref())
        .map_or(0, |r| r.validation_class_counts.len())
}
