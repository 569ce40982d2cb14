//! Walking a JSON document element by element with serde's visitors over a reader, so an
//! upload costs one record or row at a time, never a tree of the whole body (a
//! `serde_json::Value` of a table takes 25 to 60 times its text).

use std::io::{self, Read};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::error::{IngestError, read_error};

/// Visitor methods for the scalars (strings, numbers, booleans, null), each refused with
/// `$err(self)`.
macro_rules! refuse_scalars {
    ($out:ty, $err:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$out, E> {
            Err($err(self))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$out, E> {
            Err($err(self))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$out, E> {
            Err($err(self))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$out, E> {
            Err($err(self))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$out, E> {
            Err($err(self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$out, E> {
            Err($err(self))
        }
    };
}

/// What a walk hands over, in document order. A callback that fails keeps its error (for
/// `take_error`) and returns any `D::Error`, which stops the walk.
pub(crate) trait Sink {
    /// Element `i` of a top-level array (a record), read from `d`.
    fn item<'de, D: Deserializer<'de>>(&mut self, i: u64, d: D) -> Result<(), D::Error>;
    /// The `columns` of a `{"columns": [...], "rows": [...]}` document.
    fn columns(&mut self, names: Value) -> Result<(), IngestError>;
    /// Whether the columns are known, so rows can be read as they come.
    fn has_columns(&self) -> bool;
    /// Row `i` of a columnar document, read from `d`.
    fn row<'de, D: Deserializer<'de>>(&mut self, i: u64, d: D) -> Result<(), D::Error>;
    /// The error for a document that is neither an array nor an object.
    fn wrong_shape(&self) -> IngestError;
    /// Keeps the error the walk stops with (a callback's own, or the walker's).
    fn keep(&mut self, e: IngestError);
    /// The error the walk stopped with.
    fn take_error(&mut self) -> Option<IngestError>;
}

/// What the document was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walked {
    Array,
    /// A columnar document; `rows_skipped` when its rows came before its columns (they were
    /// skipped, and need another walk).
    Columnar {
        rows_skipped: bool,
    },
}

/// Walks the document in `body`, calling `sink` for each element.
pub(crate) fn walk<R: Read, S: Sink>(body: R, sink: &mut S) -> Result<Walked, IngestError> {
    let mut body = Watched {
        inner: body,
        content: false,
    };
    let mut de =
        serde_json::Deserializer::from_reader(io::BufReader::with_capacity(1 << 16, &mut body));
    let walked = (&mut de)
        .deserialize_any(Document { sink: &mut *sink })
        .and_then(|w| de.end().map(|()| w));
    drop(de);
    walked.map_err(|e| {
        if let Some(stopped) = sink.take_error() {
            return stopped;
        }
        let io = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<io::Error>());
        if let Some(io) = io.filter(|_| e.is_io()) {
            return read_error(io);
        }
        if e.is_eof() && !body.content {
            return IngestError::malformed("the request body is empty");
        }
        IngestError::malformed(format!("malformed JSON: {e}"))
            .at(e.line() as u64, Some(e.column() as u64))
    })
}

/// Whether anything but white space was read (an empty body is said so, not "malformed").
struct Watched<R> {
    inner: R,
    content: bool,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.content {
            self.content = buf[..n].iter().any(|b| !b.is_ascii_whitespace());
        }
        Ok(n)
    }
}

/// The top level: an array of records, an object holding them as `records`, or a columnar
/// object.
struct Document<'s, S> {
    sink: &'s mut S,
}

impl<'de, S: Sink> Visitor<'de> for Document<'_, S> {
    type Value = Walked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(
            "an array of objects, an object {\"records\": [...]} or an object {\"columns\": [...], \"rows\": [[...]]}",
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walked, A::Error> {
        let mut i = 0u64;
        while seq
            .next_element_seed(Each {
                sink: &mut *self.sink,
                i,
                row: false,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(Walked::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walked, A::Error> {
        let (mut rows_skipped, mut records, mut columnar) = (false, false, false);
        while let Some(key) = map.next_key::<String>()? {
            let mixed = match key.as_str() {
                "records" => columnar || records,
                "columns" | "rows" => records,
                _ => false,
            };
            if mixed {
                let e = IngestError::invalid(
                    "a JSON upload holds \"records\" once, or \"columns\" and \"rows\", not both",
                )
                .field(key.as_str());
                return Err(stop(self.sink, e));
            }
            match key.as_str() {
                "records" => {
                    records = true;
                    map.next_value_seed(Elements::records(&mut *self.sink))?
                }
                "columns" => {
                    columnar = true;
                    let names = map.next_value::<Value>()?;
                    if let Err(e) = self.sink.columns(names) {
                        return Err(stop(self.sink, e));
                    }
                }
                "rows" if self.sink.has_columns() => {
                    columnar = true;
                    map.next_value_seed(Elements::rows(&mut *self.sink))?
                }
                "rows" => {
                    columnar = true;
                    map.next_value::<IgnoredAny>()?;
                    rows_skipped = true;
                }
                other => {
                    let e = IngestError::invalid(format!(
                        "unknown field {other:?}; a JSON object upload has \"records\", or \"columns\" and \"rows\""
                    ))
                    .field(other);
                    return Err(stop(self.sink, e));
                }
            }
        }
        Ok(match records {
            true => Walked::Array,
            false => Walked::Columnar { rows_skipped },
        })
    }

    refuse_scalars!(Walked, |v: Self| {
        let e = v.sink.wrong_shape();
        stop(v.sink, e)
    });
}

/// Stops the walk with `e`, which the sink keeps for `take_error`.
fn stop<S: Sink, E: de::Error>(sink: &mut S, e: IngestError) -> E {
    sink.keep(e);
    E::custom("stopped")
}

/// `rows` (each element a row) or `records` (each element a record).
struct Elements<'s, S> {
    sink: &'s mut S,
    row: bool,
}

impl<'s, S: Sink> Elements<'s, S> {
    fn rows(sink: &'s mut S) -> Self {
        Elements { sink, row: true }
    }

    fn records(sink: &'s mut S) -> Self {
        Elements { sink, row: false }
    }

    fn not_an_array<E: de::Error>(self) -> E {
        let e = match self.row {
            true => IngestError::malformed("\"rows\" must be an array of arrays").field("rows"),
            false => {
                IngestError::malformed("\"records\" must be an array of objects").field("records")
            }
        };
        stop(self.sink, e)
    }
}

impl<'de, S: Sink> DeserializeSeed<'de> for Elements<'_, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: Sink> Visitor<'de> for Elements<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self.row {
            true => "\"rows\": an array of arrays",
            false => "\"records\": an array of objects",
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0u64;
        let row = self.row;
        while seq
            .next_element_seed(Each {
                sink: &mut *self.sink,
                i,
                row,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_an_array())
    }

    refuse_scalars!((), |v: Self| v.not_an_array());
}

/// One element, handed to the sink as a record or a row.
struct Each<'s, S> {
    sink: &'s mut S,
    i: u64,
    row: bool,
}

impl<'de, S: Sink> DeserializeSeed<'de> for Each<'_, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.row {
            self.sink.row(self.i, d)
        } else {
            self.sink.item(self.i, d)
        }
    }
}
