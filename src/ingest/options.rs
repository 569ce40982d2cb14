//! What an upload is parsed as, and the limits enforced while parsing.

use crate::domain::dataset::UploadFormat;

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
    /// JSON / NDJSON: the field holding each record's sequence (a sequence dataset).
    pub sequence: Option<String>,
    /// Expected body size (`Content-Length`), used only to pre-size buffers.
    pub size_hint: Option<u64>,
}
