//! The UEA/UCR `.ts` format (sktime/aeon): `#` comment lines, `@` header directives
//! (`@problemName`, `@timeStamps`, `@missing`, `@univariate`, `@dimensions`, `@equalLength`,
//! `@seriesLength`, `@classLabel true <labels…>`), then after `@data` one sequence per line:
//! its channels separated by `:`, each a comma-separated list of values (`?` or `NaN` missing),
//! and the class label last. Every problem is reported with its 1-based line; nothing is kept
//! from a file that has one.

use std::io::BufRead;

use super::error::{IngestError, read_error};

/// The limits a `.ts` upload is held to.
#[derive(Debug, Clone, Copy)]
pub struct TsLimits {
    pub max_steps: usize,
    pub max_total_steps: usize,
    pub max_channels: usize,
}

/// One sequence: `steps` × `channels` values, step-major (`NaN` missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub steps: usize,
    pub values: Vec<f32>,
}

/// A parsed `.ts` file.
#[derive(Debug, Clone, PartialEq)]
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
    let mut set = SequenceSet {
        name: None,
        channels: 0,
        sequences: Vec::new(),
        labels: Vec::new(),
        classes: Vec::new(),
    };
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
        total += steps;
        if total > limits.max_total_steps {
            return Err(bad(
                n,
                format!(
                    "more than max_total_steps ({}) steps in all",
                    limits.max_total_steps
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
mod tests {
    use super::*;

    const LIMITS: TsLimits = TsLimits {
        max_steps: 100,
        max_total_steps: 1000,
        max_channels: 10,
    };

    fn parse_str(s: &str) -> Result<SequenceSet, IngestError> {
        parse(s.as_bytes(), &LIMITS)
    }

    #[test]
    fn channels_steps_missing_values_and_labels_read_as_written() {
        let set = parse_str(
            "# a comment\n@problemName Toy\n@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n\
             1,2,3:4,?,6:b\n7,8:9,10:a\n",
        )
        .unwrap();
        assert_eq!(set.name.as_deref(), Some("Toy"));
        assert_eq!(set.channels, 2);
        assert_eq!(set.classes, ["a", "b"]);
        assert_eq!(set.labels, ["b", "a"]);
        assert_eq!(set.sequences[0].steps, 3);
        let v = &set.sequences[0].values;
        // Step-major: (1, 4), (2, missing), (3, 6).
        assert_eq!((v[0], v[1], v[2], v[4], v[5]), (1.0, 4.0, 2.0, 3.0, 6.0));
        assert!(v[3].is_nan());
        assert_eq!(set.lengths(), (2, 3, 3));
    }

    #[test]
    fn each_bad_input_names_its_line() {
        let head = "@classLabel true a b\n@data\n";
        let cases = [
            (format!("{head}1,2:3:a\n"), 3, "ragged"),
            (format!("{head}1,2:c\n"), 3, "not one @classLabel declares"),
            (format!("{head}1,2:a\n:a\n"), 4, "empty sequence"),
            (format!("{head}1,x:a\n"), 3, "not a number"),
            (
                format!("{head}1,2:a\n1,2:3,4:a\n"),
                4,
                "channels, where the file has 1",
            ),
            (
                format!("{head}{}:a\n", vec!["1"; 101].join(",")),
                3,
                "max_sequence_steps",
            ),
            ("@timeStamps true\n@data\n".to_owned(), 1, "timeStamps"),
            ("1,2:a\n".to_owned(), 1, "header line"),
        ];
        for (text, line, says) in cases {
            let e = parse_str(&text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(e.message.contains(says), "{text:?}: {e}");
        }
        assert!(
            parse_str("@data\n")
                .unwrap_err()
                .message
                .contains("no sequences")
        );
        assert!(
            parse_str("# only\n")
                .unwrap_err()
                .message
                .contains("no @data")
        );
    }

    #[test]
    fn the_shared_archive_files_parse_with_their_documented_shapes() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sequences");
        let read = |name: &str| {
            let f = std::fs::File::open(format!("{dir}/{name}")).unwrap();
            let limits = TsLimits {
                max_steps: 10_000,
                max_total_steps: 10_000_000,
                max_channels: 100,
            };
            parse(std::io::BufReader::new(f), &limits).unwrap()
        };
        let gun = read("GunPoint_TRAIN.ts");
        assert_eq!(
            (gun.sequences.len(), gun.channels, gun.lengths()),
            (50, 1, (150, 150, 150))
        );
        assert_eq!(gun.classes, ["1", "2"]);
        let vowels = read("JapaneseVowels_TRAIN.ts");
        assert_eq!(
            (
                vowels.sequences.len(),
                vowels.channels,
                vowels.classes.len()
            ),
            (270, 12, 9)
        );
        let (min, _, max) = vowels.lengths();
        assert_eq!((min, max), (7, 26));
    }
}
