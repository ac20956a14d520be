//! The TCP socket calls of the native API, one-shot: `bind`, `listen`, `accept`,
//! `begin_connect` and `connect_outcome`, reads, writes, options, `close`. Each checks
//! the conditions wasmtime-wasi 48 checks below its WASI 0.2 layer, in the same order,
//! and gives Linux's answers. The WASI 0.2 shape over them (start/finish pairs, the
//! calls refused while a connect is in progress) is simnet-wasi's.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::autotune::BufferSize;
use crate::conn::{Conn, End, Phase};
use crate::error::{ErrorCode, StreamError};
use crate::ids::{ConnId, HostId, SocketId};
use crate::net::Net;
use crate::pipe::Pipe;
use crate::segment::Side;
use crate::socket::{
    Family, ListenQueue, ShutdownType, Socket, SocketOptions, SocketState, TcpState,
    clamp_buffer_size, clamp_keep_alive_count, clamp_keep_alive_time, is_valid_family,
    is_valid_remote, is_valid_unicast,
};
use crate::trace::TraceEvent;

/// What a pollable of a socket waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// The socket's own pollable: connect finished, or a connection to accept.
    Socket,
    /// The input stream: data, end of stream or an error to read.
    Read,
    /// The output stream: room to write, or an error to report.
    Write,
}

impl Net {
    /// `tcp-create-socket.create-tcp-socket`.
    pub fn create_tcp_socket(
        &mut self,
        host: HostId,
        family: Family,
    ) -> Result<SocketId, ErrorCode> {
        let id = self.new_socket_id(host)?;
        self.sockets[id.index()] = Some(Socket::new(host, family, &self.config.tcp));
        self.record(TraceEvent::SocketCreated {
            host,
            socket: id,
            family,
        });
        Ok(id)
    }

    /// Where a socket changes state (except when it closes and is gone); every
    /// change of its [`TcpState`] is traced.
    pub(crate) fn set_state(&mut self, id: SocketId, to: SocketState) {
        let Ok(sock) = self.socket_mut(id) else {
            return;
        };
        let (from, to_view) = (sock.state.view(), to.view());
        sock.state = to;
        if from != to_view {
            self.record(TraceEvent::StateChanged {
                socket: id,
                from,
                to: to_view,
            });
        }
    }

    pub fn state(&self, id: SocketId) -> Result<TcpState, ErrorCode> {
        Ok(self.socket(id)?.state.view())
    }

    pub fn socket_host(&self, id: SocketId) -> Result<HostId, ErrorCode> {
        Ok(self.socket(id)?.host)
    }

    // ---- bind ----

    /// `bind`: an unbound socket takes `addr` (port 0 picks an ephemeral port).
    pub fn bind(&mut self, id: SocketId, addr: SocketAddr) -> Result<(), ErrorCode> {
        let sock = self.socket(id)?;
        if !matches!(sock.state, SocketState::Unbound) {
            return Err(ErrorCode::InvalidState);
        }
        if !is_valid_unicast(addr.ip()) || !is_valid_family(addr.ip(), sock.family) {
            return Err(ErrorCode::InvalidArgument);
        }
        let (family, host) = (sock.family, sock.host);
        let h = &mut self.hosts[host.index()];
        if !h.can_bind(addr.ip()) {
            return Err(ErrorCode::AddressNotBindable);
        }
        let port = if addr.port() == 0 {
            h.ephemeral_port(family, &self.config.tcp.ephemeral_ports)?
        } else if h.listener_conflict(addr) {
            return Err(ErrorCode::AddressInUse);
        } else {
            addr.port()
        };
        h.acquire_port(family, port);
        let local = SocketAddr::new(addr.ip(), port);
        self.set_state(id, SocketState::Bound { local });
        Ok(())
    }

    // ---- listen / accept ----

    /// `listen`: a bound socket starts taking connections.
    pub fn listen(&mut self, id: SocketId) -> Result<(), ErrorCode> {
        let sock = self.socket(id)?;
        let SocketState::Bound { local } = sock.state else {
            return Err(ErrorCode::InvalidState);
        };
        let host = sock.host;
        let h = &mut self.hosts[host.index()];
        if h.listener_conflict(local) {
            return Err(ErrorCode::AddressInUse);
        }
        h.add_listener(local, id);
        let queue = ListenQueue::default();
        self.set_state(id, SocketState::Listening { local, queue });
        Ok(())
    }

    /// `accept`: the next established connection, as a new connected socket, and the
    /// peer's address.
    pub fn accept(&mut self, id: SocketId) -> Result<(SocketId, SocketAddr), ErrorCode> {
        let sock = self.socket(id)?;
        let Some(queue) = sock.listen_queue() else {
            return Err(ErrorCode::InvalidState);
        };
        let Some(&conn_id) = queue.ready.front() else {
            return Err(ErrorCode::WouldBlock);
        };
        let (host, family, mut options) = (sock.host, sock.family, sock.options.clone());
        // Create the socket first: at the socket limit the connection stays queued.
        let new_id = self.create_tcp_socket(host, family)?;
        if let Some(queue) = self.socket_mut(id)?.listen_queue_mut() {
            queue.ready.pop_front();
        }
        let conn = self.conn_mut(conn_id).ok_or(ErrorCode::ConnectionAborted)?;
        let local = conn.addrs[Side::Server.index()];
        let remote = conn.addrs[Side::Client.index()];
        let end = conn.end_mut(Side::Server);
        end.listener = None;
        end.socket = Some(new_id);
        // Accepted sockets inherit the listener's options (Linux copies them). Its
        // buffers were sized when the SYN arrived, from the listener's sizes then.
        let (tx, rx) = (conn.tx(Side::Server), conn.rx(Side::Server));
        options.send_buffer = match tx.snd_tuning {
            Some(_) => BufferSize::Auto,
            None => BufferSize::Set(tx.snd_cap),
        };
        options.receive_buffer = match rx.rcv_tuning {
            Some(_) => BufferSize::Auto,
            None => BufferSize::Set(rx.rcv_cap),
        };
        let keep_alive = options.keep_alive_enabled;
        let h = &mut self.hosts[host.index()];
        h.acquire_port(family, local.port());
        h.stats.accepts += 1;
        self.socket_mut(new_id)?.options = options;
        let state = SocketState::Connected {
            local,
            conn: conn_id,
            side: Side::Server,
        };
        self.set_state(new_id, state);
        if keep_alive {
            self.arm_keep_alive(conn_id, Side::Server);
        }
        Ok((new_id, remote))
    }

    // ---- connect ----

    /// Send the SYN to `remote`: the socket is [`TcpState::Connecting`] until
    /// [`Net::connect_outcome`] reports how the handshake ended. A failure before the
    /// SYN leaves (no route, no free port) is reported there too, as wasmtime-wasi
    /// reports it at `finish-connect`.
    pub fn begin_connect(&mut self, id: SocketId, remote: SocketAddr) -> Result<(), ErrorCode> {
        self.prepare_connect(id, remote)?;
        self.send_connect(id);
        Ok(())
    }

    /// [`Net::begin_connect`] up to the SYN, which waits for [`Net::send_connect`]:
    /// wasmtime-wasi's connect is a future that does nothing until it is first
    /// polled, so a connect nobody polls never reaches the server.
    pub fn prepare_connect(&mut self, id: SocketId, remote: SocketAddr) -> Result<(), ErrorCode> {
        let sock = self.socket(id)?;
        let bound = match sock.state {
            SocketState::Unbound => None,
            SocketState::Bound { local } => Some(local),
            _ => return Err(ErrorCode::InvalidState),
        };
        let ip = remote.ip();
        if !is_valid_unicast(ip) || !is_valid_remote(remote) || !is_valid_family(ip, sock.family) {
            return Err(ErrorCode::InvalidArgument);
        }
        if let Err(error) = self.open_connection(id, bound, remote) {
            self.set_state(id, SocketState::ConnectFailed { bound, error });
        }
        Ok(())
    }

    fn open_connection(
        &mut self,
        id: SocketId,
        bound: Option<SocketAddr>,
        remote: SocketAddr,
    ) -> Result<(), ErrorCode> {
        let sock = self.socket(id)?;
        let (host, family, options) = (sock.host, sock.family, sock.options.clone());
        let h = &self.hosts[host.index()];
        let src_ip = match bound {
            Some(local) if !local.ip().is_unspecified() => local.ip(),
            _ => h
                .source_for(remote.ip())
                .ok_or(ErrorCode::RemoteUnreachable)?,
        };
        let server_host = if h.is_local(remote.ip()) {
            Some(host)
        } else {
            self.owner_of(remote.ip())
        };
        let port = match bound {
            Some(local) => local.port(),
            None => {
                let range = self.config.tcp.ephemeral_ports.clone();
                let h = &mut self.hosts[host.index()];
                let port = h.ephemeral_port(family, &range)?;
                h.acquire_port(family, port);
                port
            }
        };
        let local = SocketAddr::new(src_ip, port);

        let conn_id = ConnId(self.conns.len() as u32);
        let to = server_host.unwrap_or(host);
        let links = [self.link_for(host, to), self.link_for(to, host)];
        let mss = if to == host {
            self.config.tcp.loopback_mss
        } else {
            self.config.tcp.mss
        };
        let now = self.now;
        let rto = self.config.tcp.rto_initial;
        let mut client = End::new(Phase::SynSent, rto, now);
        client.socket = Some(id);
        let server = End::new(Phase::Idle, rto, now);
        let buffers = self.config.tcp.buffer_defaults();
        // The server's halves take the listener's sizes when the SYN arrives.
        let mut to_server = Pipe::new(0, 0);
        to_server.size_send_buffer(options.send_buffer, buffers);
        to_server.size_receive_buffer(BufferSize::Auto, buffers, now);
        let mut to_client = Pipe::new(0, 0);
        to_client.size_send_buffer(BufferSize::Auto, buffers);
        to_client.size_receive_buffer(options.receive_buffer, buffers, now);
        self.endpoints.push(([local, remote], [host, to]));
        self.conns.push(Some(Conn {
            id: conn_id,
            addrs: [local, remote],
            hosts: [host, to],
            links,
            mss,
            ends: [client, server],
            pipes: [to_server, to_client],
            last_arrival: [now; 2],
            looped: local == remote,
        }));
        let state = SocketState::Connecting {
            local,
            conn: conn_id,
        };
        self.set_state(id, state);
        if let Some(conn) = self.conn_mut(conn_id) {
            conn.end_mut(Side::Client).unsent_syn = Some(server_host.is_some());
        }
        Ok(())
    }

    /// Send the SYN of a connect [`Net::prepare_connect`] set up, unless it left
    /// already (or the connect failed before it could). Returns whether it left now.
    pub fn send_connect(&mut self, id: SocketId) -> bool {
        let Some((conn, Side::Client)) = self.socket(id).ok().and_then(|s| s.conn()) else {
            return false;
        };
        let Some(routable) = self
            .conn_mut(conn)
            .and_then(|c| c.end_mut(Side::Client).unsent_syn.take())
        else {
            return false;
        };
        self.send_first_syn(conn, routable);
        true
    }

    /// How a connect ended, once it has: `None` while the handshake runs. The socket
    /// moves to [`TcpState::Connected`], or to [`TcpState::Closed`] with the error
    /// every later call reports. A socket that is not connecting answers at once.
    pub fn connect_outcome(&mut self, id: SocketId) -> Option<Result<(), ErrorCode>> {
        let sock = match self.socket(id) {
            Ok(sock) => sock,
            Err(code) => return Some(Err(code)),
        };
        let (local, c) = match sock.state {
            SocketState::Connecting { local, conn } => (local, conn),
            SocketState::ConnectFailed { error, .. } => {
                self.end_connect(id, error);
                return Some(Err(error));
            }
            SocketState::Connected { .. } => return Some(Ok(())),
            SocketState::Closed { error } => return Some(Err(error)),
            _ => return Some(Err(ErrorCode::InvalidState)),
        };
        let keep_alive = sock.options.keep_alive_enabled;
        let established = self
            .conn(c)
            .is_some_and(|conn| conn.end(Side::Client).phase == Phase::Established);
        if established {
            let side = Side::Client;
            self.set_state(
                id,
                SocketState::Connected {
                    local,
                    conn: c,
                    side,
                },
            );
            if keep_alive {
                self.arm_keep_alive(c, side);
            }
            return Some(Ok(()));
        }
        let error = self.connect_error(id)?;
        self.end_connect(id, error);
        Some(Err(error))
    }

    /// The error a connect has failed with, without taking the outcome: `None` while
    /// its handshake runs, and once it succeeded.
    pub fn connect_error(&self, id: SocketId) -> Option<ErrorCode> {
        match self.socket(id).ok()?.state {
            SocketState::ConnectFailed { error, .. } | SocketState::Closed { error } => Some(error),
            SocketState::Connecting { conn, .. } => {
                match self.conn(conn).map(|conn| conn.end(Side::Client)) {
                    Some(end) if end.phase == Phase::Closed => {
                        Some(end.error.unwrap_or(ErrorCode::ConnectionReset))
                    }
                    Some(_) => None,
                    None => Some(ErrorCode::ConnectionReset),
                }
            }
            _ => None,
        }
    }

    /// End a connect with `code` whatever its handshake did, as a connect the network
    /// failed: the connection fails (the peer gets a reset if it knew it) and the
    /// socket closes with that error. For a fault injected at the connect's outcome.
    pub fn fail_connect(&mut self, id: SocketId, code: ErrorCode) -> Result<(), ErrorCode> {
        let state = &self.socket(id)?.state;
        if matches!(
            state,
            SocketState::Unbound | SocketState::Bound { .. } | SocketState::Listening { .. }
        ) {
            return Err(ErrorCode::InvalidState);
        }
        if let Some((c, side)) = state.conn() {
            self.fail_end(c, side, code);
        }
        self.end_connect(id, code);
        Ok(())
    }

    /// The connect ended with `error`: the socket lets go of its connection end and
    /// its port, and closes with that error.
    fn end_connect(&mut self, id: SocketId, error: ErrorCode) {
        let Ok(sock) = self.socket(id) else {
            return;
        };
        let (end, local) = (sock.state.conn(), sock.state.local());
        if let Some((c, side)) = end {
            self.detach_end(c, side);
        }
        if let Some(local) = local {
            self.release_port(id, local);
        }
        self.set_state(id, SocketState::Closed { error });
    }

    /// [`Net::begin_connect`], then run the simulation until the outcome is known.
    pub fn connect(&mut self, id: SocketId, remote: SocketAddr) -> Result<(), ErrorCode> {
        self.begin_connect(id, remote)?;
        loop {
            if let Some(outcome) = self.connect_outcome(id) {
                return outcome;
            }
            if !self.step() {
                return Err(ErrorCode::Timeout);
            }
        }
    }

    // ---- addresses and simple queries ----

    pub fn local_address(&self, id: SocketId) -> Result<SocketAddr, ErrorCode> {
        let state = &self.socket(id)?.state;
        match state.closed_error() {
            Some(error) => Err(error),
            None => state.local().ok_or(ErrorCode::InvalidState),
        }
    }

    pub fn remote_address(&self, id: SocketId) -> Result<SocketAddr, ErrorCode> {
        match self.socket(id)?.state {
            SocketState::Connected { conn, side, .. } => self
                .conn(conn)
                .map(|conn| conn.addrs[side.peer().index()])
                .ok_or(ErrorCode::InvalidState),
            SocketState::Closed { error } => Err(error),
            _ => Err(ErrorCode::InvalidState),
        }
    }

    pub fn is_listening(&self, id: SocketId) -> Result<bool, ErrorCode> {
        Ok(self.socket(id)?.state.view() == TcpState::Listening)
    }

    pub fn address_family(&self, id: SocketId) -> Result<Family, ErrorCode> {
        Ok(self.socket(id)?.family)
    }

    // ---- options ----

    pub fn set_listen_backlog_size(&mut self, id: SocketId, value: u64) -> Result<(), ErrorCode> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        let value = u32::try_from(value)
            .unwrap_or(i32::MAX as u32)
            .clamp(1, i32::MAX as u32);
        let sock = self.socket_mut(id)?;
        match sock.state {
            SocketState::Unbound | SocketState::Bound { .. } | SocketState::Listening { .. } => {
                sock.backlog = value;
                Ok(())
            }
            SocketState::Closed { error } => Err(error),
            SocketState::Connecting { .. }
            | SocketState::ConnectFailed { .. }
            | SocketState::Connected { .. } => Err(ErrorCode::InvalidState),
        }
    }

    /// The socket's options, as the getters would report them.
    pub fn options(&self, id: SocketId) -> Result<&SocketOptions, ErrorCode> {
        let sock = self.socket(id)?;
        sock.check_options_access()?;
        Ok(&sock.options)
    }

    fn options_mut(&mut self, id: SocketId) -> Result<&mut SocketOptions, ErrorCode> {
        let sock = self.socket_mut(id)?;
        sock.check_options_access()?;
        Ok(&mut sock.options)
    }

    pub fn keep_alive_enabled(&self, id: SocketId) -> Result<bool, ErrorCode> {
        Ok(self.options(id)?.keep_alive_enabled)
    }

    pub fn set_keep_alive_enabled(&mut self, id: SocketId, value: bool) -> Result<(), ErrorCode> {
        self.options_mut(id)?.keep_alive_enabled = value;
        self.refresh_keep_alive(id);
        Ok(())
    }

    pub fn keep_alive_idle_time(&self, id: SocketId) -> Result<u64, ErrorCode> {
        Ok(self.options(id)?.keep_alive_idle_time.as_nanos() as u64)
    }

    pub fn set_keep_alive_idle_time(&mut self, id: SocketId, nanos: u64) -> Result<(), ErrorCode> {
        if nanos == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        self.options_mut(id)?.keep_alive_idle_time = clamp_keep_alive_time(nanos);
        self.refresh_keep_alive(id);
        Ok(())
    }

    pub fn keep_alive_interval(&self, id: SocketId) -> Result<u64, ErrorCode> {
        Ok(self.options(id)?.keep_alive_interval.as_nanos() as u64)
    }

    pub fn set_keep_alive_interval(&mut self, id: SocketId, nanos: u64) -> Result<(), ErrorCode> {
        if nanos == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        self.options_mut(id)?.keep_alive_interval = clamp_keep_alive_time(nanos);
        Ok(())
    }

    pub fn keep_alive_count(&self, id: SocketId) -> Result<u32, ErrorCode> {
        Ok(self.options(id)?.keep_alive_count)
    }

    pub fn set_keep_alive_count(&mut self, id: SocketId, value: u32) -> Result<(), ErrorCode> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        self.options_mut(id)?.keep_alive_count = clamp_keep_alive_count(value);
        Ok(())
    }

    pub fn hop_limit(&self, id: SocketId) -> Result<u8, ErrorCode> {
        Ok(self.options(id)?.hop_limit)
    }

    pub fn set_hop_limit(&mut self, id: SocketId, value: u8) -> Result<(), ErrorCode> {
        let opts = self.options_mut(id)?;
        if value == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        opts.hop_limit = value;
        Ok(())
    }

    /// The receive buffer's size: for a connection the size in force (tuning may have
    /// grown it), otherwise the size set or the default.
    pub fn receive_buffer_size(&self, id: SocketId) -> Result<u64, ErrorCode> {
        let option = self.options(id)?.receive_buffer;
        Ok(match self.attached_conn(id) {
            Some((conn, side)) => conn.rx(side).rcv_cap,
            None => option.initial(self.config.tcp.receive_buffer),
        })
    }

    /// Set the receive buffer's size, which ends its tuning (Linux `SO_RCVBUF`).
    pub fn set_receive_buffer_size(&mut self, id: SocketId, value: u64) -> Result<(), ErrorCode> {
        let range = self.config.tcp.receive_buffer_range.clone();
        let opts = self.options_mut(id)?;
        let value = clamp_buffer_size(value, &range)?;
        opts.receive_buffer = BufferSize::Set(value);
        if let Some((c, side)) = self.socket(id)?.conn()
            && let Some(conn) = self.conn_mut(c)
        {
            let rx = conn.rx_mut(side);
            rx.rcv_cap = value;
            rx.rcv_tuning = None;
            self.maybe_window_update(c, side);
        }
        Ok(())
    }

    /// The send buffer's size (see [`Net::receive_buffer_size`]).
    pub fn send_buffer_size(&self, id: SocketId) -> Result<u64, ErrorCode> {
        let option = self.options(id)?.send_buffer;
        Ok(match self.attached_conn(id) {
            Some((conn, side)) => conn.tx(side).snd_cap,
            None => option.initial(self.config.tcp.send_buffer),
        })
    }

    /// Set the send buffer's size, which ends its tuning (Linux `SO_SNDBUF`).
    pub fn set_send_buffer_size(&mut self, id: SocketId, value: u64) -> Result<(), ErrorCode> {
        let range = self.config.tcp.send_buffer_range.clone();
        let opts = self.options_mut(id)?;
        let value = clamp_buffer_size(value, &range)?;
        opts.send_buffer = BufferSize::Set(value);
        if let Some((c, side)) = self.socket(id)?.conn()
            && let Some(conn) = self.conn_mut(c)
        {
            let tx = conn.tx_mut(side);
            tx.snd_cap = value;
            tx.snd_tuning = None;
        }
        Ok(())
    }

    /// The connection end a socket is attached to, if any.
    fn attached_conn(&self, id: SocketId) -> Option<(&Conn, Side)> {
        let (c, side) = self.socket(id).ok()?.conn()?;
        Some((self.conn(c)?, side))
    }

    // ---- streams ----

    /// The connection end behind a connected socket.
    fn connected(&self, id: SocketId) -> Result<(ConnId, Side), StreamError> {
        match self.socket(id).map_err(StreamError::Failed)?.state {
            SocketState::Connected { conn, side, .. } => Ok((conn, side)),
            _ => Err(StreamError::Failed(ErrorCode::InvalidState)),
        }
    }

    /// Take the end's pending error, if any, reporting it once (as `SO_ERROR` does).
    fn take_error(&mut self, c: ConnId, side: Side) -> Option<ErrorCode> {
        self.conn_mut(c)
            .and_then(|conn| conn.end_mut(side).error.take())
    }

    /// Read up to `buf.len()` bytes. `Ok(0)` means nothing is available yet (a WASI
    /// `read` returning an empty list); end of stream is `Err(StreamError::Closed)`.
    pub fn read(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, StreamError> {
        self.read_with(id, buf.len(), |rx| rx.read(buf))
    }

    /// [`Net::read`] without a copy: up to `max` bytes as they were written (so
    /// possibly fewer than are buffered), sharing the writer's chunk when it was
    /// written with [`Net::write_bytes`].
    pub fn read_bytes(&mut self, id: SocketId, max: usize) -> Result<Bytes, StreamError> {
        let mut out = Bytes::new();
        self.read_with(id, max, |rx| {
            out = rx.read_bytes(max);
            out.len()
        })?;
        Ok(out)
    }

    /// The checks and bookkeeping around a read of up to `max` bytes that `take`
    /// performs on the receiving pipe.
    fn read_with(
        &mut self,
        id: SocketId,
        max: usize,
        take: impl FnOnce(&mut Pipe) -> usize,
    ) -> Result<usize, StreamError> {
        let (c, side) = self.connected(id)?;
        if self.socket(id).map_err(StreamError::Failed)?.reader_closed {
            return Err(StreamError::Closed);
        }
        let conn = self.conn(c).ok_or(StreamError::Closed)?;
        let rx = conn.rx(side);
        if max == 0 {
            return Ok(0);
        }
        if rx.readable() > 0 {
            let host = conn.hosts[side.index()];
            let n = self.application_read(c, side, take);
            self.hosts[host.index()].stats.bytes_read += n as u64;
            return Ok(n);
        }
        let (fin, phase) = (rx.fin_received, conn.end(side).phase);
        if let Some(code) = self.take_error(c, side) {
            self.socket_mut(id)
                .map_err(StreamError::Failed)?
                .reader_closed = true;
            return Err(StreamError::Failed(code));
        }
        if fin || phase == Phase::Closed {
            return Err(StreamError::Closed);
        }
        Ok(0)
    }

    /// Free space in the send buffer, or why a write would fail now. Unlike
    /// [`Net::check_write`] it leaves a pending error for the next call to report.
    pub fn send_space(&self, id: SocketId) -> Result<usize, StreamError> {
        let (c, side) = self.connected(id)?;
        if self.socket(id).map_err(StreamError::Failed)?.writer_closed {
            return Err(StreamError::Closed);
        }
        let conn = self.conn(c).ok_or(StreamError::Closed)?;
        if let Some(code) = conn.end(side).error {
            return Err(StreamError::Failed(code));
        }
        if conn.end(side).phase == Phase::Closed || conn.tx(side).fin_seq.is_some() {
            return Err(StreamError::Closed);
        }
        Ok(conn.tx(side).send_space() as usize)
    }

    /// Bytes a granted write ([`Net::write_granted`]) left waiting for room in the
    /// send buffer: they enter it, in order, as acknowledgements free room.
    pub fn held_bytes(&self, id: SocketId) -> u64 {
        self.attached_conn(id)
            .map_or(0, |(conn, side)| conn.tx(side).held())
    }

    /// A granted write whose bytes still waited for room when the connection
    /// failed: what it ends with (the connection's error, taken since an error is
    /// reported once, or `Closed`), its waiting bytes dropped. `None` while the
    /// connection lives or nothing waits. As wasmtime-wasi's background write
    /// fails, and its stream reports that, not a new grant.
    pub fn fail_held_write(&mut self, id: SocketId) -> Option<StreamError> {
        let (c, side) = self.connected(id).ok()?;
        let conn = self.conn(c)?;
        let end = conn.end(side);
        if conn.tx(side).held() == 0 || (end.phase != Phase::Closed && end.error.is_none()) {
            return None;
        }
        let failure = match self.take_error(c, side) {
            Some(code) => StreamError::Failed(code),
            None => StreamError::Closed,
        };
        if let Some(conn) = self.conn_mut(c) {
            conn.tx_mut(side).discard_held();
        }
        Some(failure)
    }

    /// Drop the bytes a granted write left waiting for room: their writer went
    /// without waiting for them (a guest's store torn down mid-write, which aborts
    /// wasmtime-wasi's background write). A FIN queued since moves back to the
    /// last byte kept.
    pub fn discard_held(&mut self, id: SocketId) {
        if let Some((conn, side)) = self.socket(id).ok().and_then(|s| s.conn())
            && let Some(conn) = self.conn_mut(conn)
        {
            conn.tx_mut(side).discard_held();
        }
    }

    /// Bytes that can be written now without blocking; an error is reported once (as
    /// `SO_ERROR`), a closed connection as `Closed` (`EPIPE`).
    pub fn check_write(&mut self, id: SocketId) -> Result<usize, StreamError> {
        let result = self.send_space(id);
        if let Err(StreamError::Failed(_)) = result {
            let (c, side) = self.connected(id)?;
            self.take_error(c, side);
            self.socket_mut(id)
                .map_err(StreamError::Failed)?
                .writer_closed = true;
        }
        result
    }

    /// Write as much of `data` as the send buffer takes; returns how much it took.
    pub fn write(&mut self, id: SocketId, data: &[u8]) -> Result<usize, StreamError> {
        self.write_with(id, |tx| tx.write(data))
    }

    /// [`Net::write`] without a copy: the buffer keeps (as much as it takes of)
    /// `chunk` itself, and a reader can receive it without a copy either.
    pub fn write_bytes(&mut self, id: SocketId, chunk: Bytes) -> Result<usize, StreamError> {
        self.write_with(id, |tx| tx.write_bytes(chunk))
    }

    /// Write all of `chunk`, for which the caller was granted room earlier (a WASI
    /// `check-write`, which grants more than the buffer holds): what does not fit
    /// waits, in order, for acknowledgements to free room ([`Net::held_bytes`]), as
    /// wasmtime-wasi's background write hands it to the kernel. No other write is
    /// taken until it is all in.
    pub fn write_granted(&mut self, id: SocketId, chunk: Bytes) -> Result<usize, StreamError> {
        self.write_with(id, |tx| tx.append(chunk))
    }

    fn write_with(
        &mut self,
        id: SocketId,
        put: impl FnOnce(&mut Pipe) -> usize,
    ) -> Result<usize, StreamError> {
        self.check_write(id)?;
        let (c, side) = self.connected(id)?;
        let host = self.conn(c).ok_or(StreamError::Closed)?.hosts[side.index()];
        let n = self.application_write(c, side, put);
        let stats = &mut self.hosts[host.index()].stats;
        stats.bytes_written += n as u64;
        stats.writes += u64::from(n > 0);
        Ok(n)
    }

    /// `shutdown`: stop reading, writing (sending a FIN after the buffered data), or both.
    pub fn shutdown(&mut self, id: SocketId, how: ShutdownType) -> Result<(), ErrorCode> {
        let sock = self.socket_mut(id)?;
        if sock.state.view() != TcpState::Connected {
            return Err(ErrorCode::InvalidState);
        }
        if matches!(how, ShutdownType::Receive | ShutdownType::Both) {
            sock.reader_closed = true;
        }
        if matches!(how, ShutdownType::Send | ShutdownType::Both) && !sock.writer_closed {
            sock.writer_closed = true;
            if let Some((c, side)) = sock.conn() {
                self.queue_fin(c, side);
            }
        }
        Ok(())
    }

    /// Whether a pollable for `interest` on this socket is ready: the operation it
    /// stands for would make progress (or report an error) now.
    pub fn is_ready(&self, id: SocketId, interest: Interest) -> bool {
        let Ok(sock) = self.socket(id) else {
            return self
                .udp_socket(id)
                .map_or(true, |u| u.is_ready(interest == Interest::Read));
        };
        match interest {
            Interest::Socket => match &sock.state {
                // A listener waits for a connection to accept, a connecting socket
                // for the handshake to end.
                SocketState::Listening { queue, .. } => !queue.ready.is_empty(),
                SocketState::Connecting { conn, .. } => self.conn(*conn).is_none_or(|conn| {
                    !matches!(
                        conn.end(Side::Client).phase,
                        Phase::SynSent | Phase::SynReceived
                    )
                }),
                _ => true,
            },
            Interest::Read => {
                let SocketState::Connected { conn, side, .. } = sock.state else {
                    return true;
                };
                if sock.reader_closed {
                    return true;
                }
                self.conn(conn).is_none_or(|conn| {
                    let rx = conn.rx(side);
                    rx.readable() > 0
                        || rx.fin_received
                        || conn.end(side).phase == Phase::Closed
                        || conn.end(side).error.is_some()
                })
            }
            Interest::Write => {
                let SocketState::Connected { conn, side, .. } = sock.state else {
                    return true;
                };
                self.conn(conn).is_none_or(|conn| {
                    let tx = conn.tx(side);
                    let room = if sock.writer_closed {
                        // Shut down: ready once granted bytes are all in the buffer.
                        tx.held() == 0
                    } else {
                        tx.send_space() > 0
                    };
                    room || conn.end(side).phase == Phase::Closed || conn.end(side).error.is_some()
                })
            }
        }
    }

    /// The connection a socket is attached to (connecting, connected or accepted).
    pub fn socket_conn(&self, id: SocketId) -> Option<ConnId> {
        self.socket(id).ok().and_then(|s| s.conn()).map(|(c, _)| c)
    }

    /// Bytes received and not read yet on a connected socket.
    pub fn readable_bytes(&self, id: SocketId) -> usize {
        self.socket(id)
            .ok()
            .and_then(|s| s.conn())
            .and_then(|(c, side)| self.conn(c).map(|conn| conn.rx(side).readable() as usize))
            .unwrap_or(0)
    }

    /// Drop the socket, as a process closing its descriptor: a listener resets its
    /// queued connections, a connection with unread data is reset, any other connection
    /// is closed gracefully (buffered data, then FIN) and lingers until done.
    pub fn close(&mut self, id: SocketId) -> Result<(), ErrorCode> {
        if self.is_udp(id) {
            return self.close_udp(id);
        }
        let sock = self.socket_mut(id)?;
        let host = sock.host;
        let state = std::mem::replace(&mut sock.state, SocketState::Unbound);
        let local = state.local();
        let keeps_port = match state {
            SocketState::Unbound
            | SocketState::Closed { .. }
            | SocketState::Bound { .. }
            | SocketState::ConnectFailed { .. } => false,
            SocketState::Listening { local, queue } => {
                self.close_listener(id, local, queue);
                false
            }
            SocketState::Connecting { conn, .. } => self.close_end(conn, Side::Client),
            SocketState::Connected { conn, side, .. } => self.close_end(conn, side),
        };
        if let Some(local) = local.filter(|_| !keeps_port) {
            self.release_port(id, local);
        }
        self.hosts[host.index()].open_sockets -= 1;
        self.sockets[id.index()] = None;
        self.record(TraceEvent::SocketClosed { socket: id });
        Ok(())
    }

    /// Give back the port a socket of `id`'s family held at `local`.
    fn release_port(&mut self, id: SocketId, local: SocketAddr) {
        let Ok(sock) = self.socket(id) else {
            return;
        };
        let (host, family) = (sock.host, sock.family);
        self.hosts[host.index()].release_port(family, local.port());
    }

    /// Nothing uses this end any more (it is then freed unless it lingers).
    fn detach_end(&mut self, c: ConnId, side: Side) {
        if let Some(conn) = self.conn_mut(c) {
            conn.end_mut(side).socket = None;
        }
        self.maybe_free(c);
    }

    fn close_listener(&mut self, id: SocketId, local: SocketAddr, queue: ListenQueue) {
        let Ok(sock) = self.socket(id) else {
            return;
        };
        let host = sock.host;
        self.hosts[host.index()].remove_listener(local, id);
        for c in queue.ready.into_iter().chain(queue.half_open) {
            if let Some(conn) = self.conn_mut(c) {
                conn.end_mut(Side::Server).listener = None;
            }
            self.abort(c, Side::Server);
        }
    }

    /// The socket using this end closed. Returns whether the end lingers holding the
    /// socket's port.
    fn close_end(&mut self, c: ConnId, side: Side) -> bool {
        let Some(conn) = self.conn(c) else {
            return false;
        };
        let unread = conn.rx(side).readable() > 0;
        let lingers = match conn.end(side).phase {
            Phase::Established if unread => {
                self.abort(c, side);
                false
            }
            Phase::Established => {
                self.linger(c, side);
                true
            }
            Phase::SynSent | Phase::SynReceived => {
                self.abort(c, side);
                false
            }
            Phase::Idle | Phase::Closed => false,
        };
        self.detach_end(c, side);
        lingers
    }

    /// The end's time-of-last-activity-based keep-alive timer, if enabled.
    fn refresh_keep_alive(&mut self, id: SocketId) {
        if let Ok(Socket {
            state: SocketState::Connected { conn, side, .. },
            ..
        }) = self.socket(id)
        {
            self.arm_keep_alive(*conn, *side);
        }
    }
}
