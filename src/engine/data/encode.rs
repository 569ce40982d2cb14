//! Feature encoding fitted on a fold's training rows only: numeric columns are imputed with
//! the training mean and standardized with the training mean and (population) std, as
//! `SimpleImputer` + `StandardScaler`; categorical columns are one-hot encoded over the
//! training categories (a category unseen in training, or a missing one, encodes as zeros).
//! The encoding is stored with each model so prediction encodes inputs the same way.

use serde::{Deserialize, Serialize};

use super::sequences::SequenceScaling;
use super::table::Table;
use crate::domain::dataset::{Column, ColumnData, MISSING_CODE};

/// How one input column becomes model inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureEncoding {
    Numeric {
        name: String,
        mean: f64,
        std: f64,
    },
    Categorical {
        name: String,
        categories: Vec<String>,
    },
}

/// The encoding of all feature columns, in order; or of a sequence dataset's sequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    pub features: Vec<FeatureEncoding>,
    /// Sequences: their per-channel scaling (`features` is then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<SequenceScaling>,
}

impl Encoding {
    /// Fits on `rows` of `columns` (the feature columns of a dataset).
    pub fn fit(columns: &[&Column], rows: &[usize]) -> Self {
        let features = columns
            .iter()
            .map(|col| match &col.data {
                ColumnData::Numeric(values) => {
                    let present: Vec<f64> = rows
                        .iter()
                        .map(|&r| values[r])
                        .filter(|v| !v.is_nan())
                        .map(f64::from)
                        .collect();
                    let n = present.len().max(1) as f64;
                    let mean = present.iter().sum::<f64>() / n;
                    let var = present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                    // A constant column scales by 1, as StandardScaler does.
                    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                    FeatureEncoding::Numeric {
                        name: col.info.name.clone(),
                        mean,
                        std,
                    }
                }
                ColumnData::Categorical { codes, categories } => {
                    let mut seen = vec![false; categories.len()];
                    for &r in rows {
                        if codes[r] != MISSING_CODE {
                            seen[codes[r] as usize] = true;
                        }
                    }
                    let categories = categories
                        .iter()
                        .zip(seen)
                        .filter(|(_, s)| *s)
                        .map(|(c, _)| c.clone())
                        .collect();
                    FeatureEncoding::Categorical {
                        name: col.info.name.clone(),
                        categories,
                    }
                }
            })
            .collect();
        Self {
            features,
            sequence: None,
        }
    }

    /// Fits on `rows` of a table: its columns, or its sequences.
    pub fn fit_table(table: &Table<'_>, rows: &[usize]) -> Self {
        match &table.sequences {
            Some(seqs) => Self {
                features: Vec::new(),
                sequence: Some(SequenceScaling::fit(seqs, rows)),
            },
            None => Self::fit(&table.features, rows),
        }
    }

    /// `rows` of a table encoded (rows × width) and the width: its columns, or its sequences
    /// packed (`sequences` gives the layout).
    pub fn transform_table(&self, table: &Table<'_>, rows: &[usize]) -> (Vec<f32>, usize) {
        match (&self.sequence, &table.sequences) {
            (Some(scaling), Some(seqs)) => {
                (scaling.pack_rows(seqs, rows), scaling.width(seqs.max_len()))
            }
            _ => (self.transform(&table.features, rows), self.width()),
        }
    }

    /// Model inputs per row.
    pub fn width(&self) -> usize {
        self.features
            .iter()
            .map(|f| match f {
                FeatureEncoding::Numeric { .. } => 1,
                FeatureEncoding::Categorical { categories, .. } => categories.len(),
            })
            .sum()
    }

    /// Encodes `rows` of `columns` (same columns as fitted) into rows × width, row-major.
    pub fn transform(&self, columns: &[&Column], rows: &[usize]) -> Vec<f32> {
        let mut out = Vec::new();
        self.transform_into(columns, rows, &mut out);
        out
    }

    /// `transform`, appended to `out` (no second copy of a large matrix).
    pub fn transform_into(&self, columns: &[&Column], rows: &[usize], out: &mut Vec<f32>) {
        let width = self.width();
        let start = out.len();
        out.resize(start + rows.len() * width, 0.0);
        let out = &mut out[start..];
        let mut offset = 0;
        for (enc, col) in self.features.iter().zip(columns) {
            match (enc, &col.data) {
                (FeatureEncoding::Numeric { mean, std, .. }, ColumnData::Numeric(values)) => {
                    for (i, &r) in rows.iter().enumerate() {
                        let v = values[r];
                        // Missing → the training mean → 0 after standardizing.
                        out[i * width + offset] = if v.is_nan() {
                            0.0
                        } else {
                            ((f64::from(v) - mean) / std) as f32
                        };
                    }
                    offset += 1;
                }
                (
                    FeatureEncoding::Categorical {
                        categories: fitted, ..
                    },
                    ColumnData::Categorical { codes, categories },
                ) => {
                    // Dataset code → one-hot slot, or none for categories unseen in training.
                    let slot: Vec<Option<usize>> = categories
                        .iter()
                        .map(|c| fitted.iter().position(|f| f == c))
                        .collect();
                    for (i, &r) in rows.iter().enumerate() {
                        if codes[r] != MISSING_CODE
                            && let Some(s) = slot[codes[r] as usize]
                        {
                            out[i * width + offset + s] = 1.0;
                        }
                    }
                    offset += fitted.len();
                }
                _ => unreachable!("columns are encoded as they were fitted"),
            }
        }
    }
}

/// A raw input value for prediction, read as an upload reads its cells.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Missing,
    Number(f64),
    Text(String),
    /// Reads as a number but is not finite in f32 (`inf`, `1e39`): rejected, as at upload.
    NonFinite(String),
}

/// What encoding a row does with a category its training rows never had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unseen {
    /// An error naming the column (predict's default).
    #[default]
    Refuse,
    /// All zeros, as a fold's held-out rows encode it (`?unseen=zeros`, and the exported model).
    Zeros,
}

/// Why one value of a row cannot be encoded: the column and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub column: String,
    pub message: String,
}

impl FeatureEncoding {
    /// The column it encodes.
    pub fn name(&self) -> &str {
        match self {
            FeatureEncoding::Numeric { name, .. } | FeatureEncoding::Categorical { name, .. } => {
                name
            }
        }
    }
}

impl Encoding {
    /// An encoding as a checkpoint stores it (JSON): the one place it is parsed.
    pub fn from_stored(json: &str) -> Result<Self, serde_json::Error> {
        crate::domain::parses::encoding();
        serde_json::from_str(json)
    }

    /// Whether the model's feature `name` is numeric (`None`: not a feature of the model).
    pub fn is_numeric(&self, name: &str) -> Option<bool> {
        self.features.iter().find_map(|f| match f {
            FeatureEncoding::Numeric { name: n, .. } if n == name => Some(true),
            FeatureEncoding::Categorical { name: n, .. } if n == name => Some(false),
            _ => None,
        })
    }

    /// Encodes one input row given by column name; text in a numeric column, a value that
    /// encodes to a non-finite number or (`Unseen::Refuse`) an unknown category is an error
    /// naming the column.
    pub fn encode_row(
        &self,
        get: impl Fn(&str) -> RawValue,
        unseen: Unseen,
    ) -> Result<Vec<f32>, EncodeError> {
        let mut out = Vec::with_capacity(self.width());
        self.encode_row_into(|i| get(self.features[i].name()), unseen, &mut out)?;
        Ok(out)
    }

    /// As `encode_row`, each value given by its feature's index (no lookup by name per cell),
    /// the row appended to `out` (on an error, part of it may be).
    pub fn encode_row_into(
        &self,
        get: impl Fn(usize) -> RawValue,
        unseen: Unseen,
        out: &mut Vec<f32>,
    ) -> Result<(), EncodeError> {
        let fail = |name: &str, message: String| EncodeError {
            column: name.to_owned(),
            message,
        };
        for (i, f) in self.features.iter().enumerate() {
            match f {
                FeatureEncoding::Numeric { name, mean, std } => match get(i) {
                    RawValue::Missing => out.push(0.0),
                    RawValue::Number(v) => {
                        let x = ((v - mean) / std) as f32;
                        if !x.is_finite() {
                            return Err(fail(
                                name,
                                format!(
                                    "{v} is too far outside the training range (mean {mean}, \
                                     std {std}) to encode"
                                ),
                            ));
                        }
                        out.push(x)
                    }
                    RawValue::NonFinite(t) => {
                        return Err(fail(
                            name,
                            format!("{t:?} is not a finite number in f32 (as at upload)"),
                        ));
                    }
                    RawValue::Text(t) => {
                        return Err(fail(name, format!("the column is numeric, got {t:?}")));
                    }
                },
                FeatureEncoding::Categorical { name, categories } => {
                    let start = out.len();
                    out.resize(start + categories.len(), 0.0);
                    let text = match get(i) {
                        RawValue::Missing => continue,
                        RawValue::Number(v) => v.to_string(),
                        RawValue::Text(t) | RawValue::NonFinite(t) => t,
                    };
                    match categories.iter().position(|c| *c == text) {
                        Some(i) => out[start + i] = 1.0,
                        None if unseen == Unseen::Zeros => {}
                        None => {
                            return Err(fail(
                                name,
                                format!(
                                    "no category {text:?} in training (known: {})",
                                    categories
                                        .iter()
                                        .take(10)
                                        .map(|c| format!("{c:?}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The names of the encoded columns.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| match f {
            FeatureEncoding::Numeric { name, .. } | FeatureEncoding::Categorical { name, .. } => {
                name.as_str()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::dataset::{ColumnInfo, ColumnRole, ColumnType};

    fn numeric(values: Vec<f32>) -> Column {
        Column {
            info: ColumnInfo {
                name: "x".into(),
                column_type: ColumnType::Numeric,
                role: ColumnRole::Feature,
                missing: 0,
                cardinality: None,
            },
            data: ColumnData::Numeric(values),
        }
    }

    fn categorical(codes: Vec<u32>, categories: &[&str]) -> Column {
        Column {
            info: ColumnInfo {
                name: "c".into(),
                column_type: ColumnType::Categorical,
                role: ColumnRole::Feature,
                missing: 0,
                cardinality: None,
            },
            data: ColumnData::Categorical {
                codes,
                categories: categories.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    #[test]
    fn statistics_come_from_the_training_rows_only() {
        // Training rows 0..4 hold 1, 2, 3, NaN: mean 2, population std sqrt(2/3).
        let x = numeric(vec![1.0, 2.0, 3.0, f32::NAN, 100.0]);
        let enc = Encoding::fit(&[&x], &[0, 1, 2, 3]);
        assert_eq!(
            enc.features[0],
            FeatureEncoding::Numeric {
                name: "x".into(),
                mean: 2.0,
                std: (2.0f64 / 3.0).sqrt()
            }
        );
        let out = enc.transform(&[&x], &[0, 3, 4]);
        let s = (2.0f64 / 3.0).sqrt();
        assert_eq!(out, vec![(-1.0 / s) as f32, 0.0, (98.0 / s) as f32]);
    }

    #[test]
    fn categories_unseen_in_training_and_missing_values_encode_as_zeros() {
        let c = categorical(vec![0, 1, MISSING_CODE, 2], &["red", "blue", "green"]);
        let enc = Encoding::fit(&[&c], &[0, 1, 2]);
        assert_eq!(enc.width(), 2);
        assert_eq!(
            enc.transform(&[&c], &[0, 1, 2, 3]),
            vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
        );
    }
}
