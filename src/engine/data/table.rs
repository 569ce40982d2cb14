//! A dataset's columns as cross-validation sees them: feature columns and a class per row.

use super::sequences::Sequences;
use crate::domain::dataset::{Column, ColumnData, SequenceValues};
use crate::engine::EngineError;

/// A dataset ready for cross-validation: its feature columns and class index per row.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    pub features: Vec<&'a Column>,
    pub y: Vec<u32>,
    pub classes: usize,
    /// The class values, by class index.
    pub class_names: Vec<String>,
    /// A sequence dataset's sequences, one per row (`features` is then empty).
    pub sequences: Option<Sequences<'a>>,
}

impl<'a> Table<'a> {
    /// The table of `columns` with `label` as the class column (stored as class codes) and
    /// every other column as a feature.
    pub fn new(columns: &'a [Column], label: usize) -> Result<Self, EngineError> {
        let ColumnData::Categorical { codes, categories } = &columns[label].data else {
            return Err(EngineError::InvalidInput(
                "the label column is not stored as classes".into(),
            ));
        };
        let features = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != label)
            .map(|(_, c)| c)
            .collect();
        Ok(Self {
            features,
            y: codes.clone(),
            classes: categories.len(),
            class_names: categories.clone(),
            sequences: None,
        })
    }

    /// This table with a sequence per row as its features.
    pub fn with_sequences(mut self, values: &'a SequenceValues) -> Self {
        self.sequences = Some(Sequences::new(values));
        self
    }

    /// Rows per class among `rows`.
    pub fn class_counts(&self, rows: &[usize]) -> Vec<u64> {
        let mut counts = vec![0u64; self.classes];
        for &r in rows {
            counts[self.y[r] as usize] += 1;
        }
        counts
    }
}
