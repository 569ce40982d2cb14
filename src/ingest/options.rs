//! What an upload is parsed as, and the limits enforced while parsing.

use crate::domain::dataset::{ColumnType, UploadFormat};

/// What to parse and the limits to enforce while parsing.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: UploadFormat,
    /// Name of the label column.
    pub label: String,
    /// CSV field delimiter.
    pub delimiter: u8,
    pub max_rows: u64,
    pub max_columns: u64,
    pub max_cells: u64,
    pub max_classes: u64,
    /// Most steps of one sequence (`.ts` uploads).
    pub max_sequence_steps: u64,
    /// Where a sequence dataset's sequences are (`None`: a table).
    pub sequence: Option<SequenceSource>,
    /// Expected body size (`Content-Length`), used only to pre-size buffers.
    pub size_hint: Option<u64>,
    /// Columns read as text whatever they hold (long-format CSV's ids and order, kept exact).
    pub text_columns: Vec<String>,
    /// Column types the uploader declared (`?types=`): a declared column is read as its type,
    /// never inferred (a cell that is not a number in a numeric one is its 422).
    pub types: Vec<(String, ColumnType)>,
}

impl IngestOptions {
    /// A comma-separated CSV table with `label` as its label, under generous limits (a
    /// million rows, a thousand columns, ten classes): what tests and tools parse with.
    pub fn csv(label: &str) -> Self {
        Self {
            format: UploadFormat::Csv,
            label: label.into(),
            delimiter: b',',
            max_rows: 1_000_000,
            max_columns: 1_000,
            max_cells: 100_000_000,
            max_classes: 10,
            max_sequence_steps: 10_000,
            sequence: None,
            size_hint: None,
            text_columns: Vec::new(),
            types: Vec::new(),
        }
    }
}

/// Where an upload's sequences are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSource {
    /// JSON / NDJSON: the field holding each record's sequence (`?sequence=`).
    Field(String),
    /// Long-format CSV, one row per step (`?sequence_id=&order=`): the column naming each
    /// row's sequence, and the column ordering its steps.
    Long { id: String, order: String },
}
