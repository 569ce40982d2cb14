//! JSON and NDJSON records holding sequences (`?sequence=<field>`): each record has the label
//! field and the sequence field, a list of steps, each a number (one channel), a list of
//! channel values, or `null` (missing). Every problem names `rows[i].<field>` (and, in NDJSON,
//! its line); nothing is kept from an upload that has one.

use std::io::BufRead;

use serde_json::Value;

use super::error::{IngestError, read_error};
use super::options::IngestOptions;
use super::ts::{Sequence, SequenceSet, TsLimits, dataset_of};
use crate::domain::dataset::{ParsedDataset, UploadFormat};

/// Parses `body` (a JSON array of records, or NDJSON) whose `field` holds each sequence.
pub fn parse(
    body: impl BufRead,
    opts: &IngestOptions,
    field: &str,
    format: UploadFormat,
) -> Result<ParsedDataset, IngestError> {
    let records = records(body, format)?;
    let limits = TsLimits::of(opts);
    let mut set = SequenceSet::default();
    let mut total = 0usize;
    for (i, (line, record)) in records.iter().enumerate() {
        let at = |name: &str, e: IngestError| {
            let path = format!("rows[{i}].{name}");
            let located = IngestError {
                message: format!("{path}: {}", e.message),
                ..e
            }
            .field(path);
            match line {
                Some(l) => located.at(*l, None),
                None => located,
            }
        };
        let Value::Object(map) = record else {
            return Err(at("", IngestError::invalid("a record is an object")));
        };
        let label = match map.get(&opts.label) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(at(
                    &opts.label,
                    IngestError::invalid("every record needs its label: a string or a number"),
                ));
            }
        };
        let steps = match map.get(field) {
            Some(Value::Array(steps)) if !steps.is_empty() => steps,
            Some(Value::Array(_)) => {
                return Err(at(field, IngestError::invalid("an empty sequence")));
            }
            _ => {
                return Err(at(
                    field,
                    IngestError::invalid("a list of steps: numbers, or lists of channel values"),
                ));
            }
        };
        let seq = sequence(steps, set.channels).map_err(|e| at(field, e))?;
        let channels = seq.values.len() / seq.steps;
        if seq.steps > limits.max_steps {
            return Err(at(
                field,
                IngestError::invalid(format!(
                    "{} steps, more than max_sequence_steps ({})",
                    seq.steps, limits.max_steps
                )),
            ));
        }
        total += seq.values.len();
        if total > limits.max_values {
            return Err(at(
                field,
                IngestError::invalid(format!(
                    "more than max_cells ({}) values (steps × channels) in all",
                    limits.max_values
                )),
            ));
        }
        set.channels = channels;
        if !set.classes.contains(&label) {
            set.classes.push(label.clone());
        }
        set.labels.push(label);
        set.sequences.push(seq);
    }
    if set.sequences.is_empty() {
        return Err(IngestError::invalid("no records"));
    }
    dataset_of(set, opts, format)
}

/// The records, with their NDJSON line.
fn records(
    mut body: impl BufRead,
    format: UploadFormat,
) -> Result<Vec<(Option<u64>, Value)>, IngestError> {
    let malformed = |e: serde_json::Error, line: Option<u64>| {
        let located = IngestError::malformed(format!("malformed JSON: {e}"));
        located.at(line.unwrap_or(e.line() as u64), Some(e.column() as u64))
    };
    if format == UploadFormat::Ndjson {
        let mut out = Vec::new();
        for (i, line) in body.lines().enumerate() {
            let line = line.map_err(|e| read_error(&e))?;
            if line.trim().is_empty() {
                continue;
            }
            let n = i as u64 + 1;
            out.push((
                Some(n),
                serde_json::from_str(&line).map_err(|e| malformed(e, Some(n)))?,
            ));
        }
        return Ok(out);
    }
    let mut bytes = Vec::new();
    body.read_to_end(&mut bytes).map_err(|e| read_error(&e))?;
    match serde_json::from_slice(&bytes).map_err(|e| malformed(e, None))? {
        Value::Array(items) => Ok(items.into_iter().map(|v| (None, v)).collect()),
        _ => Err(IngestError::invalid(
            "sequences in JSON are an array of records, each with the label and the sequence",
        )),
    }
}

/// One sequence's steps; `channels` is the upload's so far (0 before the first).
pub(super) fn sequence(steps: &[Value], channels: usize) -> Result<Sequence, IngestError> {
    let value = |v: &Value, j: usize| -> Result<f32, IngestError> {
        match v {
            Value::Null => Ok(f32::NAN),
            Value::Number(n) => n
                .as_f64()
                .map(|x| x as f32)
                .filter(|x| x.is_finite())
                .ok_or_else(|| IngestError::invalid(format!("step {j}: {n} is not a finite f32"))),
            other => Err(IngestError::invalid(format!(
                "step {j}: {other} is not a number (or null for missing)"
            ))),
        }
    };
    let width = match &steps[0] {
        Value::Array(c) => c.len(),
        _ => 1,
    };
    if width == 0 || (channels > 0 && width != channels) {
        return Err(IngestError::invalid(format!(
            "{width} channels, where the upload has {}",
            channels.max(1)
        )));
    }
    let mut values = Vec::with_capacity(steps.len() * width);
    for (j, step) in steps.iter().enumerate() {
        match step {
            Value::Array(c) if c.len() == width => {
                for v in c {
                    values.push(value(v, j)?);
                }
            }
            Value::Array(c) => {
                return Err(IngestError::invalid(format!(
                    "ragged channels: step 0 has {width} values, step {j} has {}",
                    c.len()
                )));
            }
            v if width == 1 => values.push(value(v, j)?),
            _ => {
                return Err(IngestError::invalid(format!(
                    "step {j} is one value where the steps have {width} channels"
                )));
            }
        }
    }
    Ok(Sequence {
        steps: steps.len(),
        values,
    })
}
