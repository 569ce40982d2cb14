//! A worker's copy of the datasets its runs read, on local disk: one safetensors file per
//! dataset, named by the sha256 of what it holds (`key`). A stored dataset never changes, so
//! an entry is never stale. Bounded in bytes: writing an entry removes the least recently read
//! ones beyond the bound. A file that does not check out (torn, corrupt, another version's) is
//! removed and the dataset read from the database again, so the cache can only cost a read.
//! Several processes may share the directory: files are written whole under a temporary name,
//! then renamed. Blocking file I/O: callers run it off the async runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};

use super::le::{from_le_bytes, le_bytes};
use crate::domain::dataset::{Column, ColumnData, DatasetSummary, SequenceValues};

const FORMAT: &str = "crossfold-dataset-v1";

/// A dataset's values as training reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetValues {
    pub columns: Vec<Column>,
    /// A sequence dataset's sequences.
    pub sequences: Option<SequenceValues>,
}

impl DatasetValues {
    /// About how many bytes the values take in memory (the numbers and category names).
    pub fn bytes(&self) -> usize {
        let columns = self.columns.iter().map(|c| match &c.data {
            ColumnData::Numeric(v) => 4 * v.len(),
            ColumnData::Categorical { codes, categories } => {
                4 * codes.len() + categories.iter().map(String::len).sum::<usize>()
            }
        });
        let sequences =
            (self.sequences.as_ref()).map_or(0, |s| 4 * (s.values.len() + s.lengths.len()));
        columns.sum::<usize>() + sequences
    }
}

/// The cache directory and its bound.
#[derive(Debug)]
pub struct DatasetCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// The key of a dataset's values: the sha256 of its upload and of how it was read (label,
/// format, kind, rows, columns), so the same bytes read with another label are another entry.
pub fn key(summary: &DatasetSummary) -> String {
    let read = serde_json::json!([
        summary.sha256,
        summary.label,
        summary.format,
        summary.kind,
        summary.rows,
        summary.columns,
    ]);
    hex::encode(Sha256::digest(read.to_string()))
}

impl DatasetCache {
    /// The cache in `dir` (created if missing), holding at most `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the dataset cache {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            max_bytes,
        })
    }

    fn path(&self, summary: &DatasetSummary) -> PathBuf {
        self.dir.join(format!("{}.safetensors", key(summary)))
    }

    /// The values of `summary`'s dataset, if cached and whole; marks the entry read.
    pub fn get(&self, summary: &DatasetSummary) -> Option<DatasetValues> {
        let path = self.path(summary);
        let bytes = std::fs::read(&path).ok()?;
        match decode(&bytes, summary) {
            Ok(values) => {
                // The modification time orders eviction: a read makes the entry the newest.
                let touched = std::fs::File::options().append(true).open(&path);
                let _ = touched.and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Some(values)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "removing an unreadable cached dataset");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Caches `values` of `summary`'s dataset (not if alone it exceeds the bound), then
    /// removes the least recently read entries beyond the bound.
    pub fn put(&self, summary: &DatasetSummary, values: &DatasetValues) -> anyhow::Result<()> {
        let tensors = tensors(values);
        let size: usize = tensors.iter().map(|(_, _, b)| b.len()).sum();
        if size as u64 > self.max_bytes {
            return Ok(());
        }
        let mut meta = metadata(values);
        let mut check = Sha256::new();
        tensors.iter().for_each(|(_, _, b)| check.update(b));
        meta.insert("check".into(), hex::encode(check.finalize()));
        let views = tensors
            .iter()
            .map(|(name, dtype, bytes)| {
                let shape = vec![bytes.len() / 4];
                TensorView::new(*dtype, shape, bytes).map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let file = tempfile::NamedTempFile::new_in(&self.dir)?;
        safetensors::serialize_to_file(views, Some(meta), file.path())?;
        file.persist(self.path(summary))?;
        self.evict()
    }

    /// Removes the least recently read entries until the rest fit the bound.
    fn evict(&self) -> anyhow::Result<()> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let cached = entry.path().extension().is_some_and(|e| e == "safetensors");
            if meta.is_file() && cached {
                entries.push((meta.modified()?, meta.len(), entry.path()));
            }
        }
        entries.sort();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            // Another process may have removed it already.
            let _ = std::fs::remove_file(path);
            total -= len;
        }
        Ok(())
    }
}

/// Each tensor of `values`: its name, type and little-endian bytes.
fn tensors(values: &DatasetValues) -> Vec<(String, Dtype, std::borrow::Cow<'_, [u8]>)> {
    let mut out = Vec::new();
    for (i, column) in values.columns.iter().enumerate() {
        out.push(match &column.data {
            ColumnData::Numeric(v) => (format!("column.{i}"), Dtype::F32, le_bytes(v)),
            ColumnData::Categorical { codes, .. } => {
                (format!("column.{i}"), Dtype::U32, le_bytes(codes))
            }
        });
    }
    if let Some(seq) = &values.sequences {
        out.push(("lengths".into(), Dtype::U32, le_bytes(&seq.lengths)));
        out.push(("values".into(), Dtype::F32, le_bytes(&seq.values)));
    }
    out
}

/// What the tensors do not hold: the format, categories and channels.
fn metadata(values: &DatasetValues) -> HashMap<String, String> {
    let mut meta = HashMap::from([("format".to_owned(), FORMAT.to_owned())]);
    for (i, column) in values.columns.iter().enumerate() {
        if let ColumnData::Categorical { categories, .. } = &column.data {
            let json = serde_json::to_string(categories).expect("strings always serialize");
            meta.insert(format!("categories.{i}"), json);
        }
    }
    if let Some(seq) = &values.sequences {
        meta.insert("channels".into(), seq.channels.to_string());
    }
    meta
}

/// The values in `bytes`, checked against their checksum and `summary`.
fn decode(bytes: &[u8], summary: &DatasetSummary) -> anyhow::Result<DatasetValues> {
    let file = SafeTensors::deserialize(bytes)?;
    let (_, header) = SafeTensors::read_metadata(bytes)?;
    let meta = header.metadata().clone().unwrap_or_default();
    anyhow::ensure!(
        meta.get("format").map(String::as_str) == Some(FORMAT),
        "not {FORMAT}"
    );
    let mut check = Sha256::new();
    let mut data = |name: &str| -> anyhow::Result<&[u8]> {
        let bytes = file.tensor(name)?.data();
        check.update(bytes);
        Ok(bytes)
    };
    let mut columns = Vec::with_capacity(summary.columns.len());
    for (i, info) in summary.columns.iter().enumerate() {
        let bytes = data(&format!("column.{i}"))?;
        let data = match meta.get(&format!("categories.{i}")) {
            Some(json) => ColumnData::Categorical {
                codes: from_le_bytes(bytes),
                categories: serde_json::from_str(json)?,
            },
            None => ColumnData::Numeric(from_le_bytes(bytes)),
        };
        anyhow::ensure!(data.len() as u64 == summary.rows, "column {i} is torn");
        let info = info.clone();
        columns.push(Column { info, data });
    }
    let sequences = match meta.get("channels") {
        Some(channels) => Some(SequenceValues {
            channels: channels.parse()?,
            lengths: from_le_bytes(data("lengths")?),
            values: from_le_bytes(data("values")?),
        }),
        None => None,
    };
    let expected = meta.get("check").map(String::as_str);
    anyhow::ensure!(
        expected == Some(&hex::encode(check.finalize())),
        "checksum differs"
    );
    anyhow::ensure!(
        file.len() == columns.len() + 2 * sequences.is_some() as usize,
        "extra tensors"
    );
    Ok(DatasetValues { columns, sequences })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestOptions, SequenceSource, parse_upload};

    /// A parsed upload's summary and values (`sequence`: long-format CSV sequences).
    fn dataset(csv: &str, label: &str, sequence: bool) -> (DatasetSummary, DatasetValues) {
        let opts = IngestOptions {
            sequence: sequence.then(|| SequenceSource::Long {
                id: "id".into(),
                order: "t".into(),
            }),
            ..IngestOptions::csv(label)
        };
        let parsed = parse_upload(csv.as_bytes(), &opts).unwrap();
        let summary = parsed.summary("ds_c".into(), "c".into(), "2026-12-05T00:00:00Z".into());
        let values = DatasetValues {
            columns: parsed.columns,
            sequences: parsed.sequences,
        };
        (summary, values)
    }

    fn table(rows: usize) -> String {
        let mut csv = String::from("x,colour,group,label\n");
        for i in 0..rows {
            let colour = ["red", "", "blue"][i % 3];
            let group = ["a", "b", "c"][i % 3];
            csv.push_str(&format!("{},{colour},{group},{}\n", i as f32 / 7.0, i % 2));
        }
        csv
    }

    #[test]
    fn a_cached_dataset_reads_back_equal_tables_and_sequences() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DatasetCache::open(dir.path(), 1 << 20).unwrap();
        let seq = "id,t,v,label\na,0,1.5,x\na,1,,x\nb,0,2,y\nb,1,3,y\nb,2,4,y\n";
        for (summary, values) in [
            dataset(&table(50), "label", false),
            dataset(seq, "label", true),
        ] {
            assert_eq!(cache.get(&summary), None, "nothing cached yet");
            cache.put(&summary, &values).unwrap();
            // Debug shows every value exactly, NaN (missing) included, which `==` is not.
            let got = cache.get(&summary).expect("cached");
            assert_eq!(format!("{got:?}"), format!("{values:?}"));
        }
        // The same bytes read with another label are another entry.
        let (other, _) = dataset(&table(50), "group", false);
        assert_eq!(cache.get(&other), None);
    }

    #[test]
    fn a_corrupt_entry_is_removed_and_missed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DatasetCache::open(dir.path(), 1 << 20).unwrap();
        let (summary, values) = dataset(&table(50), "label", false);
        cache.put(&summary, &values).unwrap();
        let path = cache.path(&summary);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            cache.get(&summary),
            None,
            "a flipped bit fails the checksum"
        );
        assert!(!path.exists(), "and the entry is gone");
        std::fs::write(&path, b"torn").unwrap();
        assert_eq!(cache.get(&summary), None);
        assert!(!path.exists());
    }

    #[test]
    fn the_least_recently_read_entries_go_beyond_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let (sets, sizes): (Vec<_>, Vec<_>) = (0..3)
            .map(|n| {
                let (summary, values) = dataset(&table(1000 + n), "label", false);
                let size = tensors(&values).iter().map(|t| t.2.len()).sum::<usize>();
                ((summary, values), size)
            })
            .unzip();
        // Room for two entries and their headers, not three.
        let bound = (sizes[0] + sizes[1] + sizes[2] / 2) as u64;
        let cache = DatasetCache::open(dir.path(), bound).unwrap();
        cache.put(&sets[0].0, &sets[0].1).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.put(&sets[1].0, &sets[1].1).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(cache.get(&sets[0].0).is_some(), "read: now the newest");
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.put(&sets[2].0, &sets[2].1).unwrap();
        assert!(
            cache.get(&sets[1].0).is_none(),
            "the least recently read went"
        );
        assert!(cache.get(&sets[0].0).is_some());
        assert!(cache.get(&sets[2].0).is_some());
        // A dataset larger than the whole bound is not cached.
        let small = DatasetCache::open(&dir.path().join("small"), 64).unwrap();
        small.put(&sets[0].0, &sets[0].1).unwrap();
        assert!(small.get(&sets[0].0).is_none());
    }
}
