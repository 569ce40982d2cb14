//! Turning an uploaded body (CSV, JSON, NDJSON) into a validated [`ParsedDataset`]. Reads from
//! any `Read`, never from the network itself; the whole upload is validated before the caller
//! stores anything. Blocking and CPU-bound: call it off the async runtime.

mod cell;
mod csv;
mod json;
pub mod rows;
mod table;

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::domain::dataset::{ParsedDataset, UploadFormat};

/// What to parse and the limits to enforce while parsing.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: UploadFormat,
    /// Name of the label column.
    pub label: String,
    /// CSV field delimiter.
    pub delimiter: u8,
    pub max_rows: u64,
    pub max_columns: u64,
    pub max_cells: u64,
    pub max_classes: u64,
    /// Expected body size (`Content-Length`), used only to pre-size buffers.
    pub size_hint: Option<u64>,
}

/// Whether an upload problem is unreadable input (400), invalid content (422) or too big (413).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestErrorKind {
    Malformed,
    Invalid,
    TooLarge {
        limit: u64,
    },
    /// The server failed (e.g. the temporary file could not be written): a 500.
    Internal,
}

/// Why an upload was rejected, with where (line and column are 1-based; `field` names the
/// query parameter, column or JSON path at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IngestError {
    pub kind: IngestErrorKind,
    pub message: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub field: Option<String>,
}

impl IngestError {
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self {
            kind: IngestErrorKind::Malformed,
            message: message.into(),
            line: None,
            column: None,
            field: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: IngestErrorKind::Invalid,
            ..Self::malformed(message)
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: IngestErrorKind::Internal,
            ..Self::malformed(message)
        }
    }

    pub(crate) fn at(mut self, line: u64, column: Option<u64>) -> Self {
        self.line = Some(line);
        self.column = column;
        self
    }

    pub(crate) fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// An I/O error from the body reader that says the body crossed its size limit.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body is larger than the limit of {0} bytes")]
pub struct BodyTooLarge(pub u64);

/// Maps a read error to an upload error: the size limit to 413, anything else to 400.
pub(crate) fn read_error(e: &io::Error) -> IngestError {
    if let Some(too_large) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<BodyTooLarge>())
    {
        return IngestError {
            kind: IngestErrorKind::TooLarge { limit: too_large.0 },
            ..IngestError::malformed(too_large.to_string())
        };
    }
    IngestError::malformed(format!("could not read the request body: {e}"))
}

/// Parses and validates a whole upload; also hashes the bytes it reads.
pub fn parse_upload(body: impl Read, opts: &IngestOptions) -> Result<ParsedDataset, IngestError> {
    let mut body = HashingReader::new(body);
    let mut parsed = match opts.format {
        UploadFormat::Csv => csv::parse(&mut body, opts)?,
        UploadFormat::Json => json::parse_document(&mut body, opts)?,
        UploadFormat::Ndjson => json::parse_lines(&mut body, opts)?,
    };
    // Parsers may stop before EOF (e.g. the CSV reader after the last record): hash the rest.
    io::copy(&mut body, &mut io::sink()).map_err(|e| read_error(&e))?;
    let (sha256, bytes) = body.finish();
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
