//! A simulated disk's file streams, as wasmtime-wasi's behave: an input stream's read
//! starts the disk's work and hands over data once its cost has passed; an output
//! stream takes a write into the page cache at once and is busy until its cost has
//! passed. Each holds its file open while it lives.

use simnet_core::disk::FsError;
use simnet_core::disk::NodeKind;
use simnet_core::{Bytes, Effect, Method, SimTime};
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, FsResult, InputStream, OutputStream, Pollable, StreamError,
    StreamResult,
};

use super::disk::{DiskDescriptor, DiskOps, Held, MAX_READ, error};
use crate::host::clocks::until;
use crate::world::lock;

/// What `check-write` grants a file stream (wasmtime-wasi's `FILE_WRITE_CAPACITY`).
const WRITE_CAPACITY: usize = 64 * 1024;

/// A stream's error: a filesystem error code a guest reads back with
/// `filesystem-error-code`.
#[derive(Debug)]
pub(crate) struct StreamFailure(pub ErrorCode);

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "filesystem error: {:?}", self.0)
    }
}

impl std::error::Error for StreamFailure {}

fn failed(e: FsError) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::new(StreamFailure(error(e))))
}

/// A file's input stream, as wasmtime-wasi's behaves: a read starts the disk read
/// and returns nothing; once its cost has passed the data is there to take; a read
/// at the end of the file closes the stream.
pub(crate) struct DiskInput {
    held: Held,
    readable: bool,
    position: u64,
    state: InputState,
}

enum InputState {
    Idle,
    /// A read whose data is ready at the instant given.
    Reading(Bytes, SimTime),
    Ended,
    Failed(FsError),
}

impl DiskInput {
    pub fn new(d: &DiskDescriptor, position: u64) -> Self {
        DiskInput {
            held: Held::new(d.held.at.clone(), d.held.node),
            readable: d.read,
            position,
            state: InputState::Idle,
        }
    }

    fn start(&mut self, size: usize) {
        if !self.readable {
            self.state = InputState::Failed(FsError::BadDescriptor);
            return;
        }
        let (node, position) = (self.held.node, self.position);
        let size = match self.held.at.inject(Method::FileRead) {
            Err(e) => {
                self.state = InputState::Failed(e);
                return;
            }
            Ok(Some(Effect::ShortRead)) => 1,
            Ok(_) => size.min(MAX_READ) as u64,
        };
        let (data, done) = self.held.at.run(|disk, _| disk.read(node, position, size));
        self.state = match data {
            Ok(d) if d.is_empty() => InputState::Ended,
            Ok(d) => InputState::Reading(Bytes::from(d), done),
            Err(e) => InputState::Failed(e),
        };
    }

    fn now(&self) -> SimTime {
        lock(&self.held.at.world).now()
    }
}

#[wasmtime_wasi_io::async_trait]
impl InputStream for DiskInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if matches!(self.state, InputState::Idle) {
            if size == 0 {
                return Ok(Bytes::new());
            }
            self.start(size);
            // Like wasmtime-wasi's, the first read only starts the disk's work.
            if matches!(self.state, InputState::Reading(..)) {
                return Ok(Bytes::new());
            }
        }
        let now = self.now();
        match &mut self.state {
            InputState::Idle => Ok(Bytes::new()),
            InputState::Reading(data, ready) => {
                if *ready > now {
                    return Ok(Bytes::new());
                }
                let chunk = data.split_to(data.len().min(size));
                if data.is_empty() {
                    self.state = InputState::Idle;
                }
                self.position += chunk.len() as u64;
                Ok(chunk)
            }
            InputState::Ended => Err(StreamError::Closed),
            InputState::Failed(e) => {
                let e = *e;
                self.state = InputState::Ended;
                Err(failed(e))
            }
        }
    }

    async fn blocking_read(&mut self, size: usize) -> StreamResult<Bytes> {
        if matches!(self.state, InputState::Idle) && size > 0 {
            self.start(size);
        }
        self.ready().await;
        self.read(size)
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for DiskInput {
    async fn ready(&mut self) {
        if matches!(self.state, InputState::Idle) {
            self.start(4096);
        }
        if let InputState::Reading(_, ready) = self.state {
            until(&self.held.at.world, self.held.at.guest, ready).await;
        }
    }
}

/// A file's output stream, as wasmtime-wasi's behaves: `check-write` grants 1 MiB
/// when idle; a write goes to the page cache at once and the stream is busy until
/// its cost has passed; an error shows at the next check.
pub(crate) struct DiskOutput {
    held: Held,
    writable: bool,
    /// `None`: appending.
    position: Option<u64>,
    state: OutputState,
}

enum OutputState {
    Ready,
    Busy(SimTime),
    Failed(FsError),
    Closed,
}

impl DiskOutput {
    pub fn new(d: &DiskDescriptor, position: Option<u64>) -> Self {
        DiskOutput {
            held: Held::new(d.held.at.clone(), d.held.node),
            writable: d.write,
            position,
            state: OutputState::Ready,
        }
    }

    fn settle(&mut self) {
        if let OutputState::Busy(done) = self.state
            && lock(&self.held.at.world).now() >= done
        {
            self.state = OutputState::Ready;
        }
    }

    fn take_failure(&mut self) -> Option<StreamError> {
        match std::mem::replace(&mut self.state, OutputState::Closed) {
            OutputState::Failed(e) => Some(failed(e)),
            OutputState::Closed => Some(StreamError::Closed),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Put `buf` in the page cache; the instant the write's cost has passed.
    fn put(&mut self, buf: Bytes) -> Result<SimTime, FsError> {
        if !self.writable {
            return Err(FsError::BadDescriptor);
        }
        let (node, position) = (self.held.node, self.position);
        let (written, done) = self.held.at.run(|disk, now| {
            let offset = match position {
                Some(p) => p,
                None => disk.size(node)?,
            };
            disk.write(node, offset, buf, now)
        });
        if let Err(e) = written {
            lock(&self.held.at.world)
                .net
                .record_file_error(Method::FileWrite, e);
        }
        let written = written?;
        if let Some(p) = &mut self.position {
            *p += written;
        }
        Ok(done)
    }
}

#[wasmtime_wasi_io::async_trait]
impl OutputStream for DiskOutput {
    fn write(&mut self, buf: Bytes) -> StreamResult<()> {
        self.settle();
        match self.state {
            OutputState::Ready => {}
            OutputState::Closed => return Err(StreamError::Closed),
            OutputState::Busy(_) | OutputState::Failed(_) => {
                return Err(StreamError::Trap(wasmtime::format_err!(
                    "write not permitted: check_write not called first"
                )));
            }
        }
        self.state = match self.put(buf) {
            Ok(done) => OutputState::Busy(done),
            Err(e) => OutputState::Failed(e),
        };
        Ok(())
    }

    async fn blocking_write_and_flush(&mut self, buf: Bytes) -> StreamResult<()> {
        self.ready().await;
        if let Some(e) = self.take_failure() {
            return Err(e);
        }
        if let Err(e) = self.held.at.inject(Method::FileWrite) {
            self.state = OutputState::Closed;
            return Err(failed(e));
        }
        match self.put(buf) {
            Ok(done) => {
                until(&self.held.at.world, self.held.at.guest, done).await;
                self.state = OutputState::Ready;
                Ok(())
            }
            Err(e) => {
                self.state = OutputState::Closed;
                Err(failed(e))
            }
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.settle();
        match self.state {
            OutputState::Ready | OutputState::Busy(_) => Ok(()),
            _ => Err(self.take_failure().unwrap_or(StreamError::Closed)),
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.settle();
        match self.state {
            OutputState::Ready => match self.held.at.inject(Method::FileWrite) {
                Err(e) => {
                    self.state = OutputState::Closed;
                    Err(failed(e))
                }
                Ok(Some(Effect::ShortWrite)) => Ok(1),
                Ok(_) => Ok(WRITE_CAPACITY),
            },
            OutputState::Busy(_) => Ok(0),
            _ => Err(self.take_failure().unwrap_or(StreamError::Closed)),
        }
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for DiskOutput {
    async fn ready(&mut self) {
        if let OutputState::Busy(done) = self.state {
            until(&self.held.at.world, self.held.at.guest, done).await;
            self.state = OutputState::Ready;
        }
    }
}

/// The stream calls of a disk descriptor.
impl DiskOps<'_> {
    pub fn read_via_stream(&self, offset: u64) -> FsResult<DynInputStream> {
        if self.d.kind == NodeKind::Directory {
            return Err(ErrorCode::IsDirectory.into());
        }
        Ok(Box::new(DiskInput::new(self.d, offset)))
    }

    pub fn write_via_stream(&self, offset: u64) -> FsResult<DynOutputStream> {
        self.d.file()?;
        self.d.writable_tree()?;
        Ok(Box::new(DiskOutput::new(self.d, Some(offset))))
    }

    pub fn append_via_stream(&self) -> FsResult<DynOutputStream> {
        self.d.file()?;
        self.d.writable_tree()?;
        Ok(Box::new(DiskOutput::new(self.d, None)))
    }
}
