//! The UEA/UCR `.ts` format (sktime/aeon): `#` comment lines, `@` header directives
//! (`@problemName`, `@timeStamps`, `@missing`, `@univariate`, `@dimensions`, `@equalLength`,
//! `@seriesLength`, `@classLabel true <labels…>`), then after `@data` one sequence per line:
//! its channels separated by `:`, each a comma-separated list of values (`?` or `NaN` missing),
//! and the class label last. Every problem is reported with its 1-based line; nothing is kept
//! from a file that has one.

use std::io::BufRead;

use super::error::{IngestError, read_error};
use super::options::IngestOptions;
use crate::domain::dataset::{
    ClassCount, Column, ColumnData, ColumnInfo, ColumnRole, ColumnType, ParsedDataset,
    SequenceValues, UploadFormat,
};

/// The limits a `.ts` upload is held to.
#[derive(Debug, Clone, Copy)]
pub struct TsLimits {
    pub max_steps: usize,
    /// Values (steps × channels) in all.
    pub max_values: usize,
    pub max_channels: usize,
    /// Sequences in one body.
    pub max_sequences: usize,
}

/// One sequence: `steps` × `channels` values, step-major (`NaN` missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub steps: usize,
    pub values: Vec<f32>,
}

/// A parsed `.ts` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SequenceSet {
    pub name: Option<String>,
    pub channels: usize,
    pub sequences: Vec<Sequence>,
    /// Each sequence's label, as written.
    pub labels: Vec<String>,
    /// The labels `@classLabel` declares, in its order (else in order of appearance).
    pub classes: Vec<String>,
}

impl SequenceSet {
    /// Steps per sequence: the shortest, the median and the longest.
    pub fn lengths(&self) -> (usize, usize, usize) {
        let mut l: Vec<usize> = self.sequences.iter().map(|s| s.steps).collect();
        l.sort_unstable();
        match (l.first(), l.last()) {
            (Some(&a), Some(&b)) => (a, l[l.len() / 2], b),
            _ => (0, 0, 0),
        }
    }
}

fn bad(line: usize, message: impl Into<String>) -> IngestError {
    IngestError::invalid(message).at(line as u64, None)
}

/// Parses a whole `.ts` body.
pub fn parse(body: impl BufRead, limits: &TsLimits) -> Result<SequenceSet, IngestError> {
    let mut set = SequenceSet::default();
    let (mut declared, mut in_data, mut total) = (None::<Vec<String>>, false, 0usize);
    let mut dimensions = None::<usize>;
    for (i, line) in body.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| read_error(&e).at(n as u64, None))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            let Some(directive) = line.strip_prefix('@') else {
                return Err(bad(
                    n,
                    "a header line starts with @ (or # for a comment), before @data",
                ));
            };
            let mut words = directive.split_whitespace();
            let key = words.next().unwrap_or("").to_ascii_lowercase();
            let rest: Vec<&str> = words.collect();
            match key.as_str() {
                "data" => in_data = true,
                "problemname" => set.name = rest.first().map(|s| (*s).to_owned()),
                "timestamps" if rest.first().is_some_and(|v| v.eq_ignore_ascii_case("true")) => {
                    return Err(bad(
                        n,
                        "@timeStamps true is not supported: give the values only",
                    ));
                }
                "classlabel" => match rest.split_first() {
                    Some((flag, labels)) if flag.eq_ignore_ascii_case("true") => {
                        if labels.is_empty() {
                            return Err(bad(n, "@classLabel true names no labels"));
                        }
                        declared = Some(labels.iter().map(|s| (*s).to_owned()).collect());
                    }
                    _ => {
                        return Err(bad(
                            n,
                            "@classLabel false: the file has no labels to train on",
                        ));
                    }
                },
                "dimensions" => {
                    let d = rest.first().and_then(|v| v.parse::<usize>().ok());
                    dimensions = Some(d.filter(|&d| d > 0).ok_or_else(|| {
                        bad(n, "@dimensions is a number of channels, at least 1")
                    })?);
                }
                // The rest describe the data, which is checked as it is read.
                _ => {}
            }
            continue;
        }
        let (body, label) = line
            .rsplit_once(':')
            .ok_or_else(|| bad(n, "a sequence line ends with :<class label>"))?;
        let label = label.trim();
        if let Some(classes) = &declared
            && !classes.iter().any(|c| c == label)
        {
            return Err(bad(
                n,
                format!(
                    "class label {label:?} is not one @classLabel declares ({})",
                    classes.join(", ")
                ),
            ));
        }
        let channels: Vec<Vec<f32>> = body
            .split(':')
            .enumerate()
            .map(|(c, text)| channel(n, c, text))
            .collect::<Result<_, _>>()?;
        let steps = channels[0].len();
        if steps == 0 {
            return Err(bad(n, "an empty sequence"));
        }
        if let Some(c) = channels.iter().position(|ch| ch.len() != steps) {
            return Err(bad(
                n,
                format!(
                    "ragged channels: channel 0 has {steps} values, channel {c} has {}",
                    channels[c].len()
                ),
            ));
        }
        let want = dimensions.or((set.channels > 0).then_some(set.channels));
        if let Some(want) = want
            && channels.len() != want
        {
            return Err(bad(
                n,
                format!("{} channels, where the file has {want}", channels.len()),
            ));
        }
        if channels.len() > limits.max_channels {
            return Err(bad(
                n,
                format!(
                    "{} channels, more than the limit of {}",
                    channels.len(),
                    limits.max_channels
                ),
            ));
        }
        if steps > limits.max_steps {
            return Err(bad(
                n,
                format!(
                    "{steps} steps, more than max_sequence_steps ({})",
                    limits.max_steps
                ),
            ));
        }
        total += steps * channels.len();
        if total > limits.max_values {
            return Err(bad(
                n,
                format!(
                    "more than max_cells ({}) values (steps × channels) in all",
                    limits.max_values
                ),
            ));
        }
        set.channels = channels.len();
        let mut values = Vec::with_capacity(steps * channels.len());
        for t in 0..steps {
            values.extend(channels.iter().map(|ch| ch[t]));
        }
        set.sequences.push(Sequence { steps, values });
        if !set.classes.iter().any(|c| c == label) && declared.is_none() {
            set.classes.push(label.to_owned());
        }
        set.labels.push(label.to_owned());
    }
    if !in_data {
        return Err(IngestError::invalid("no @data line: not a .ts file"));
    }
    if set.sequences.is_empty() {
        return Err(IngestError::invalid("no sequences after @data"));
    }
    if let Some(classes) = declared {
        set.classes = classes;
    }
    Ok(set)
}

/// A `.ts` upload as a dataset: its labels the one column (`label`, classes ordered as a CSV
/// label's: numerically when every label is a number, else by text), its sequences beside.
pub fn parse_dataset(
    body: impl BufRead,
    opts: &IngestOptions,
) -> Result<ParsedDataset, IngestError> {
    let set = parse(body, &TsLimits::of(opts))?;
    dataset_of(set, opts, UploadFormat::Ts)
}

impl TsLimits {
    /// The limits of an upload: steps per sequence, values (`max_cells`), channels
    /// (`max_columns`).
    pub fn of(opts: &IngestOptions) -> Self {
        TsLimits {
            max_steps: usize::try_from(opts.max_sequence_steps).unwrap_or(usize::MAX),
            max_values: usize::try_from(opts.max_cells).unwrap_or(usize::MAX),
            max_channels: usize::try_from(opts.max_columns).unwrap_or(usize::MAX),
            max_sequences: usize::try_from(opts.max_rows).unwrap_or(usize::MAX),
        }
    }
}

/// Parsed sequences as a dataset: the labels the one column, the values beside.
pub fn dataset_of(
    set: SequenceSet,
    opts: &IngestOptions,
    format: UploadFormat,
) -> Result<ParsedDataset, IngestError> {
    let mut classes = set.classes.clone();
    let numeric: Option<Vec<f64>> = classes.iter().map(|c| c.parse::<f64>().ok()).collect();
    match &numeric {
        Some(_) => classes.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        }),
        None => classes.sort(),
    }
    if classes.len() < 2 {
        return Err(IngestError::invalid(format!(
            "the sequences have a single class ({}); a classifier needs at least two",
            classes.first().map(String::as_str).unwrap_or("")
        ))
        .field("label"));
    }
    if classes.len() as u64 > opts.max_classes {
        return Err(IngestError::invalid(format!(
            "{} classes, more than the limit of {} (max_classes)",
            classes.len(),
            opts.max_classes
        ))
        .field("label"));
    }
    if set.sequences.len() as u64 > opts.max_rows {
        return Err(IngestError::invalid(format!(
            "{} sequences, more than max_rows ({})",
            set.sequences.len(),
            opts.max_rows
        )));
    }
    let mut counts = vec![0u64; classes.len()];
    let codes: Vec<u32> = set
        .labels
        .iter()
        .map(|l| {
            let k = classes.iter().position(|c| c == l).unwrap_or(0);
            counts[k] += 1;
            k as u32
        })
        .collect();
    let label = Column {
        info: ColumnInfo {
            name: "label".into(),
            column_type: if numeric.is_some() {
                ColumnType::Numeric
            } else {
                ColumnType::Categorical
            },
            role: ColumnRole::Label,
            missing: 0,
            cardinality: Some(classes.len() as u64),
        },
        data: ColumnData::Categorical {
            codes,
            categories: classes.clone(),
        },
    };
    let sequences = SequenceValues {
        channels: set.channels,
        lengths: set.sequences.iter().map(|s| s.steps as u32).collect(),
        values: set.sequences.into_iter().flat_map(|s| s.values).collect(),
    };
    Ok(ParsedDataset {
        rows: sequences.lengths.len() as u64,
        columns: vec![label],
        label_index: 0,
        classes: classes
            .into_iter()
            .zip(counts)
            .map(|(value, count)| ClassCount { value, count })
            .collect(),
        sha256: String::new(),
        bytes: 0,
        format,
        sequences: Some(sequences),
    })
}

/// One channel's comma-separated values (`?` or `NaN` missing; infinities refused).
fn channel(line: usize, c: usize, text: &str) -> Result<Vec<f32>, IngestError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|v| {
            let v = v.trim();
            if v == "?" || v.eq_ignore_ascii_case("nan") {
                return Ok(f32::NAN);
            }
            match v.parse::<f32>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(bad(
                    line,
                    format!("channel {c}: {v:?} is not a number (or ? for missing)"),
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
