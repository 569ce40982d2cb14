//! Why an upload was rejected, and where.

use std::io;

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
