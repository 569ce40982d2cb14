//! A dataset as stored and loaded for training: typed columns (f32 or dictionary codes), the
//! label's classes, and the summary `GET /v1/datasets/{id}` returns.

use serde::{Deserialize, Serialize};

/// Marks a missing value in a categorical column's codes.
pub const MISSING_CODE: u32 = u32::MAX;

/// How a column is typed: numbers stay numbers, anything else is a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Numeric,
    Categorical,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Numeric => "numeric",
            ColumnType::Categorical => "categorical",
        }
    }
}

/// What a column is for in the uploaded dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRole {
    Feature,
    Label,
}

/// A column's values. Numeric: f32 with NaN for missing. Categorical: codes into `categories`
/// with [`MISSING_CODE`] for missing.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Numeric(Vec<f32>),
    Categorical {
        codes: Vec<u32>,
        categories: Vec<String>,
    },
}

impl ColumnData {
    /// Rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.len(),
            ColumnData::Categorical { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values of `rows`, in that order.
    pub fn rows(&self, rows: &[usize]) -> ColumnData {
        match self {
            ColumnData::Numeric(v) => ColumnData::Numeric(rows.iter().map(|&r| v[r]).collect()),
            ColumnData::Categorical { codes, categories } => ColumnData::Categorical {
                codes: rows.iter().map(|&r| codes[r]).collect(),
                categories: categories.clone(),
            },
        }
    }
}

/// One column: its schema and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub info: ColumnInfo,
    pub data: ColumnData,
}

/// A column's schema, as listed in the dataset resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    /// The inferred type. The label column is stored as categories whatever this says.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    pub role: ColumnRole,
    /// Missing cells (empty, `NA`, `null`).
    pub missing: u64,
    /// Distinct non-missing values, for categorical columns.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cardinality: Option<u64>,
}

/// A class of the label column and how many rows have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCount {
    pub value: String,
    pub count: u64,
}

/// The format the dataset was uploaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadFormat {
    Csv,
    Json,
    Ndjson,
    /// The UEA/UCR `.ts` sequence format.
    Ts,
}

impl UploadFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadFormat::Csv => "csv",
            UploadFormat::Json => "json",
            UploadFormat::Ndjson => "ndjson",
            UploadFormat::Ts => "ts",
        }
    }
}

/// The dataset resource (everything but the values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub id: String,
    pub name: String,
    pub rows: u64,
    /// Every column, the label included, in upload order.
    pub columns: Vec<ColumnInfo>,
    /// Columns other than the label.
    pub feature_count: u64,
    pub label: String,
    /// Classes of the label, in the order training uses (numeric labels numerically).
    pub classes: Vec<ClassCount>,
    /// Largest class count over smallest.
    pub imbalance_ratio: f64,
    /// SHA-256 of the uploaded bytes, lowercase hex.
    pub sha256: String,
    /// Size of the uploaded body in bytes.
    pub bytes: u64,
    pub format: UploadFormat,
    pub created_at: String,
    /// `table` (rows of columns) or `sequence` (one sequence of steps per row, its label the
    /// one column).
    #[serde(default)]
    pub kind: DatasetKind,
    /// A sequence dataset's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<SequenceShape>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    #[default]
    Table,
    Sequence,
}

/// Channels and steps per sequence (min, median, max) of a sequence dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceShape {
    pub channels: u64,
    pub length_min: u64,
    pub length_median: u64,
    pub length_max: u64,
    pub total_steps: u64,
}

/// A sequence dataset's values: per sequence its number of steps, and every step's
/// `channels` values one after another (step-major, `NaN` missing).
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceValues {
    pub channels: usize,
    pub lengths: Vec<u32>,
    pub values: Vec<f32>,
}

impl SequenceValues {
    /// The lengths' minimum, median (the upper one of an even count), maximum and sum,
    /// counted by length rather than sorted: no copy of ten million lengths.
    pub fn shape(&self) -> SequenceShape {
        let longest = self.lengths.iter().copied().max().unwrap_or(0);
        let mut count = vec![0u64; longest as usize + 1];
        for &n in &self.lengths {
            count[n as usize] += 1;
        }
        let middle = (self.lengths.len() / 2) as u64;
        let (mut seen, mut median) = (0u64, 0u64);
        for (len, &c) in count.iter().enumerate() {
            if seen + c > middle {
                median = len as u64;
                break;
            }
            seen += c;
        }
        SequenceShape {
            channels: self.channels as u64,
            length_min: count.iter().position(|&c| c > 0).unwrap_or(0) as u64,
            length_median: median,
            length_max: u64::from(longest),
            total_steps: self.lengths.iter().map(|&n| u64::from(n)).sum(),
        }
    }
}

/// A parsed, validated upload, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDataset {
    pub rows: u64,
    pub columns: Vec<Column>,
    pub label_index: usize,
    pub classes: Vec<ClassCount>,
    pub sha256: String,
    pub bytes: u64,
    pub format: UploadFormat,
    /// A sequence upload's values (`columns` then holds only the label).
    pub sequences: Option<SequenceValues>,
}

impl ParsedDataset {
    /// Largest class over smallest (≥ 1).
    pub fn imbalance_ratio(&self) -> f64 {
        let max = self.classes.iter().map(|c| c.count).max().unwrap_or(1);
        let min = self
            .classes
            .iter()
            .map(|c| c.count)
            .min()
            .unwrap_or(1)
            .max(1);
        max as f64 / min as f64
    }

    /// The resource for this dataset once stored under `id`.
    pub fn summary(&self, id: String, name: String, created_at: String) -> DatasetSummary {
        DatasetSummary {
            id,
            name,
            rows: self.rows,
            columns: self.columns.iter().map(|c| c.info.clone()).collect(),
            feature_count: match &self.sequences {
                Some(s) => s.channels as u64,
                None => self.columns.len() as u64 - 1,
            },
            label: self.columns[self.label_index].info.name.clone(),
            classes: self.classes.clone(),
            imbalance_ratio: self.imbalance_ratio(),
            sha256: self.sha256.clone(),
            bytes: self.bytes,
            format: self.format,
            created_at,
            kind: match self.sequences {
                Some(_) => DatasetKind::Sequence,
                None => DatasetKind::Table,
            },
            sequence: self.sequences.as_ref().map(SequenceValues::shape),
        }
    }
}
