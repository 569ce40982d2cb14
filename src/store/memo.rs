//! What never changes once written, remembered by a process for the runs it trains: a job's
//! spec and fold assignment, a dataset's summary and values. A claimed run then reads none
//! again (a search's trials pause and resume hundreds of times, and reading a dataset's values
//! costs more than a short segment trains). Ids are never reused, so nothing goes stale; a job
//! or dataset deleted is never asked for again (neither can go while it has runs to train).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::dataset_cache::DatasetValues;
use crate::domain::dataset::DatasetSummary;
use crate::domain::job::JobSpec;

/// The most entries each map keeps: past it, the map is emptied (runs read again, nothing more).
const MAX_ENTRIES: usize = 1024;

/// The most bytes of dataset values kept: past it, the values are emptied. A larger dataset is
/// never kept (its runs read it each time, as without the memo).
const MAX_VALUE_BYTES: usize = 256 << 20;

/// A job's inputs that every one of its runs reads.
#[derive(Debug)]
pub struct JobInputs {
    pub spec: JobSpec,
    pub assignment: Vec<Vec<u32>>,
}

#[derive(Default)]
pub struct Memo {
    jobs: Bounded<Arc<JobInputs>>,
    datasets: Bounded<DatasetSummary>,
    values: Mutex<Values>,
}

/// Datasets' values by id, with their total size.
#[derive(Default)]
struct Values {
    by_id: HashMap<String, Arc<DatasetValues>>,
    bytes: usize,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("jobs", &self.jobs.lock().len())
            .field("datasets", &self.datasets.lock().len())
            .finish()
    }
}

impl Memo {
    pub fn job(&self, id: &str) -> Option<Arc<JobInputs>> {
        self.jobs.get(id)
    }

    pub fn keep_job(&self, id: &str, inputs: Arc<JobInputs>) {
        self.jobs.put(id, inputs);
    }

    pub fn dataset(&self, id: &str) -> Option<DatasetSummary> {
        self.datasets.get(id)
    }

    pub fn keep_dataset(&self, summary: &DatasetSummary) {
        self.datasets.put(&summary.id, summary.clone());
    }

    pub fn values(&self, id: &str) -> Option<Arc<DatasetValues>> {
        self.lock_values().by_id.get(id).cloned()
    }

    /// Keeps dataset `id`'s values unless they are larger than the bound; the values kept
    /// before are dropped when these would take them past it.
    pub fn keep_values(&self, id: &str, values: Arc<DatasetValues>) {
        let size = values.bytes();
        if size > MAX_VALUE_BYTES {
            return;
        }
        let mut kept = self.lock_values();
        if kept.bytes + size > MAX_VALUE_BYTES {
            *kept = Values::default();
        }
        if kept.by_id.insert(id.to_owned(), values).is_none() {
            kept.bytes += size;
        }
    }

    /// A poisoned lock only means a panic elsewhere mid-insert: the map is still a map.
    fn lock_values(&self) -> std::sync::MutexGuard<'_, Values> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Bounded<V>(Mutex<HashMap<String, V>>);

impl<V> Default for Bounded<V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> Bounded<V> {
    fn get(&self, id: &str) -> Option<V> {
        self.lock().get(id).cloned()
    }

    fn put(&self, id: &str, value: V) {
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(id.to_owned(), value);
    }

    /// A poisoned lock only means a panic elsewhere mid-insert: the map is still a map.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_starts_over_rather_than_growing() {
        let map = Bounded::default();
        for i in 0..MAX_ENTRIES {
            map.put(&i.to_string(), i);
        }
        assert_eq!(map.get("0"), Some(0));
        map.put("new", 7);
        assert_eq!(map.get("0"), None);
        assert_eq!(map.get("new"), Some(7));
        assert_eq!(map.lock().len(), 1);
    }

    fn numeric(rows: usize) -> Arc<DatasetValues> {
        use crate::domain::dataset::{Column, ColumnData, ColumnInfo, ColumnRole, ColumnType};
        let info = ColumnInfo {
            name: "x".into(),
            column_type: ColumnType::Numeric,
            role: ColumnRole::Feature,
            missing: 0,
            cardinality: None,
        };
        let data = ColumnData::Numeric(vec![0.5; rows]);
        Arc::new(DatasetValues {
            columns: vec![Column { info, data }],
            sequences: None,
        })
    }

    #[test]
    fn dataset_values_are_kept_within_their_byte_bound() {
        let memo = Memo::default();
        let quarter = MAX_VALUE_BYTES / 4 / 4;
        memo.keep_values("a", numeric(quarter));
        memo.keep_values("b", numeric(quarter));
        assert_eq!(memo.values("a").unwrap().columns[0].data.len(), quarter);
        assert!(memo.values("b").is_some());
        // Past the bound the earlier values go; the newest stays.
        memo.keep_values("c", numeric(3 * quarter));
        assert!(memo.values("a").is_none() && memo.values("b").is_none());
        assert!(memo.values("c").is_some());
        // Larger than the bound on its own: never kept, and the others stay.
        memo.keep_values("d", numeric(MAX_VALUE_BYTES));
        assert!(memo.values("d").is_none());
        assert!(memo.values("c").is_some());
    }
}
