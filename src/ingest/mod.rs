//! Turning an uploaded body (CSV, JSON, NDJSON; sequences as `.ts`, JSON records or
//! long-format CSV) into a validated
//! [`ParsedDataset`]. Reads from
//! any `Read`, never from the network itself; the whole upload is validated before the caller
//! stores anything. Blocking and CPU-bound: call it off the async runtime.

mod cell;
mod csv;
pub mod error;
mod json;
mod json_stream;
mod long_format;
pub mod options;
pub mod predict_sequences;
pub mod rows;
mod sequence_json;
mod sequences;
mod spool;
mod table;
pub mod ts;

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use self::error::read_error;
pub use self::error::{BodyTooLarge, IngestError, IngestErrorKind};
pub use self::options::{IngestOptions, SequenceSource};
use crate::domain::dataset::{ParsedDataset, UploadFormat};

/// Parses and validates a whole upload; also hashes the bytes it reads.
pub fn parse_upload(body: impl Read, opts: &IngestOptions) -> Result<ParsedDataset, IngestError> {
    let mut hashed = HashingReader::new(body);
    // The hash covers every byte; the parsers read past a byte-order mark (CSV drops its own).
    let mut body = io::BufReader::with_capacity(1 << 16, &mut hashed);
    if opts.format != UploadFormat::Csv {
        body = spool::skip_bom(body).map_err(|e| read_error(&e))?;
    }
    let mut parsed = match (opts.format, &opts.sequence) {
        (
            format @ (UploadFormat::Json | UploadFormat::Ndjson),
            Some(SequenceSource::Field(field)),
        ) => sequence_json::parse(&mut body, opts, field, format)?,
        (UploadFormat::Csv, Some(SequenceSource::Long { id, order })) => {
            let text = IngestOptions {
                text_columns: vec![id.clone(), order.clone()],
                ..opts.clone()
            };
            long_format::regroup(csv::parse(&mut body, &text)?, opts, id, order)?
        }
        (_, Some(SequenceSource::Field(_))) => {
            return Err(IngestError::invalid(
                "sequence: sequences come as JSON or NDJSON records (or a .ts file, or \
                 long-format CSV with sequence_id and order)",
            )
            .field("sequence"));
        }
        (_, Some(SequenceSource::Long { .. })) => {
            return Err(IngestError::invalid(
                "sequence_id and order read long-format CSV (one row per step)",
            )
            .field("sequence_id"));
        }
        (UploadFormat::Csv, None) => csv::parse(&mut body, opts)?,
        (UploadFormat::Json, None) => json::parse_document(&mut body, opts)?,
        (UploadFormat::Ndjson, None) => json::parse_lines(&mut body, opts)?,
        (UploadFormat::Ts, None) => ts::parse_dataset(&mut body, opts)?,
    };
    // Parsers may stop before EOF (e.g. the CSV reader after the last record): hash the rest.
    io::copy(&mut body, &mut io::sink()).map_err(|e| read_error(&e))?;
    drop(body);
    let (sha256, bytes) = hashed.finish();
    if bytes == 0 {
        return Err(IngestError::malformed("the request body is empty"));
    }
    parsed.sha256 = sha256;
    parsed.bytes = bytes;
    Ok(parsed)
}

/// A reader that hashes and counts what passes through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
