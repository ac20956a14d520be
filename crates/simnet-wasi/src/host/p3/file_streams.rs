//! File streams of `wasi:filesystem@0.3`: the 0.2 host's input and output streams
//! (on the simulated disk or a real directory) bridged to 0.3 streams, and a
//! directory's listing as a stream of entries.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::StoreContextMut;
use wasmtime::component::{Destination, Source, StreamConsumer, StreamProducer, StreamResult};
use wasmtime_wasi::p2::bindings::filesystem::types as t2;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult, StreamError};
use wasmtime_wasi::p3::bindings::filesystem::types as t3;

use super::Completion;
use super::fs_types::{code, entry};
use crate::host::p2::disk_streams::StreamFailure;

/// A stream's failure as the 0.3 error code.
fn stream_code(e: &StreamError) -> t3::ErrorCode {
    let StreamError::LastOperationFailed(e) = e else {
        return t3::ErrorCode::Io;
    };
    if let Some(StreamFailure(c)) = e.downcast_ref::<StreamFailure>() {
        return code(*c);
    }
    match e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
        Some(std::io::ErrorKind::NotFound) => t3::ErrorCode::NoEntry,
        Some(std::io::ErrorKind::PermissionDenied) => t3::ErrorCode::NotPermitted,
        _ => t3::ErrorCode::Io,
    }
}

/// A 0.2 error's code as 0.3's (`io` for a trap, which has none).
fn error_code(e: &FsError) -> t3::ErrorCode {
    e.downcast_ref().map_or(t3::ErrorCode::Io, |c| code(*c))
}

/// A 0.2 input stream waiting to be ready (it moves into the wait and back).
type Ready<S> = Pin<Box<dyn Future<Output = S> + Send>>;

/// The host end of a file's `read-via-stream`: the 0.2 host's input stream.
pub(super) struct FileReader {
    input: Option<DynInputStream>,
    waiting: Option<Ready<DynInputStream>>,
    done: Arc<Completion<t3::ErrorCode>>,
}

impl FileReader {
    pub(super) fn new(input: DynInputStream, done: Arc<Completion<t3::ErrorCode>>) -> Self {
        FileReader {
            input: Some(input),
            waiting: None,
            done,
        }
    }

    /// The input stream once it is ready to read.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<&mut DynInputStream> {
        if let Some(w) = &mut self.waiting {
            match w.as_mut().poll(cx) {
                Poll::Ready(input) => {
                    self.waiting = None;
                    self.input = Some(input);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match &mut self.input {
            Some(input) => Poll::Ready(input),
            None => Poll::Pending,
        }
    }

    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(mut input) = self.input.take() else {
            return Poll::Pending;
        };
        self.waiting = Some(Box::pin(async move {
            input.ready().await;
            input
        }));
        match self.poll_input(cx) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for FileReader {
    fn drop(&mut self) {
        self.done.complete(Ok(()));
    }
}

impl<D> StreamProducer<D> for FileReader {
    type Item = u8;
    type Buffer = Bytes;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let wanted = dst.remaining(&mut store).unwrap_or(64 * 1024);
        loop {
            let input = match self.poll_input(cx) {
                Poll::Ready(input) => input,
                Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
                Poll::Pending => return Poll::Pending,
            };
            if wanted == 0 {
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            match input.read(wanted) {
                Ok(bytes) if !bytes.is_empty() => {
                    dst.set_buffer(bytes);
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                Ok(_) => {
                    if self.wait(cx).is_pending() {
                        return match finish {
                            true => Poll::Ready(Ok(StreamResult::Cancelled)),
                            false => Poll::Pending,
                        };
                    }
                }
                Err(StreamError::Closed) => {
                    self.done.complete(Ok(()));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
                Err(StreamError::Trap(e)) => return Poll::Ready(Err(e)),
                Err(e) => {
                    self.done.complete(Err(stream_code(&e)));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            }
        }
    }
}

/// The host end of a file's `write-via-stream` or `append-via-stream`: the 0.2
/// host's output stream.
pub(super) struct FileWriter {
    output: Option<DynOutputStream>,
    waiting: Option<Ready<DynOutputStream>>,
    done: Arc<Completion<t3::ErrorCode>>,
}

impl FileWriter {
    pub(super) fn new(output: DynOutputStream, done: Arc<Completion<t3::ErrorCode>>) -> Self {
        FileWriter {
            output: Some(output),
            waiting: None,
            done,
        }
    }

    fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<&mut DynOutputStream> {
        if let Some(w) = &mut self.waiting {
            match w.as_mut().poll(cx) {
                Poll::Ready(output) => {
                    self.waiting = None;
                    self.output = Some(output);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match &mut self.output {
            Some(output) => Poll::Ready(output),
            None => Poll::Pending,
        }
    }

    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(mut output) = self.output.take() else {
            return Poll::Pending;
        };
        self.waiting = Some(Box::pin(async move {
            output.ready().await;
            output
        }));
        match self.poll_output(cx) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.done.complete(Ok(()));
    }
}

impl<D> StreamConsumer<D> for FileWriter {
    type Item = u8;

    fn poll_consume(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<D>,
        src: Source<Self::Item>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let mut src = src.as_direct(store);
        loop {
            let output = match self.poll_output(cx) {
                Poll::Ready(output) => output,
                Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
                Poll::Pending => return Poll::Pending,
            };
            let permit = match output.check_write() {
                Ok(n) => n,
                Err(StreamError::Trap(e)) => return Poll::Ready(Err(e)),
                Err(e) => {
                    self.done.complete(Err(stream_code(&e)));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            };
            if permit == 0 {
                if self.wait(cx).is_pending() {
                    return match finish {
                        true => Poll::Ready(Ok(StreamResult::Cancelled)),
                        false => Poll::Pending,
                    };
                }
                continue;
            }
            let chunk = src.remaining();
            if chunk.is_empty() {
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            let n = chunk.len().min(permit);
            let bytes = Bytes::copy_from_slice(&chunk[..n]);
            match output.write(bytes) {
                Ok(()) => {
                    src.mark_read(n);
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                Err(StreamError::Trap(e)) => return Poll::Ready(Err(e)),
                Err(e) => {
                    self.done.complete(Err(stream_code(&e)));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            }
        }
    }
}

/// A directory's listing, on its way to the guest.
pub(super) enum DirListing {
    /// A disk's listing, waiting out its cost.
    Pending(Pin<Box<dyn Future<Output = FsResult<Vec<t2::DirectoryEntry>>> + Send>>),
    Ready(std::collections::VecDeque<t2::DirectoryEntry>),
    Failed(FsError),
}

/// The host end of `read-directory`: entries in name order.
pub(super) struct Lister {
    pub(super) listing: DirListing,
    pub(super) done: Arc<Completion<t3::ErrorCode>>,
}

impl Drop for Lister {
    fn drop(&mut self) {
        self.done.complete(Ok(()));
    }
}

impl<D> StreamProducer<D> for Lister {
    type Item = t3::DirectoryEntry;
    type Buffer = Option<t3::DirectoryEntry>;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        if let DirListing::Pending(f) = &mut self.listing {
            match f.as_mut().poll(cx) {
                Poll::Ready(Ok(entries)) => self.listing = DirListing::Ready(entries.into()),
                Poll::Ready(Err(e)) => self.listing = DirListing::Failed(e),
                Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let result = match &mut self.listing {
            DirListing::Ready(entries) => match entries.pop_front() {
                Some(e) => {
                    dst.set_buffer(Some(entry(e)));
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                None => Ok(()),
            },
            DirListing::Failed(e) => Err(error_code(e)),
            DirListing::Pending(_) => return Poll::Pending,
        };
        self.done.complete(result);
        Poll::Ready(Ok(StreamResult::Dropped))
    }
}
