//! Streaming an upload from the async body into a blocking parser: the handler pumps body
//! frames through a bounded channel that a `Read` on a blocking thread drains. The size limit
//! is enforced as frames arrive, so an over-limit chunked body is cut off as soon as it crosses
//! the limit, and a parser that fails early stops the upload.

use std::io::{self, Read};

use axum::body::Body;
use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::ingest::BodyTooLarge;

/// Frames in flight between the network and the parser.
const CHANNEL_FRAMES: usize = 16;

/// The blocking end: reads the frames the pump sends.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(frame) => self.current = frame?,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// How pumping ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pumped {
    /// The whole body went through (`bytes` in all).
    Complete { bytes: u64 },
    /// The reader stopped listening (the parser finished or failed first).
    ReaderGone,
    /// The body crossed the limit; the reader was told.
    TooLarge,
    /// The client's body failed (connection reset, …); the reader was told.
    Failed,
    /// The body stalled or ran past its deadline; the reader was told.
    TimedOut,
}

/// A connected pump and reader.
pub fn channel() -> (mpsc::Sender<io::Result<Bytes>>, BodyReader) {
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    (
        tx,
        BodyReader {
            rx,
            current: Bytes::new(),
        },
    )
}

/// Sends `body` to the reader, up to `limit` bytes.
pub async fn pump(body: Body, tx: mpsc::Sender<io::Result<Bytes>>, limit: u64) -> Pumped {
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(frame) = stream.next().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                let timed_out = super::serve::is_body_timeout(&e);
                let _ = tx.send(Err(io::Error::other(e))).await;
                return if timed_out {
                    Pumped::TimedOut
                } else {
                    Pumped::Failed
                };
            }
        };
        total += frame.len() as u64;
        if total > limit {
            let _ = tx.send(Err(io::Error::other(BodyTooLarge(limit)))).await;
            return Pumped::TooLarge;
        }
        if tx.send(Ok(frame)).await.is_err() {
            return Pumped::ReaderGone;
        }
    }
    Pumped::Complete { bytes: total }
}
