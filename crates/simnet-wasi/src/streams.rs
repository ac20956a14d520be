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

use crate::world::{GuestId, Shared, Wait, World, lock};
use simnet_core::{Effect, Method};

/// Largest single read handed to a guest, whatever size it asks for.
const MAX_READ: usize = 1 << 20;

/// A failed stream operation, as the `wasi:io/error` payload. Its debug string is
/// the error code's name, as wasmtime-wasi's (`ConnectionReset`), and like
/// wasmtime-wasi's it carries no code for `network-error-code`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketFailure(pub ErrorCode);

impl fmt::Display for SocketFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
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
        self.ready_or(interest, false).await
    }

    /// Like [`SocketRef::ready`], but ready whatever the network says when
    /// `ready_anyway` (a stall still holds it).
    pub async fn ready_or(&self, interest: Interest, ready_anyway: bool) {
        poll_fn(|_cx| {
            let mut w = lock(&self.world);
            if let Some(until) = w.net.stalled_until(self.socket) {
                w.wake_at(until, self.guest);
                w.note_wait(self.guest, Wait::Clock { deadline: until });
                return Poll::Pending;
            }
            if ready_anyway || w.net.is_ready(self.socket, interest) {
                return Poll::Ready(());
            }
            let wait = Wait::Socket {
                socket: self.socket,
                interest,
            };
            w.note_wait(self.guest, wait);
            // The executor re-polls this guest when the network reports a change on
            // one of its sockets (a 0.3 guest's blocking 0.2 call too: wasmtime
            // polls it again whenever the guest runs); no waker needs to be kept.
            Poll::Pending
        })
        .await
    }
}

/// What a socket's byte streams have seen, as wasmtime-wasi 48 keeps it in its stream
/// wrappers: shared by the socket handle (`shutdown` closes them) and the stream
/// handles. The network is the kernel; these states are the WASI 0.2 layer above it.
#[derive(Debug)]
pub(crate) struct StreamStates {
    read: ReadState,
    write: WriteState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    Open,
    /// End of stream or an error was read, or the guest shut reading down: every
    /// read, of any length, is `closed` from now on.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteState {
    /// Writable; `permit` is what the last `check-write` granted and no write has
    /// used yet (writing more traps, as in wasmtime-wasi).
    Open { permit: usize },
    /// The guest shut writing down while a write's bytes still waited for room in
    /// the send buffer: `check-write` grants nothing until they are all in, then
    /// reports the stream closed (wasmtime-wasi finishes its background write first).
    Closing,
    /// A write failed or the guest shut writing down: every later call reports the
    /// same result.
    Closed(WriteError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteError {
    Closed,
    Failed(ErrorCode),
}

impl From<WriteError> for StreamError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Closed => StreamError::Closed,
            WriteError::Failed(code) => stream_error(CoreStreamError::Failed(code)),
        }
    }
}

fn write_error(e: CoreStreamError) -> WriteError {
    match e {
        CoreStreamError::Closed => WriteError::Closed,
        CoreStreamError::Failed(code) => WriteError::Failed(code),
    }
}

/// What `check-write` grants whenever the socket is writable, as wasmtime-wasi
/// does: more than a small send buffer holds. The write hands the rest to the
/// network as room frees ([`simnet_core::Net::write_granted`]); a write bound to
/// fail (the connection is reset or closed) is granted the same, and reports why.
const WRITE_GRANT: usize = 64 * 1024;

pub(crate) type SharedStreams = std::sync::Arc<std::sync::Mutex<StreamStates>>;

fn lock_states(s: &SharedStreams) -> std::sync::MutexGuard<'_, StreamStates> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn new_stream_states() -> SharedStreams {
    std::sync::Arc::new(std::sync::Mutex::new(StreamStates {
        read: ReadState::Open,
        write: WriteState::Open { permit: 0 },
    }))
}

/// `shutdown` as wasmtime-wasi applies it to the streams: reading ends at once;
/// writing ends at once, or once the bytes of a write still `writing` are all in
/// the send buffer; a writer that already failed keeps its error.
pub(crate) fn shutdown_streams(states: &SharedStreams, read: bool, write: bool, writing: bool) {
    let mut st = lock_states(states);
    if read {
        st.read = ReadState::Closed;
    }
    if write && matches!(st.write, WriteState::Open { .. }) {
        st.write = if writing {
            WriteState::Closing
        } else {
            WriteState::Closed(WriteError::Closed)
        };
    }
}

/// A `start-*` call of WASI 0.2 that has not been finished yet. The network has
/// already done the work (bound, listening, connect begun); what is left is the guest's
/// `finish-*`, as in wasmtime-wasi, which keeps it as the socket's
/// `in_progress_operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Started {
    Bind,
    Listen,
    Connect,
}

/// The guest's handle on a TCP socket (`wasi:sockets/tcp.tcp-socket`).
pub(crate) struct SimTcpSocket {
    pub at: SocketRef,
    /// The start-* call awaiting its finish-*, if any.
    pub started: Option<Started>,
    /// The streams' states, once they were handed out (connected or accepted).
    pub streams: Option<SharedStreams>,
    /// A listener whose pollable reported a connection. wasmtime-wasi accepts that
    /// connection from the kernel as it polls, and closes it gracefully (not with a
    /// reset) if the listener is dropped before the guest accepts it; simnet does the
    /// same so that guests see the same thing on both.
    pub pre_accepted: bool,
}

/// A socket closes when its handle goes: the guest dropped it, or the guest's store
/// went with the guest. Unless the world already disposed of it (a crash, or a run
/// that stopped with the guest still running), it closes as wasmtime-wasi closes a
/// socket: the streams' halves shut down first (a connected socket sends its FIN
/// after the buffered data), then the descriptor closes (a reset if received data
/// was left unread).
impl Drop for SimTcpSocket {
    fn drop(&mut self) {
        let mut w = lock(&self.at.world);
        if !w.owns(self.at.socket) {
            return;
        }
        if self.pre_accepted
            && let Ok((conn, _)) = w.net.accept(self.at.socket)
        {
            // The connection wasmtime-wasi would already hold: closed, not reset.
            let _ = w.net.close(conn);
        }
        if self.streams.is_some() {
            if w.tearing_down == Some(self.at.guest) {
                w.net.discard_held(self.at.socket);
            }
            let _ = w
                .net
                .shutdown(self.at.socket, simnet_core::ShutdownType::Both);
        }
        w.close_socket(self.at.socket);
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for SimTcpSocket {
    async fn ready(&mut self) {
        // wasmtime-wasi's pollable is ready at once while `start-listen` awaits its
        // finish, whatever the queue holds.
        let listen_started = self.started == Some(Started::Listen);
        if self.started == Some(Started::Connect) {
            // The first poll starts the connect (see `start-connect`).
            let mut w = lock(&self.at.world);
            if w.net.send_connect(self.at.socket) {
                w.net.settle();
            }
        }
        self.at.ready_or(Interest::Socket, listen_started).await;
        let mut w = lock(&self.at.world);
        if self.started == Some(Started::Connect) {
            // As wasmtime-wasi's, the pollable takes the connect's outcome: the
            // socket is connected (or closed with the error) before `finish-connect`.
            let _ = w.net.connect_outcome(self.at.socket);
        }
        let listening = w.net.is_listening(self.at.socket).unwrap_or(false);
        // wasmtime-wasi's pollable accepts ahead only once `finish-listen` is done.
        if listening && !listen_started {
            self.pre_accepted = true;
        }
    }
}

pub(crate) struct TcpInput {
    pub at: SocketRef,
    pub states: SharedStreams,
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for TcpInput {
    async fn ready(&mut self) {
        if lock_states(&self.states).read == ReadState::Closed {
            return;
        }
        self.at.ready(Interest::Read).await
    }
}

/// Count a failure the guest met (unless it was injected on this very call).
fn note_failure<T>(w: &mut World, method: Method, injected: bool, r: &Result<T, CoreStreamError>) {
    if let Err(CoreStreamError::Failed(code)) = r
        && !injected
    {
        w.net.record_api_error(method, *code);
    }
}

impl InputStream for TcpInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let mut st = lock_states(&self.states);
        if st.read == ReadState::Closed {
            return Err(StreamError::Closed);
        }
        if size == 0 {
            return Ok(Bytes::new());
        }
        let mut w = lock(&self.at.world);
        let effect = w.inject(self.at.host, Some(self.at.socket), Method::Read);
        if w.net.is_stalled(self.at.socket) {
            return Ok(Bytes::new());
        }
        let size = if effect == Some(Effect::ShortRead) {
            size.min(1)
        } else {
            size
        };
        let injected = matches!(effect, Some(Effect::Error(_)));
        // Bytes as the writer wrote them: no copy here, and none when wasmtime lowers
        // them into the guest's memory if the sender's buffer has let go of them.
        let result = w.net.read_bytes(self.at.socket, size.min(MAX_READ));
        w.net.settle();
        note_failure(&mut w, Method::Read, injected, &result);
        match result {
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                st.read = ReadState::Closed;
                Err(stream_error(e))
            }
        }
    }
}

pub(crate) struct TcpOutput {
    pub at: SocketRef,
    pub states: SharedStreams,
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for TcpOutput {
    async fn ready(&mut self) {
        if matches!(lock_states(&self.states).write, WriteState::Closed(_)) {
            return;
        }
        self.at.ready(Interest::Write).await
    }
}

impl OutputStream for TcpOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut st = lock_states(&self.states);
        match st.write {
            WriteState::Closed(e) => return Err(e.into()),
            WriteState::Open { permit } if bytes.len() <= permit => {}
            WriteState::Open { permit } => {
                return Err(StreamError::Trap(wasmtime::format_err!(
                    "write of {} bytes exceeds the {permit} bytes check-write permitted",
                    bytes.len()
                )));
            }
            WriteState::Closing => {
                return Err(StreamError::Trap(wasmtime::format_err!(
                    "write of {} bytes while the stream is shutting down",
                    bytes.len()
                )));
            }
        }
        let mut w = lock(&self.at.world);
        if w.net.held_bytes(self.at.socket) > 0 {
            // wasmtime-wasi is still handing the last write to the kernel: no write,
            // not even an empty one, is permitted until it is done.
            return Err(StreamError::Trap(wasmtime::format_err!(
                "write of {} bytes while the previous write is still in progress",
                bytes.len()
            )));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let written = w.net.write_granted(self.at.socket, bytes);
        // Loopback segments arrive (and are answered) within the call, as a kernel
        // handles them within `send`.
        w.net.settle();
        match written {
            Ok(_) => {
                st.write = WriteState::Open { permit: 0 };
                Ok(())
            }
            Err(e) => {
                note_failure::<()>(&mut w, Method::Write, false, &Err(e));
                let e = write_error(e);
                st.write = WriteState::Closed(e);
                Err(e.into())
            }
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Written bytes are already in the socket's send buffer: nothing to flush.
        match lock_states(&self.states).write {
            WriteState::Closed(e) => Err(e.into()),
            WriteState::Open { .. } | WriteState::Closing => Ok(()),
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let mut st = lock_states(&self.states);
        if let WriteState::Closed(e) = st.write {
            return Err(e.into());
        }
        let mut w = lock(&self.at.world);
        // A write still being handed over when the connection failed ends with it.
        if let Some(failure) = w.net.fail_held_write(self.at.socket) {
            note_failure::<()>(&mut w, Method::Write, false, &Err(failure));
            let e = write_error(failure);
            st.write = WriteState::Closed(e);
            return Err(e.into());
        }
        if st.write == WriteState::Closing {
            if w.net.held_bytes(self.at.socket) > 0 {
                return Ok(0);
            }
            st.write = WriteState::Closed(WriteError::Closed);
            return Err(StreamError::Closed);
        }
        let effect = w.inject(self.at.host, Some(self.at.socket), Method::Write);
        if let Some(Effect::Error(code)) = effect {
            // This call reports the injected error; the kernel reports an error once,
            // so it is taken from the connection.
            let _ = w.net.check_write(self.at.socket);
            st.write = WriteState::Closed(WriteError::Failed(code));
            return Err(WriteError::Failed(code).into());
        }
        let stalled = w.net.is_stalled(self.at.socket);
        let permit = if stalled || !w.net.is_ready(self.at.socket, Interest::Write) {
            0
        } else {
            WRITE_GRANT
        };
        let permit = if effect == Some(Effect::ShortWrite) {
            permit.min(1)
        } else {
            permit
        };
        st.write = WriteState::Open { permit };
        Ok(permit)
    }
}
