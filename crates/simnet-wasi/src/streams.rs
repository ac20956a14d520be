//! A socket's `wasi:io` objects: its input and output streams and its own pollable.
//! Each is ready exactly when the operation it stands for would make progress, as
//! [`simnet_core::Net::is_ready`] decides; a not-ready pollable records what its guest
//! waits for, and the guest is woken when the network reports a change on one of its
//! sockets.

use std::fmt;
use std::future::poll_fn;
use std::task::Poll;

use bytes::Bytes;
use simnet_core::{ErrorCode, HostId, Interest, SocketId, StreamError as CoreStreamError};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError, StreamResult};

use crate::api_fault::{Effect, Method};
use crate::world::{GuestId, Shared, Wait, World, lock};

/// Largest single read handed to a guest, whatever size it asks for.
const MAX_READ: usize = 1 << 20;

/// A failed stream operation, kept as the `wasi:io/error` payload so
/// `network-error-code` can recover the socket error code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketFailure(pub ErrorCode);

impl fmt::Display for SocketFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket error: {}", self.0.as_str())
    }
}

impl std::error::Error for SocketFailure {}

fn stream_error(e: CoreStreamError) -> StreamError {
    match e {
        CoreStreamError::Closed => StreamError::Closed,
        CoreStreamError::Failed(code) => {
            StreamError::LastOperationFailed(wasmtime::Error::new(SocketFailure(code)))
        }
    }
}

/// Where a stream or pollable belongs: the socket, its guest and the shared world.
#[derive(Clone)]
pub(crate) struct SocketRef {
    pub world: Shared,
    pub guest: GuestId,
    pub host: HostId,
    pub socket: SocketId,
}

impl SocketRef {
    /// Resolve once the socket is ready for `interest`.
    pub async fn ready(&self, interest: Interest) {
        poll_fn(|_cx| {
            let mut w = lock(&self.world);
            let now = w.now();
            if let Some(until) = w.injector.stalled_until(self.socket, now) {
                w.wake_at(until, self.guest);
                w.note_wait(self.guest, Wait::Clock { deadline: until });
                return Poll::Pending;
            }
            if w.net.is_ready(self.socket, interest) {
                return Poll::Ready(());
            }
            w.note_wait(
                self.guest,
                Wait::Socket {
                    socket: self.socket,
                    interest,
                },
            );
            // The executor re-polls this guest when the network reports a change on
            // one of its sockets; no waker needs to be kept here.
            Poll::Pending
        })
        .await
    }
}

pub(crate) fn describe(net: &simnet_core::Net, socket: SocketId, interest: Interest) -> String {
    let local = net
        .local_address(socket)
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "unbound".into());
    let remote = net.remote_address(socket).ok();
    let state = net
        .state(socket)
        .map(|s| format!("{s:?}"))
        .unwrap_or_else(|_| "closed".into());
    let op = match (interest, state.as_str()) {
        (Interest::Socket, "Listening") => "accept",
        (Interest::Socket, _) => "connect",
        (Interest::Read, _) => "read",
        (Interest::Write, _) => "write",
    };
    match remote {
        Some(r) => format!("{op} on socket {local} -> {r} ({state})"),
        None => format!("{op} on socket {local} ({state})"),
    }
}

/// The guest's handle on a TCP socket (`wasi:sockets/tcp.tcp-socket`).
pub(crate) struct SimTcpSocket {
    pub at: SocketRef,
    /// The streams were handed out (once connected or accepted).
    pub streams_taken: bool,
    /// A listener whose pollable reported a connection. wasmtime-wasi accepts that
    /// connection from the kernel as it polls, and closes it gracefully (not with a
    /// reset) if the listener is dropped before the guest accepts it; simnet does the
    /// same so that guests see the same thing on both.
    pub pre_accepted: bool,
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for SimTcpSocket {
    async fn ready(&mut self) {
        self.at.ready(Interest::Socket).await;
        let listening = lock(&self.at.world)
            .net
            .is_listening(self.at.socket)
            .unwrap_or(false);
        if listening {
            self.pre_accepted = true;
        }
    }
}

pub(crate) struct TcpInput(pub SocketRef);

#[wasmtime_wasi_io::async_trait]
impl Pollable for TcpInput {
    async fn ready(&mut self) {
        self.0.ready(Interest::Read).await
    }
}

/// Count a failure the guest met (unless it was injected on this very call).
fn note_failure<T>(w: &mut World, method: Method, injected: bool, r: &Result<T, CoreStreamError>) {
    if let Err(CoreStreamError::Failed(code)) = r
        && !injected
    {
        w.injector.record(method, *code, false);
    }
}

impl InputStream for TcpInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let mut w = lock(&self.0.world);
        let effect = w.inject(self.0.host, Some(self.0.socket), Method::Read);
        let size = if effect == Some(Effect::ShortRead) {
            size.min(1)
        } else {
            size
        };
        let injected = matches!(effect, Some(Effect::Error(_)));
        let available = w.net.readable_bytes(self.0.socket);
        // One byte of room even when nothing is buffered, so end-of-stream and errors
        // are still reported.
        let mut buf = vec![0u8; size.min(available.max(1)).min(MAX_READ)];
        if buf.is_empty() {
            return Ok(Bytes::new());
        }
        let result = w.net.read(self.0.socket, &mut buf);
        note_failure(&mut w, Method::Read, injected, &result);
        let n = result.map_err(stream_error)?;
        buf.truncate(n);
        Ok(Bytes::from(buf))
    }
}

pub(crate) struct TcpOutput(pub SocketRef);

#[wasmtime_wasi_io::async_trait]
impl Pollable for TcpOutput {
    async fn ready(&mut self) {
        self.0.ready(Interest::Write).await
    }
}

impl OutputStream for TcpOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut w = lock(&self.0.world);
        let permit = w.net.check_write(self.0.socket).map_err(stream_error)?;
        if bytes.len() > permit {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "write of {} bytes exceeds the {permit} bytes check-write permitted",
                bytes.len()
            )));
        }
        let n = w.net.write(self.0.socket, &bytes).map_err(stream_error)?;
        debug_assert_eq!(n, bytes.len());
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Written bytes are already in the socket's send buffer: nothing to flush.
        // Report a failure that happened meanwhile, as the kernel would on the next call.
        lock(&self.0.world)
            .net
            .check_write(self.0.socket)
            .map(|_| ())
            .map_err(stream_error)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let mut w = lock(&self.0.world);
        let effect = w.inject(self.0.host, Some(self.0.socket), Method::Write);
        let result = w.net.check_write(self.0.socket);
        let injected = matches!(effect, Some(Effect::Error(_)));
        note_failure(&mut w, Method::Write, injected, &result);
        let permit = result.map_err(stream_error)?;
        Ok(if effect == Some(Effect::ShortWrite) {
            permit.min(1)
        } else {
            permit
        })
    }
}
