//! Sequences as they are read, kept flat whatever the upload format: each sequence's length,
//! every value step-major, each label's code. The limits are checked as each sequence arrives
//! (a body over `max_rows` is refused at the sequence that crosses it, not after the whole
//! parse), and the labels become classes exactly as a CSV label's do (`table::label_column`).

use super::error::IngestError;
use super::options::IngestOptions;
use super::table::{TextCol, label_column};
use crate::domain::dataset::{ParsedDataset, SequenceValues, UploadFormat};

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

impl TsLimits {
    /// The limits of an upload: steps per sequence, values (`max_cells`), channels
    /// (`max_columns`), sequences (`max_rows`).
    pub fn of(opts: &IngestOptions) -> Self {
        TsLimits {
            max_steps: usize::try_from(opts.max_sequence_steps).unwrap_or(usize::MAX),
            max_values: usize::try_from(opts.max_cells).unwrap_or(usize::MAX),
            max_channels: usize::try_from(opts.max_columns).unwrap_or(usize::MAX),
            max_sequences: usize::try_from(opts.max_rows).unwrap_or(usize::MAX),
        }
    }
}

pub(crate) struct SequenceBuilder {
    limits: TsLimits,
    max_classes: u64,
    channels: usize,
    lengths: Vec<u32>,
    values: Vec<f32>,
    labels: TextCol,
}

impl SequenceBuilder {
    pub(crate) fn new(opts: &IngestOptions) -> Self {
        Self {
            limits: TsLimits::of(opts),
            max_classes: opts.max_classes,
            channels: 0,
            lengths: Vec::new(),
            values: Vec::new(),
            labels: TextCol::default(),
        }
    }

    /// The channels of the sequences so far (0 before the first).
    pub(crate) fn channels(&self) -> usize {
        self.channels
    }

    /// Sequences so far.
    pub(crate) fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Adds one sequence of `channels` channels (`values` step-major). An error says which
    /// limit it crosses; the caller says where.
    pub(crate) fn push(
        &mut self,
        label: &str,
        channels: usize,
        values: &[f32],
    ) -> Result<(), IngestError> {
        let steps = values.len() / channels.max(1);
        if steps > self.limits.max_steps {
            return Err(IngestError::invalid(format!(
                "{steps} steps, more than max_sequence_steps ({})",
                self.limits.max_steps
            )));
        }
        if self.lengths.len() >= self.limits.max_sequences {
            return Err(IngestError::invalid(format!(
                "more than max_rows ({}) sequences",
                self.limits.max_sequences
            ))
            .field("rows"));
        }
        if self.values.len() + values.len() > self.limits.max_values {
            return Err(IngestError::invalid(format!(
                "more than max_cells ({}) values (steps × channels) in all",
                self.limits.max_values
            )));
        }
        self.channels = channels;
        self.lengths.push(steps as u32);
        self.values.extend_from_slice(values);
        self.labels.push(Some(label));
        Ok(())
    }

    /// The dataset: the labels its one column (`label`), the sequences beside. `declared`:
    /// classes a `.ts` header names, each of which must have sequences.
    pub(crate) fn finish(
        self,
        declared: Option<&[String]>,
        format: UploadFormat,
    ) -> Result<ParsedDataset, IngestError> {
        if self.lengths.is_empty() {
            return Err(IngestError::invalid("no sequences"));
        }
        if let Some(declared) = declared
            && let Some(absent) = declared
                .iter()
                .find(|c| !self.labels.categories.contains(c))
        {
            return Err(IngestError::invalid(format!(
                "class {absent:?} is declared by @classLabel but no sequence has it: a model \
                 would have a class it never saw"
            ))
            .field("label"));
        }
        let (label, classes) = label_column("label".into(), self.labels, self.max_classes)?;
        let sequences = SequenceValues {
            channels: self.channels,
            lengths: self.lengths,
            values: self.values,
        };
        Ok(ParsedDataset {
            rows: sequences.lengths.len() as u64,
            columns: vec![label],
            label_index: 0,
            classes,
            sha256: String::new(),
            bytes: 0,
            format,
            sequences: Some(sequences),
        })
    }
}
