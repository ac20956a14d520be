//! `tcp-socket` of `wasi:sockets/types@0.3` over simnet-core's sockets: `connect` as
//! a task, `listen` as a stream of accepted sockets, `send` consuming a `stream<u8>`
//! and `receive` producing one, each with a `future` of its result. States and
//! error codes follow wasmtime-wasi 48's `p3` host.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use simnet_core::{
    Effect, ErrorCode as CoreError, Interest, Method, ShutdownType, SocketId, StreamError, TcpState,
};
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Access, Accessor, Destination, FutureReader, Resource, Source, StreamConsumer, StreamProducer,
    StreamReader, StreamResult,
};
use wasmtime_wasi::p3::bindings::sockets::types::{
    self, ErrorCode as WitError, HostTcpSocket, HostTcpSocketWithStore, IpAddressFamily,
    IpSocketAddress, TcpSocket,
};
use wasmtime_wasi::p3::sockets::{SocketError, SocketResult};

use super::{Completion, SimSocketsP3, call, family, poll_ready, wit_error, wit_family};
use crate::host::SimSocketsView;
use crate::streams::SocketRef;
use crate::world::lock;

/// Largest read handed to a guest at once.
const MAX_READ: usize = 64 * 1024;

/// The network socket behind a handle and the streams taken from it: it closes
/// when the last of them goes, as wasmtime-wasi's shares its kernel socket. The
/// streams shut their halves down as they go; closing then resets the connection
/// if received bytes were left unread, as a kernel's `close` does.
pub(crate) struct Held {
    pub at: SocketRef,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut w = lock(&self.at.world);
        // A crash (or a run stopped with the guest running) disposed of it already.
        if !w.owns(self.at.socket) {
            return;
        }
        w.close_socket(self.at.socket);
        w.net.settle();
    }
}

/// What the WASI layer knows of a socket beyond the network's state.
#[derive(Clone, Debug)]
enum Phase {
    /// Created, perhaps bound: it may connect or listen.
    Fresh,
    /// `connect` is under way.
    Connecting,
    Listening,
    Connected {
        sending: bool,
        receiving: bool,
    },
    /// A connect failed, or (with no network socket) an accept did: every later
    /// call reports its error.
    Failed(WitError),
}

/// The guest's handle on a TCP socket.
pub(crate) struct P3TcpSocket {
    /// The network socket; `None` for a failed accept's handle, which has none.
    held: Option<Arc<Held>>,
    family: simnet_core::Family,
    phase: Phase,
}

impl P3TcpSocket {
    /// The network socket: every phase but a failed accept's has one.
    fn held(&self) -> SocketResult<&Arc<Held>> {
        match (&self.held, &self.phase) {
            (Some(held), _) => Ok(held),
            (None, Phase::Failed(e)) => Err(e.clone().into()),
            (None, _) => Err(WitError::InvalidState.into()),
        }
    }
}

fn mine(r: &Resource<TcpSocket>) -> Resource<P3TcpSocket> {
    Resource::new_borrow(r.rep())
}

fn trap(e: impl Into<wasmtime::Error>) -> SocketError {
    SocketError::trap(e)
}

impl SimSocketsView<'_> {
    fn p3_tcp(&self, r: &Resource<TcpSocket>) -> SocketResult<&P3TcpSocket> {
        self.table.get(&mine(r)).map_err(trap)
    }

    fn p3_tcp_mut(&mut self, r: &Resource<TcpSocket>) -> SocketResult<&mut P3TcpSocket> {
        self.table.get_mut(&mine(r)).map_err(trap)
    }

    /// A read of the socket's settings, refused while a connect is under way as
    /// wasmtime-wasi refuses it, and with a failed connect's error after one.
    fn p3_settled<R>(
        &self,
        r: &Resource<TcpSocket>,
        f: impl FnOnce(&mut simnet_core::Net, SocketId) -> Result<R, CoreError>,
    ) -> SocketResult<R> {
        let sock = self.p3_tcp(r)?;
        match &sock.phase {
            Phase::Connecting => return Err(WitError::InvalidState.into()),
            Phase::Failed(e) => return Err(e.clone().into()),
            _ => {}
        }
        let at = &sock.held()?.at;
        let mut w = lock(&at.world);
        f(&mut w.net, at.socket).map_err(|e| wit_error(e).into())
    }

    /// `p3_settled` for a setter wasmtime-wasi refuses 0 for (`invalid-argument`).
    fn p3_set_nonzero(
        &self,
        r: &Resource<TcpSocket>,
        zero: bool,
        f: impl FnOnce(&mut simnet_core::Net, SocketId) -> Result<(), CoreError>,
    ) -> SocketResult<()> {
        if zero {
            return Err(WitError::InvalidArgument.into());
        }
        self.p3_settled(r, f)
    }
}

fn push_tcp(
    view: &mut SimSocketsView<'_>,
    socket: SocketId,
    phase: Phase,
) -> SocketResult<Resource<TcpSocket>> {
    let family = {
        let mut w = lock(&view.ctx.world);
        w.set_owner(socket, view.ctx.guest);
        w.net.address_family(socket).map_err(wit_error)?
    };
    let at = SocketRef {
        world: view.ctx.world.clone(),
        guest: view.ctx.guest,
        host: view.ctx.host,
        socket,
    };
    let sock = P3TcpSocket {
        held: Some(Arc::new(Held { at })),
        family,
        phase,
    };
    push_handle(view, sock)
}

fn push_handle(
    view: &mut SimSocketsView<'_>,
    sock: P3TcpSocket,
) -> SocketResult<Resource<TcpSocket>> {
    let r = view.table.push(sock).map_err(trap)?;
    Ok(Resource::new_own(r.rep()))
}

impl types::Host for SimSocketsView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<WitError> {
        error.downcast()
    }
}

impl HostTcpSocket for SimSocketsView<'_> {
    fn create(&mut self, address_family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        if !self.ctx.caps.tcp {
            return Err(WitError::AccessDenied.into());
        }
        let id = {
            let mut w = lock(&self.ctx.world);
            if let Some(Effect::Error(code)) =
                w.inject(self.ctx.host, None, Method::CreateTcpSocket)
            {
                return Err(wit_error(code).into());
            }
            w.net
                .create_tcp_socket(self.ctx.host, family(address_family))
                .map_err(wit_error)?
        };
        push_tcp(self, id, Phase::Fresh)
    }

    async fn bind(
        &mut self,
        this: Resource<TcpSocket>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let sock = self.p3_tcp(&this)?;
        if !matches!(sock.phase, Phase::Fresh) {
            return Err(WitError::InvalidState.into());
        }
        call(&sock.held()?.at, Method::StartBind, |net, id| {
            net.bind(id, local_address.into())
        })
    }

    fn get_local_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        self.p3_settled(&this, |net, id| net.local_address(id))
            .map(Into::into)
    }

    fn get_remote_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        self.p3_settled(&this, |net, id| net.remote_address(id))
            .map(Into::into)
    }

    fn get_is_listening(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<bool> {
        Ok(matches!(
            self.table.get(&mine(&this))?.phase,
            Phase::Listening
        ))
    }

    fn get_address_family(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> wasmtime::Result<IpAddressFamily> {
        Ok(wit_family(self.table.get(&mine(&this))?.family))
    }

    fn set_listen_backlog_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.p3_set_nonzero(&this, value == 0, |net, id| {
            net.set_listen_backlog_size(id, value)
        })
    }

    fn get_keep_alive_enabled(&mut self, this: Resource<TcpSocket>) -> SocketResult<bool> {
        self.p3_settled(&this, |net, id| net.keep_alive_enabled(id))
    }

    fn set_keep_alive_enabled(
        &mut self,
        this: Resource<TcpSocket>,
        value: bool,
    ) -> SocketResult<()> {
        self.p3_settled(&this, |net, id| net.set_keep_alive_enabled(id, value))
    }

    fn get_keep_alive_idle_time(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        self.p3_settled(&this, |net, id| net.keep_alive_idle_time(id))
    }

    fn set_keep_alive_idle_time(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.p3_set_nonzero(&this, value == 0, |net, id| {
            net.set_keep_alive_idle_time(id, value)
        })
    }

    fn get_keep_alive_interval(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        self.p3_settled(&this, |net, id| net.keep_alive_interval(id))
    }

    fn set_keep_alive_interval(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.p3_set_nonzero(&this, value == 0, |net, id| {
            net.set_keep_alive_interval(id, value)
        })
    }

    fn get_keep_alive_count(&mut self, this: Resource<TcpSocket>) -> SocketResult<u32> {
        self.p3_settled(&this, |net, id| net.keep_alive_count(id))
    }

    fn set_keep_alive_count(&mut self, this: Resource<TcpSocket>, value: u32) -> SocketResult<()> {
        self.p3_set_nonzero(&this, value == 0, |net, id| {
            net.set_keep_alive_count(id, value)
        })
    }

    fn get_hop_limit(&mut self, this: Resource<TcpSocket>) -> SocketResult<u8> {
        self.p3_settled(&this, |net, id| net.hop_limit(id))
    }

    fn set_hop_limit(&mut self, this: Resource<TcpSocket>, value: u8) -> SocketResult<()> {
        self.p3_settled(&this, |net, id| net.set_hop_limit(id, value))
    }

    fn get_receive_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        self.p3_settled(&this, |net, id| net.receive_buffer_size(id))
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.p3_settled(&this, |net, id| net.set_receive_buffer_size(id, value))
    }

    fn get_send_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        self.p3_settled(&this, |net, id| net.send_buffer_size(id))
    }

    fn set_send_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        self.p3_settled(&this, |net, id| net.set_send_buffer_size(id, value))
    }

    fn drop(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<()> {
        // The network socket closes once the streams taken from it are gone too.
        self.table
            .delete(Resource::<P3TcpSocket>::new_own(this.rep()))?;
        Ok(())
    }
}

impl<T: Send + 'static> HostTcpSocketWithStore<T> for SimSocketsP3 {
    async fn connect(
        store: &Accessor<T, Self>,
        socket: Resource<TcpSocket>,
        remote_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let at = store.with(|mut s| -> SocketResult<SocketRef> {
            let mut view = s.get();
            let sock = view.p3_tcp(&socket)?;
            if !matches!(sock.phase, Phase::Fresh) {
                return Err(WitError::InvalidState.into());
            }
            let at = sock.held()?.at.clone();
            call(&at, Method::StartConnect, |net, id| {
                net.prepare_connect(id, remote_address.into())
            })?;
            view.p3_tcp_mut(&socket)?.phase = Phase::Connecting;
            Ok(at)
        })?;
        let outcome = finish_connect(&at).await;
        store.with(|mut s| -> SocketResult<()> {
            let mut view = s.get();
            let sock = view.p3_tcp_mut(&socket)?;
            sock.phase = match &outcome {
                Ok(()) => Phase::Connected {
                    sending: false,
                    receiving: false,
                },
                Err(e) => Phase::Failed(e.clone()),
            };
            Ok(())
        })?;
        outcome.map_err(Into::into)
    }

    async fn listen(
        mut store: Access<'_, T, Self>,
        socket: Resource<TcpSocket>,
    ) -> SocketResult<StreamReader<Resource<TcpSocket>>> {
        let getter = store.getter();
        let mut view = store.get();
        let sock = view.p3_tcp(&socket)?;
        // Only a fresh socket listens (one whose connect failed is not fresh).
        if !matches!(sock.phase, Phase::Fresh) {
            return Err(WitError::InvalidState.into());
        }
        let held = sock.held()?.clone();
        let family = sock.family;
        call(&held.at, Method::StartListen, |net, id| {
            // As wasmtime-wasi, an unbound socket is bound to an ephemeral port first.
            if net.local_address(id).is_err() {
                let any = match net.address_family(id)? {
                    simnet_core::Family::Ipv4 => "0.0.0.0:0",
                    simnet_core::Family::Ipv6 => "[::]:0",
                };
                let any = any.parse().map_err(|_| CoreError::Unknown)?;
                net.bind(id, any)?;
            }
            net.listen(id)
        })?;
        view.p3_tcp_mut(&socket)?.phase = Phase::Listening;
        let producer = Listener {
            held,
            family,
            ahead: None,
            getter,
        };
        StreamReader::new(&mut store, producer).map_err(trap)
    }

    fn send(
        mut store: Access<'_, T, Self>,
        socket: Resource<TcpSocket>,
        mut data: StreamReader<u8>,
    ) -> wasmtime::Result<FutureReader<Result<(), WitError>>> {
        let view = store.get();
        let taken = take_stream(view, &socket, Direction::Send)?;
        match taken {
            Ok(held) => {
                let done = Completion::new(held.at.world.clone(), held.at.guest);
                let future = done.future();
                data.pipe(&mut store, Sender { held, done })?;
                FutureReader::new(&mut store, future)
            }
            Err(e) => {
                data.close(&mut store)?;
                FutureReader::new(&mut store, async move { wasmtime::error::Ok(Err(e)) })
            }
        }
    }

    fn receive(
        mut store: Access<'_, T, Self>,
        socket: Resource<TcpSocket>,
    ) -> wasmtime::Result<(StreamReader<u8>, FutureReader<Result<(), WitError>>)> {
        let view = store.get();
        match take_stream(view, &socket, Direction::Receive)? {
            Ok(held) => {
                let done = Completion::new(held.at.world.clone(), held.at.guest);
                let future = done.future();
                let stream = StreamReader::new(&mut store, Receiver { held, done })?;
                Ok((stream, FutureReader::new(&mut store, future)?))
            }
            Err(e) => Ok((
                StreamReader::new(&mut store, std::iter::empty())?,
                FutureReader::new(&mut store, async move { wasmtime::error::Ok(Err(e)) })?,
            )),
        }
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Send,
    Receive,
}

/// Take the socket's send or receive stream: once each, and only once connected.
fn take_stream(
    view: SimSocketsView<'_>,
    socket: &Resource<TcpSocket>,
    direction: Direction,
) -> wasmtime::Result<Result<Arc<Held>, WitError>> {
    let sock = view.table.get_mut(&mine(socket))?;
    let taken = match (&mut sock.phase, direction) {
        (Phase::Connected { sending, .. }, Direction::Send) if !*sending => {
            *sending = true;
            sock.held.clone().ok_or(WitError::InvalidState)
        }
        (Phase::Connected { receiving, .. }, Direction::Receive) if !*receiving => {
            *receiving = true;
            sock.held.clone().ok_or(WitError::InvalidState)
        }
        (Phase::Failed(e), _) => Err(e.clone()),
        _ => Err(WitError::InvalidState),
    };
    Ok(taken)
}

/// Drive a connect begun with `prepare_connect` to its outcome: the first poll sends
/// the SYN (as wasmtime-wasi's connect starts when first polled), then the task
/// waits for the handshake.
async fn finish_connect(at: &SocketRef) -> Result<(), WitError> {
    let mut started = false;
    std::future::poll_fn(|cx| {
        loop {
            if let Some(outcome) = connect_outcome(at, &mut started) {
                return Poll::Ready(outcome);
            }
            if poll_ready(at, cx, Interest::Socket, true).is_pending() {
                return Poll::Pending;
            }
        }
    })
    .await
}

/// The connect's outcome, if it has one (a fault may give it one).
fn connect_outcome(at: &SocketRef, started: &mut bool) -> Option<Result<(), WitError>> {
    let mut w = lock(&at.world);
    if !std::mem::replace(started, true) && w.net.send_connect(at.socket) {
        w.net.settle();
    }
    if let Some(Effect::Error(code)) = w.inject(at.host, Some(at.socket), Method::FinishConnect) {
        let _ = w.net.fail_connect(at.socket, code);
        return Some(Err(wit_error(code)));
    }
    if w.net.is_stalled(at.socket) {
        return None;
    }
    let outcome = w.net.connect_outcome(at.socket)?;
    if let Err(code) = outcome {
        w.net.record_api_error(Method::FinishConnect, code);
    }
    Some(outcome.map_err(wit_error))
}

/// The host end of a `listen` stream: each read accepts one connection.
struct Listener<T: 'static> {
    held: Arc<Held>,
    /// The listener's family, which its accepted sockets have.
    family: simnet_core::Family,
    /// An accept made for a readiness check and not yet handed out (wasmtime-wasi
    /// accepts as it checks). A connection is closed (reset if it holds unread
    /// data, as `close` does) if the stream goes first.
    ahead: Option<Result<SocketId, CoreError>>,
    getter: for<'a> fn(&'a mut T) -> SimSocketsView<'a>,
}

impl<T: 'static> Drop for Listener<T> {
    fn drop(&mut self) {
        if let Some(Ok(conn)) = self.ahead.take() {
            let mut w = lock(&self.held.at.world);
            if w.owns(self.held.at.socket) {
                let _ = w.net.close(conn);
                w.net.settle();
            }
        }
    }
}

impl<T: 'static> Listener<T> {
    /// Accept a connection (or take the one accepted ahead).
    fn poll_accept(&mut self, cx: &Context<'_>, wait: bool) -> Poll<Result<SocketId, CoreError>> {
        if let Some(accepted) = self.ahead.take() {
            return Poll::Ready(accepted);
        }
        let at = &self.held.at;
        let accepted = {
            let mut w = lock(&at.world);
            match w.inject(at.host, Some(at.socket), Method::Accept) {
                Some(Effect::Error(code)) => Err(code),
                // After the fault had its say: a stall it just made holds this call.
                _ if w.net.is_stalled(at.socket) => Err(CoreError::WouldBlock),
                _ => {
                    let accepted = w.net.accept(at.socket).map(|(id, _)| id);
                    if let Err(code) = accepted
                        && code != CoreError::WouldBlock
                    {
                        w.net.record_api_error(Method::Accept, code);
                    }
                    accepted
                }
            }
        };
        match accepted {
            Err(CoreError::WouldBlock) => match poll_ready(at, cx, Interest::Socket, wait) {
                Poll::Ready(()) => self.poll_accept(cx, wait),
                Poll::Pending => Poll::Pending,
            },
            other => Poll::Ready(other),
        }
    }
}

impl<T: 'static> StreamProducer<T> for Listener<T> {
    type Item = Resource<TcpSocket>;
    type Buffer = Option<Self::Item>;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, T>,
        mut dst: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let probe = dst.remaining(&mut store) == Some(0);
        let accepted = match self.poll_accept(cx, !finish) {
            Poll::Ready(accepted) => accepted,
            Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
            Poll::Pending => return Poll::Pending,
        };
        if probe {
            self.ahead = Some(accepted);
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        let mut view = (self.getter)(store.data_mut());
        let socket = match accepted {
            Ok(conn) => {
                let connected = Phase::Connected {
                    sending: false,
                    receiving: false,
                };
                push_tcp(&mut view, conn, connected)
            }
            // As wasmtime-wasi: a failed accept hands out a socket that reports the
            // error on every call.
            Err(code) => push_handle(
                &mut view,
                P3TcpSocket {
                    held: None,
                    family: self.family,
                    phase: Phase::Failed(wit_error(code)),
                },
            ),
        };
        let socket = socket.map_err(|e| {
            e.downcast()
                .map(|code| wasmtime::format_err!("cannot hand out a connection: {code:?}"))
                .unwrap_or_else(|e| e)
        })?;
        dst.set_buffer(Some(socket));
        Poll::Ready(Ok(StreamResult::Completed))
    }
}

/// The host end of a `receive` stream: reads from the connection.
struct Receiver {
    held: Arc<Held>,
    done: Arc<Completion>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // The guest dropped the stream (or it ended): reading shuts down, as
        // wasmtime-wasi shuts its half of the socket.
        let at = &self.held.at;
        {
            let mut w = lock(&at.world);
            if w.owns(at.socket) && w.net.state(at.socket) == Ok(TcpState::Connected) {
                let _ = w.net.shutdown(at.socket, ShutdownType::Receive);
            }
        }
        self.done.complete(Ok(()));
    }
}

impl Receiver {
    /// Read up to `max` bytes: `Ok(None)` when none are there yet.
    fn read(&self, max: usize) -> Result<Option<Bytes>, Option<WitError>> {
        let at = &self.held.at;
        let mut w = lock(&at.world);
        let effect = w.inject(at.host, Some(at.socket), Method::Read);
        if let Some(Effect::Error(code)) = effect {
            return Err(Some(wit_error(code)));
        }
        if w.net.is_stalled(at.socket) {
            return Ok(None);
        }
        let max = match effect {
            Some(Effect::ShortRead) => max.min(1),
            _ => max,
        };
        let result = w.net.read_bytes(at.socket, max.min(MAX_READ));
        w.net.settle();
        match result {
            Ok(bytes) if bytes.is_empty() => Ok(None),
            Ok(bytes) => Ok(Some(bytes)),
            Err(StreamError::Closed) => Err(None),
            Err(StreamError::Failed(code)) => {
                w.net.record_api_error(Method::Read, code);
                Err(Some(wit_error(code)))
            }
        }
    }
}

impl<D> StreamProducer<D> for Receiver {
    type Item = u8;
    type Buffer = Bytes;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let at = &self.held.at;
        let wanted = dst.remaining(&mut store);
        if wanted == Some(0) {
            // A readiness check.
            return match poll_ready(at, cx, Interest::Read, !finish) {
                Poll::Ready(()) => Poll::Ready(Ok(StreamResult::Completed)),
                Poll::Pending if finish => Poll::Ready(Ok(StreamResult::Cancelled)),
                Poll::Pending => Poll::Pending,
            };
        }
        loop {
            match self.read(wanted.unwrap_or(MAX_READ)) {
                Ok(Some(bytes)) => {
                    dst.set_buffer(bytes);
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                Ok(None) => match poll_ready(at, cx, Interest::Read, !finish) {
                    Poll::Ready(()) => continue,
                    Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
                    Poll::Pending => return Poll::Pending,
                },
                Err(error) => {
                    self.done.complete(error.map_or(Ok(()), Err));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            }
        }
    }
}

/// The host end of a `send` stream: writes what the send buffer takes.
struct Sender {
    held: Arc<Held>,
    done: Arc<Completion>,
}

impl Drop for Sender {
    fn drop(&mut self) {
        // The guest ended the stream: a FIN follows the buffered bytes.
        let at = &self.held.at;
        {
            let mut w = lock(&at.world);
            if w.owns(at.socket) && w.net.state(at.socket) == Ok(TcpState::Connected) {
                let _ = w.net.shutdown(at.socket, ShutdownType::Send);
                w.net.settle();
            }
        }
        self.done.complete(Ok(()));
    }
}

impl Sender {
    /// Write what fits of `data`: `Ok(0)` when nothing does yet.
    fn write(&self, data: &[u8]) -> Result<usize, WitError> {
        let at = &self.held.at;
        let mut w = lock(&at.world);
        let effect = w.inject(at.host, Some(at.socket), Method::Write);
        if let Some(Effect::Error(code)) = effect {
            return Err(wit_error(code));
        }
        if w.net.is_stalled(at.socket) {
            return Ok(0);
        }
        let data = match effect {
            Some(Effect::ShortWrite) => &data[..data.len().min(1)],
            _ => data,
        };
        let result = w.net.write(at.socket, data);
        w.net.settle();
        match result {
            Ok(n) => Ok(n),
            // Writing after the connection ended: EPIPE.
            Err(StreamError::Closed) => Err(WitError::ConnectionBroken),
            Err(StreamError::Failed(code)) => {
                w.net.record_api_error(Method::Write, code);
                Err(wit_error(code))
            }
        }
    }
}

impl<D> StreamConsumer<D> for Sender {
    type Item = u8;

    fn poll_consume(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<D>,
        src: Source<Self::Item>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let at = &self.held.at;
        let mut src = src.as_direct(store);
        if src.remaining().is_empty() {
            return match poll_ready(at, cx, Interest::Write, !finish) {
                Poll::Ready(()) => Poll::Ready(Ok(StreamResult::Completed)),
                Poll::Pending if finish => Poll::Ready(Ok(StreamResult::Cancelled)),
                Poll::Pending => Poll::Pending,
            };
        }
        loop {
            match self.write(src.remaining()) {
                Ok(0) => match poll_ready(at, cx, Interest::Write, !finish) {
                    Poll::Ready(()) => continue,
                    Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
                    Poll::Pending => return Poll::Pending,
                },
                Ok(n) => {
                    src.mark_read(n);
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                Err(e) => {
                    self.done.complete(Err(e));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            }
        }
    }
}
