//! Guest stdout and stderr, captured per guest with the virtual time of each write.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use simnet_core::SimTime;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::world::VirtualClock;

/// Which standard stream a piece of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One write of a guest to stdout or stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Chunk {
    at: SimTime,
    stream: Stream,
    bytes: Vec<u8>,
}

/// One line of output, stamped with the virtual time its first byte was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLine {
    pub at: SimTime,
    pub stream: Stream,
    pub text: String,
}

#[derive(Default)]
struct LogInner {
    chunks: Vec<Chunk>,
    bytes: usize,
    truncated: bool,
}

/// Everything a guest wrote to stdout and stderr, in order, bounded in size.
#[derive(Clone)]
pub struct OutputLog {
    inner: Arc<Mutex<LogInner>>,
    limit: usize,
}

impl OutputLog {
    pub(crate) fn new(limit: usize) -> Self {
        OutputLog {
            inner: Arc::default(),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, at: SimTime, stream: Stream, bytes: &[u8]) {
        let mut inner = self.lock();
        let room = self.limit.saturating_sub(inner.bytes);
        if bytes.len() > room {
            inner.truncated = true;
        }
        let bytes = &bytes[..bytes.len().min(room)];
        if bytes.is_empty() {
            return;
        }
        inner.bytes += bytes.len();
        match inner.chunks.last_mut() {
            Some(last) if last.at == at && last.stream == stream => {
                last.bytes.extend_from_slice(bytes)
            }
            _ => inner.chunks.push(Chunk {
                at,
                stream,
                bytes: bytes.to_vec(),
            }),
        }
    }

    /// All bytes written to `stream`.
    pub fn bytes(&self, stream: Stream) -> Vec<u8> {
        self.lock()
            .chunks
            .iter()
            .filter(|c| c.stream == stream)
            .flat_map(|c| c.bytes.iter().copied())
            .collect()
    }

    /// Stdout as (lossy) UTF-8 text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.bytes(Stream::Stdout)).into_owned()
    }

    /// Stderr as (lossy) UTF-8 text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.bytes(Stream::Stderr)).into_owned()
    }

    /// Whether output beyond the size limit was dropped.
    pub fn truncated(&self) -> bool {
        self.lock().truncated
    }

    /// The output of both streams split into lines, in the order they were started.
    /// A last line without a newline is included.
    pub fn lines(&self) -> Vec<OutputLine> {
        let inner = self.lock();
        let mut done = Vec::new();
        let mut open: [Option<(SimTime, Vec<u8>)>; 2] = [None, None];
        for c in &inner.chunks {
            let slot = &mut open[c.stream as usize];
            for &b in &c.bytes {
                let (_, line) = slot.get_or_insert_with(|| (c.at, Vec::new()));
                if b == b'\n' {
                    let (at, line) = slot.take().unwrap_or((c.at, Vec::new()));
                    done.push(OutputLine {
                        at,
                        stream: c.stream,
                        text: String::from_utf8_lossy(&line).into_owned(),
                    });
                } else {
                    line.push(b);
                }
            }
        }
        for (i, slot) in open.into_iter().enumerate() {
            if let Some((at, line)) = slot {
                let stream = if i == 0 {
                    Stream::Stdout
                } else {
                    Stream::Stderr
                };
                done.push(OutputLine {
                    at,
                    stream,
                    text: String::from_utf8_lossy(&line).into_owned(),
                });
            }
        }
        done.sort_by_key(|l| l.at);
        done
    }
}

/// A guest's stdout or stderr, as wasmtime-wasi's context takes it.
pub(crate) struct GuestOutput {
    pub log: OutputLog,
    pub stream: Stream,
    pub clock: VirtualClock,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }
}

impl GuestOutput {
    fn writer(&self) -> OutputWriter {
        OutputWriter {
            log: self.log.clone(),
            stream: self.stream,
            clock: self.clock.clone(),
        }
    }
}

struct OutputWriter {
    log: OutputLog,
    stream: Stream,
    clock: VirtualClock,
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for OutputWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.log.push(self.clock.now(), self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

impl tokio::io::AsyncWrite for OutputWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.log.push(self.clock.now(), self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
