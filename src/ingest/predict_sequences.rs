//! Sequences to predict: a `.ts` file (its labels, when it has them, are kept to score the
//! predictions against) or JSON `{"sequences": [<steps>, …]}`, each a list of steps as an
//! upload's sequence field holds them. Problems name the line or `sequences[i]`; the channels
//! must be the model's.

use serde_json::Value;

use super::error::IngestError;
use super::sequence_json::sequence;
use super::ts::{self, Sequence, TsLimits};

/// Parsed sequences, and their labels when the input carried them.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictSequences {
    pub sequences: Vec<Sequence>,
    pub labels: Option<Vec<String>>,
}

impl PredictSequences {
    /// A `.ts` body.
    pub fn from_ts(body: &[u8], limits: &TsLimits, channels: usize) -> Result<Self, IngestError> {
        let set = ts::parse(body, limits)?;
        if set.channels != channels {
            return Err(IngestError::invalid(format!(
                "the sequences have {} channels; the model reads {channels}",
                set.channels
            )));
        }
        if set.sequences.len() > limits.max_sequences {
            return Err(too_many(limits.max_sequences));
        }
        Ok(Self {
            sequences: set.sequences,
            labels: Some(set.labels),
        })
    }

    /// `{"sequences": [...]}`.
    pub fn from_json(
        body: &Value,
        limits: &TsLimits,
        channels: usize,
    ) -> Result<Self, IngestError> {
        let Some(items) = body.get("sequences").and_then(Value::as_array) else {
            return Err(IngestError::invalid(
                "a JSON body {\"sequences\": [...]}: each a list of steps (numbers, or lists of \
                 channel values)",
            )
            .field("sequences"));
        };
        if items.is_empty() {
            return Err(IngestError::invalid("at least one sequence to predict").field("sequences"));
        }
        if items.len() > limits.max_sequences {
            return Err(too_many(limits.max_sequences).field("sequences"));
        }
        let (mut sequences, mut total) = (Vec::with_capacity(items.len()), 0usize);
        for (i, item) in items.iter().enumerate() {
            let at = |e: IngestError| {
                let path = format!("sequences[{i}]");
                IngestError {
                    message: format!("{path}: {}", e.message),
                    ..e
                }
                .field(path)
            };
            let steps = match item {
                Value::Array(steps) if !steps.is_empty() => steps,
                Value::Array(_) => return Err(at(IngestError::invalid("an empty sequence"))),
                _ => {
                    return Err(at(IngestError::invalid(
                        "a list of steps: numbers, or lists of channel values",
                    )));
                }
            };
            let seq = sequence(steps, channels).map_err(at)?;
            if seq.values.len() != seq.steps * channels {
                return Err(at(IngestError::invalid(format!(
                    "{} channels; the model reads {channels}",
                    seq.values.len() / seq.steps
                ))));
            }
            if seq.steps > limits.max_steps {
                return Err(at(IngestError::invalid(format!(
                    "{} steps, more than max_sequence_steps ({})",
                    seq.steps, limits.max_steps
                ))));
            }
            total += seq.values.len();
            if total > limits.max_values {
                return Err(at(IngestError::invalid(format!(
                    "more than max_cells ({}) values (steps × channels) in all",
                    limits.max_values
                ))));
            }
            sequences.push(seq);
        }
        Ok(Self {
            sequences,
            labels: None,
        })
    }
}

fn too_many(max: usize) -> IngestError {
    IngestError::invalid(format!(
        "more than max_predict_rows ({max}) sequences in one request"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TsLimits {
        TsLimits {
            max_steps: 4,
            max_values: 100,
            max_channels: 10,
            max_sequences: 10,
        }
    }

    #[test]
    fn json_sequences_are_checked_against_the_models_channels_and_the_limits() {
        let ok = serde_json::json!({"sequences": [[[1, 2], [3, null]], [[5, 6]]]});
        let p = PredictSequences::from_json(&ok, &limits(), 2).unwrap();
        assert_eq!(p.sequences[0].steps, 2);
        assert!(p.sequences[0].values[3].is_nan());
        let cases = [
            (
                serde_json::json!({"sequences": [[1, 2], [1, 2, 3]]}),
                2,
                "sequences[0]",
            ),
            (
                serde_json::json!({"sequences": [[[1, 2]], []]}),
                2,
                "sequences[1]",
            ),
            (
                serde_json::json!({"sequences": [[1, 2, 3, 4, 5]]}),
                1,
                "sequences[0]",
            ),
            (
                serde_json::json!({"sequences": [[[1, 2], [3]]]}),
                2,
                "sequences[0]",
            ),
            (serde_json::json!({"rows": []}), 1, "sequences"),
        ];
        for (body, channels, field) in cases {
            let e = PredictSequences::from_json(&body, &limits(), channels).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{body}: {}", e.message);
        }
    }

    #[test]
    fn a_ts_file_keeps_its_labels_and_must_have_the_models_channels() {
        let body =
            b"@problemName t\n@univariate true\n@classLabel true a b\n@data\n1,2,3:a\n4,5:b\n";
        let p = PredictSequences::from_ts(body, &limits(), 1).unwrap();
        assert_eq!(p.labels, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(p.sequences[1].values, vec![4.0, 5.0]);
        let e = PredictSequences::from_ts(body, &limits(), 3).unwrap_err();
        assert!(e.message.contains("3"), "{}", e.message);
    }
}
