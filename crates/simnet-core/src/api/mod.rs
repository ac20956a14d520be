//! The TCP socket calls of the native API, one-shot: `bind`, `listen`, `accept`,
//! `begin_connect` and `connect_outcome`, reads, writes, options, `close`. Each checks
//! the conditions wasmtime-wasi 48 checks below its WASI 0.2 layer, in the same order,
//! and gives Linux's answers. The WASI 0.2 shape over them (start/finish pairs, the
//! calls refused while a connect is in progress) is simnet-wasi's.

use std::net::SocketAddr;

use crate::autotune::BufferSize;
use crate::conn::{Conn, End, Phase};
use crate::error::ErrorCode;
use crate::ids::{ConnId, HostId, SocketId};
use crate::net::Net;
use crate::pipe::Pipe;
use crate::segment::Side;
use crate::socket::{
    Family, ListenQueue, Socket, SocketState, TcpState, is_valid_family, is_valid_remote,
    is_valid_unicast,
};
use crate::trace::TraceEvent;

mod options;
mod stream;

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

    /// The connection end a socket is attached to, if any.
    fn attached_conn(&self, id: SocketId) -> Option<(&Conn, Side)> {
        let (c, side) = self.socket(id).ok()?.conn()?;
        Some((self.conn(c)?, side))
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
}
