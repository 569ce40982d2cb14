//! The UEA/UCR `.ts` format (sktime/aeon): `#` comment lines, `@` header directives
//! (`@problemName`, `@timeStamps`, `@missing`, `@univariate`, `@dimensions`, `@equalLength`,
//! `@seriesLength`, `@classLabel true <labels…>`), then after `@data` one sequence per line:
//! its channels separated by `:`, each a comma-separated list of values (`?` or `NaN` missing),
//! and the class label last. Every problem is reported with its 1-based line; nothing is kept
//! from a file that has one.

use std::io::BufRead;

use super::error::{IngestError, read_error};
use super::options::IngestOptions;
use super::sequences::SequenceBuilder;
pub use super::sequences::TsLimits;
use crate::domain::dataset::{ParsedDataset, UploadFormat};

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

/// A `.ts` file's header, as read before `@data`.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub name: Option<String>,
    /// The labels `@classLabel` declares, in its order.
    pub declared: Option<Vec<String>>,
}

/// Reads a `.ts` body, calling `each(line, label, channels, values)` for every sequence as it
/// is read (`values` step-major); returns the header.
pub fn read(
    body: impl BufRead,
    limits: &TsLimits,
    mut each: impl FnMut(usize, &str, usize, &[f32]) -> Result<(), IngestError>,
) -> Result<Header, IngestError> {
    let mut header = Header::default();
    let (mut in_data, mut dimensions, mut channels_seen) = (false, None::<usize>, 0usize);
    let mut values = Vec::new();
    for (i, line) in body.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| read_error(&e).at(n as u64, None))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            in_data = directive(n, line, &mut header, &mut dimensions)?;
            continue;
        }
        let (body, label) = line
            .rsplit_once(':')
            .ok_or_else(|| bad(n, "a sequence line ends with :<class label>"))?;
        let label = label.trim();
        if let Some(classes) = &header.declared
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
        let want = dimensions.or((channels_seen > 0).then_some(channels_seen));
        channels_seen = sequence_values(n, body, want, limits, &mut values)?;
        each(n, label, channels_seen, &values).map_err(|e| e.at(n as u64, None))?;
    }
    if !in_data {
        return Err(IngestError::invalid("no @data line: not a .ts file"));
    }
    Ok(header)
}

/// One header line; `true` at `@data`.
fn directive(
    n: usize,
    line: &str,
    header: &mut Header,
    dimensions: &mut Option<usize>,
) -> Result<bool, IngestError> {
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
        "data" => return Ok(true),
        "problemname" => header.name = rest.first().map(|s| (*s).to_owned()),
        "timestamps" if rest.first().is_some_and(|v| v.eq_ignore_ascii_case("true")) => {
            return Err(bad(
                n,
                "@timeStamps true is not supported: give the values only",
            ));
        }
        "classlabel" => header.declared = Some(declared_labels(n, &rest)?),
        "dimensions" => {
            let d = rest.first().and_then(|v| v.parse::<usize>().ok());
            *dimensions = Some(
                d.filter(|&d| d > 0)
                    .ok_or_else(|| bad(n, "@dimensions is a number of channels, at least 1"))?,
            );
        }
        // The rest describe the data, which is checked as it is read.
        _ => {}
    }
    Ok(false)
}

/// `@classLabel true <labels…>`: the labels, each once.
fn declared_labels(n: usize, rest: &[&str]) -> Result<Vec<String>, IngestError> {
    match rest.split_first() {
        Some((flag, labels)) if flag.eq_ignore_ascii_case("true") => {
            if labels.is_empty() {
                return Err(bad(n, "@classLabel true names no labels"));
            }
            let mut out: Vec<String> = Vec::with_capacity(labels.len());
            for l in labels {
                if out.iter().any(|o| o == l) {
                    return Err(bad(n, format!("@classLabel names {l:?} twice")));
                }
                out.push((*l).to_owned());
            }
            Ok(out)
        }
        _ => Err(bad(
            n,
            "@classLabel false: the file has no labels to train on",
        )),
    }
}

/// A sequence line's values (before its label) into `values`, step-major; returns its channels.
fn sequence_values(
    n: usize,
    body: &str,
    want: Option<usize>,
    limits: &TsLimits,
    values: &mut Vec<f32>,
) -> Result<usize, IngestError> {
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
    values.clear();
    for t in 0..steps {
        values.extend(channels.iter().map(|ch| ch[t]));
    }
    Ok(channels.len())
}

/// Parses a whole `.ts` body into sequences (what predict reads).
pub fn parse(body: impl BufRead, limits: &TsLimits) -> Result<SequenceSet, IngestError> {
    let mut set = SequenceSet::default();
    let mut total = 0usize;
    let header = read(body, limits, |_, label, channels, values| {
        total += values.len();
        if total > limits.max_values {
            return Err(IngestError::invalid(format!(
                "more than max_cells ({}) values (steps × channels) in all",
                limits.max_values
            )));
        }
        if set.sequences.len() >= limits.max_sequences {
            return Err(IngestError::invalid(format!(
                "more than {} sequences",
                limits.max_sequences
            )));
        }
        set.channels = channels;
        set.sequences.push(Sequence {
            steps: values.len() / channels,
            values: values.to_vec(),
        });
        if !set.classes.iter().any(|c| c == label) {
            set.classes.push(label.to_owned());
        }
        set.labels.push(label.to_owned());
        Ok(())
    })?;
    if set.sequences.is_empty() {
        return Err(IngestError::invalid("no sequences after @data"));
    }
    set.name = header.name;
    if let Some(classes) = header.declared {
        set.classes = classes;
    }
    Ok(set)
}

/// A `.ts` upload as a dataset, read straight into flat storage (`SequenceBuilder`).
pub fn parse_dataset(
    body: impl BufRead,
    opts: &IngestOptions,
) -> Result<ParsedDataset, IngestError> {
    let mut builder = SequenceBuilder::new(opts);
    let header = read(body, &TsLimits::of(opts), |_, label, channels, values| {
        builder.push(label, channels, values)
    })?;
    if builder.len() == 0 {
        return Err(IngestError::invalid("no sequences after @data"));
    }
    builder.finish(header.declared.as_deref(), UploadFormat::Ts)
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
