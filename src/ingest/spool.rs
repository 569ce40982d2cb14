//! A copy of the body on disk as it is read, so a parser can make a second pass (categorical
//! columns built from the exact text) without holding the body in memory.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use super::error::IngestError;

/// A reader that copies what it reads into a temporary file, for `replay`.
pub(crate) struct Spooled<'a, R> {
    inner: &'a mut R,
    out: BufWriter<File>,
    file: File,
}

impl<'a, R: Read> Spooled<'a, R> {
    pub(crate) fn new(inner: &'a mut R) -> Result<Self, IngestError> {
        let file = tempfile::tempfile().map_err(|e| spool_error(&e))?;
        let writer = file.try_clone().map_err(|e| spool_error(&e))?;
        Ok(Self {
            inner,
            out: BufWriter::with_capacity(1 << 20, writer),
            file,
        })
    }

    /// The bytes read so far, from the start, for another pass (the previous one is over).
    pub(crate) fn replay(&mut self) -> Result<BufReader<File>, IngestError> {
        self.out.flush().map_err(|e| spool_error(&e))?;
        let mut file = self.file.try_clone().map_err(|e| spool_error(&e))?;
        file.rewind().map_err(|e| spool_error(&e))?;
        Ok(BufReader::with_capacity(1 << 20, file))
    }
}

impl<R: Read> Read for Spooled<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn spool_error(e: &io::Error) -> IngestError {
    IngestError::internal(format!(
        "could not spool the upload to a temporary file: {e}"
    ))
}

/// Skips a UTF-8 byte-order mark at the start of `body` (editors on Windows write one).
pub(crate) fn skip_bom<R: io::BufRead>(mut body: R) -> io::Result<R> {
    if body.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        body.consume(3);
    }
    Ok(body)
}
