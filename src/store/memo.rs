//! What never changes once written, remembered by a process for the runs it trains: a job's
//! spec and fold assignment, a dataset's summary. A claimed run then reads neither again (two
//! round trips of the dozen a short run costs). Ids are never reused, so nothing goes stale; a
//! job or dataset deleted is never asked for again (neither can go while it has runs to train).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::dataset::DatasetSummary;
use crate::domain::job::JobSpec;

/// The most entries each map keeps: past it, the map is emptied (runs read again, nothing more).
const MAX_ENTRIES: usize = 1024;

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
}
