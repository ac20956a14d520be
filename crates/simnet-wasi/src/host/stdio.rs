//! Guest stdio as wasmtime-wasi's context takes it: stdout and stderr written into
//! the guest's [`OutputLog`], stdin from bytes or a reader.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::output::{OutputLog, Stream};
use crate::world::{Shared, lock};

/// A guest's stdout or stderr, as wasmtime-wasi's context takes it.
pub(crate) struct GuestOutput {
    pub log: OutputLog,
    pub stream: Stream,
    pub world: Shared,
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
            world: self.world.clone(),
        }
    }
}

struct OutputWriter {
    log: OutputLog,
    stream: Stream,
    world: Shared,
}

impl OutputWriter {
    fn push(&self, bytes: &[u8]) {
        let (at, seq) = {
            let w = lock(&self.world);
            (w.now(), w.net.trace().len())
        };
        self.log.push(at, seq, self.stream, bytes);
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for OutputWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
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
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Where a guest's stdin comes from.
#[derive(Clone, Default)]
pub enum Stdin {
    /// Nothing: the first read reports end of stream.
    #[default]
    Empty,
    /// These bytes, then end of stream.
    Bytes(Arc<[u8]>),
    /// A reader, read when the guest reads, while the simulation waits (`simnet
    /// exec` passes its own stdin). Each guest read takes what one read of the
    /// reader returns, as wasmtime does: the same every run for a file, at the
    /// writer's pace for a pipe or a terminal.
    Reader(Arc<Mutex<dyn io::Read + Send>>),
}

impl std::fmt::Debug for Stdin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stdin::Empty => f.write_str("Empty"),
            Stdin::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Stdin::Reader(_) => f.write_str("Reader"),
        }
    }
}

/// The largest read taken from a reader at once.
const STDIN_CHUNK: usize = 64 * 1024;

/// A guest's stdin: every handle the guest opens shares one position.
#[derive(Clone)]
pub(crate) struct GuestStdin(Arc<Mutex<StdinState>>);

struct StdinState {
    source: Stdin,
    buffered: std::collections::VecDeque<u8>,
    offset: usize,
    ended: bool,
}

impl GuestStdin {
    pub fn new(source: Stdin) -> Self {
        GuestStdin(Arc::new(Mutex::new(StdinState {
            source,
            buffered: Default::default(),
            offset: 0,
            ended: false,
        })))
    }

    fn read(&self, size: usize) -> io::Result<Option<Vec<u8>>> {
        let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        st.fill(size)?;
        if st.buffered.is_empty() {
            return Ok(if st.ended { None } else { Some(Vec::new()) });
        }
        let n = size.min(st.buffered.len());
        Ok(Some(st.buffered.drain(..n).collect()))
    }
}

impl StdinState {
    /// Buffer enough input for a read of `size` bytes, or all that is left.
    fn fill(&mut self, size: usize) -> io::Result<()> {
        match &self.source {
            Stdin::Empty => self.ended = true,
            Stdin::Bytes(bytes) => {
                let bytes = bytes.clone();
                let take =
                    (bytes.len() - self.offset).min(size.saturating_sub(self.buffered.len()));
                self.buffered
                    .extend(&bytes[self.offset..self.offset + take]);
                self.offset += take;
                self.ended = self.offset == bytes.len();
            }
            Stdin::Reader(reader) => {
                if !self.buffered.is_empty() {
                    return Ok(());
                }
                let reader = reader.clone();
                let mut reader = reader.lock().unwrap_or_else(|e| e.into_inner());
                let mut chunk = vec![0; size.min(STDIN_CHUNK)];
                loop {
                    match reader.read(&mut chunk) {
                        Ok(0) => self.ended = true,
                        Ok(n) => self.buffered.extend(&chunk[..n]),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                    break;
                }
            }
        }
        Ok(())
    }
}

impl IsTerminal for GuestStdin {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdinStream for GuestStdin {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncRead + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::InputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for GuestStdin {
    // A read never has to wait in virtual time: it takes what the input holds.
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::InputStream for GuestStdin {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if size == 0 {
            return Ok(Bytes::new());
        }
        match GuestStdin::read(self, size) {
            Ok(Some(bytes)) => Ok(Bytes::from(bytes)),
            Ok(None) => Err(wasmtime_wasi::p2::StreamError::Closed),
            Err(e) => Err(wasmtime_wasi::p2::StreamError::LastOperationFailed(
                wasmtime::Error::new(e),
            )),
        }
    }
}

impl tokio::io::AsyncRead for GuestStdin {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(bytes) = GuestStdin::read(&self, buf.remaining())? {
            buf.put_slice(&bytes);
        }
        Poll::Ready(Ok(()))
    }
}
