//! JSON and NDJSON records holding sequences (`?sequence=<field>`): each record has the label
//! field and the sequence field, a list of steps, each a number (one channel), a list of
//! channel values, or `null` (missing). Every problem names `rows[i].<field>` (and, in NDJSON,
//! its line); nothing is kept from an upload that has one. Read as a stream: a record at a time,
//! and a sequence's steps only up to `max_sequence_steps` (the rest is skipped unread).

use std::cell::Cell;
use std::io::BufRead;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::error::{IngestError, read_error};
use super::json_stream::{self, Sink};
use super::options::IngestOptions;
use super::sequences::SequenceBuilder;
use super::ts::Sequence;
use crate::domain::dataset::{ParsedDataset, UploadFormat};

/// Parses `body` (a JSON array of records, or NDJSON) whose `field` holds each sequence.
pub fn parse(
    body: impl BufRead,
    opts: &IngestOptions,
    field: &str,
    format: UploadFormat,
) -> Result<ParsedDataset, IngestError> {
    let mut sink = Records {
        builder: SequenceBuilder::new(opts),
        label: &opts.label,
        field,
        max_steps: usize::try_from(opts.max_sequence_steps).unwrap_or(usize::MAX),
        error: None,
    };
    if format == UploadFormat::Ndjson {
        lines(body, &mut sink)?;
    } else {
        json_stream::walk(body, &mut sink)?;
    }
    if sink.builder.len() == 0 {
        return Err(IngestError::invalid("no records"));
    }
    sink.builder.finish(None, format)
}

/// NDJSON: one record a line.
fn lines(mut body: impl BufRead, sink: &mut Records<'_>) -> Result<(), IngestError> {
    let (mut text, mut n, mut i) = (String::new(), 0u64, 0u64);
    loop {
        text.clear();
        if body.read_line(&mut text).map_err(|e| read_error(&e))? == 0 {
            return Ok(());
        }
        n += 1;
        if text.trim().is_empty() {
            continue;
        }
        let too_many = Cell::new(false);
        let mut de = serde_json::Deserializer::from_str(&text);
        let record = (&mut de)
            .deserialize_any(RecordVisitor {
                label: sink.label,
                field: sink.field,
                max_steps: sink.max_steps,
                too_many: &too_many,
            })
            .and_then(|r| de.end().map(|()| r));
        match record {
            Ok(record) => sink.add(i, Some(n), record)?,
            Err(_) if too_many.get() => return Err(sink.too_many_steps(i, Some(n))),
            Err(e) => {
                return Err(IngestError::malformed(format!("malformed JSON: {e}"))
                    .at(n, Some(e.column() as u64)));
            }
        }
        i += 1;
    }
}

/// Where the sequences go, and what the records hold.
struct Records<'a> {
    builder: SequenceBuilder,
    label: &'a str,
    field: &'a str,
    max_steps: usize,
    error: Option<IngestError>,
}

/// `e` as the problem of field `name` of record `i` (on NDJSON line `line`).
fn located(i: u64, line: Option<u64>, name: &str, e: IngestError) -> IngestError {
    let path = format!("rows[{i}].{name}");
    let located = IngestError {
        message: format!("{path}: {}", e.message),
        ..e
    }
    .field(path);
    match line {
        Some(l) => located.at(l, None),
        None => located,
    }
}

impl Records<'_> {
    fn too_many_steps(&self, i: u64, line: Option<u64>) -> IngestError {
        let e = IngestError::invalid(format!(
            "more steps than max_sequence_steps ({})",
            self.max_steps
        ));
        located(i, line, self.field, e)
    }

    /// Record `i` (on NDJSON line `line`).
    fn add(&mut self, i: u64, line: Option<u64>, record: Record) -> Result<(), IngestError> {
        let at = |name: &str, e: IngestError| located(i, line, name, e);
        if !record.object {
            return Err(at("", IngestError::invalid("a record is an object")));
        }
        let label = match record.label {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(at(
                    self.label,
                    IngestError::invalid("every record needs its label: a string or a number"),
                ));
            }
        };
        let steps = match record.steps {
            Some(Steps::List(steps)) if !steps.is_empty() => steps,
            Some(Steps::List(_)) => {
                return Err(at(self.field, IngestError::invalid("an empty sequence")));
            }
            _ => {
                return Err(at(
                    self.field,
                    IngestError::invalid("a list of steps: numbers, or lists of channel values"),
                ));
            }
        };
        let seq = sequence(&steps, self.builder.channels()).map_err(|e| at(self.field, e))?;
        let channels = seq.values.len() / seq.steps;
        self.builder
            .push(&label, channels, &seq.values)
            .map_err(|e| at(self.field, e))
    }
}

impl Sink for Records<'_> {
    fn item<'de, D: Deserializer<'de>>(&mut self, i: u64, d: D) -> Result<(), D::Error> {
        let too_many = Cell::new(false);
        let record = d.deserialize_any(RecordVisitor {
            label: self.label,
            field: self.field,
            max_steps: self.max_steps,
            too_many: &too_many,
        });
        let added = match record {
            Ok(record) => self.add(i, None, record),
            Err(_) if too_many.get() => Err(self.too_many_steps(i, None)),
            Err(e) => return Err(e),
        };
        added.map_err(|e| {
            self.error = Some(e);
            de::Error::custom("stopped")
        })
    }

    fn columns(&mut self, _: Value) -> Result<(), IngestError> {
        Err(self.wrong_shape())
    }

    fn has_columns(&self) -> bool {
        false
    }

    fn row<'de, D: Deserializer<'de>>(&mut self, _: u64, d: D) -> Result<(), D::Error> {
        IgnoredAny::deserialize(d).map(|_| ())
    }

    fn wrong_shape(&self) -> IngestError {
        IngestError::invalid(
            "sequences in JSON are an array of records (or {\"records\": [...]}), each with the label and the sequence",
        )
    }

    fn keep(&mut self, e: IngestError) {
        self.error.get_or_insert(e);
    }

    fn take_error(&mut self) -> Option<IngestError> {
        self.error.take()
    }
}

/// What one record holds: its label, its steps (unchecked), whether it was an object.
struct Record {
    object: bool,
    label: Option<Value>,
    steps: Option<Steps>,
}

enum Steps {
    List(Vec<Value>),
    /// Not a list.
    Other,
}

/// Reads a record, keeping only the label and the sequence fields; `too_many` is set when the
/// sequence has more than `max_steps` steps (the walk then stops).
struct RecordVisitor<'a> {
    label: &'a str,
    field: &'a str,
    max_steps: usize,
    too_many: &'a Cell<bool>,
}

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = Record;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut record = Record {
            object: true,
            label: None,
            steps: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == self.field {
                record.steps = Some(map.next_value_seed(StepsSeed(self.max_steps, self.too_many))?);
            } else if key == self.label {
                record.label = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(record)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Record, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(not_object())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Record, E> {
        Ok(not_object())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Record, E> {
        Ok(not_object())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Record, E> {
        Ok(not_object())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Record, E> {
        Ok(not_object())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Record, E> {
        Ok(not_object())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Record, E> {
        Ok(not_object())
    }
}

fn not_object() -> Record {
    Record {
        object: false,
        label: None,
        steps: None,
    }
}

/// A sequence's steps, at most `.0` of them; past that the walk stops and `.1` is set.
struct StepsSeed<'f>(usize, &'f Cell<bool>);

impl<'de> DeserializeSeed<'de> for StepsSeed<'_> {
    type Value = Steps;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Steps, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StepsSeed<'_> {
    type Value = Steps;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of steps")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Steps, A::Error> {
        let mut list = Vec::new();
        while let Some(step) = seq.next_element::<Value>()? {
            if list.len() == self.0 {
                // Stop here, not at the end of a list that may never end.
                self.1.set(true);
                return Err(de::Error::custom("more steps than max_sequence_steps"));
            }
            list.push(step);
        }
        Ok(Steps::List(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Steps, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Steps::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Steps, E> {
        Ok(Steps::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Steps, E> {
        Ok(Steps::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Steps, E> {
        Ok(Steps::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Steps, E> {
        Ok(Steps::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Steps, E> {
        Ok(Steps::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Steps, E> {
        Ok(Steps::Other)
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
