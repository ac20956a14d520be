//! UDP's calls and its wire: binding, connecting, sending and receiving, datagrams
//! crossing links and arriving, ICMP answers. The sockets' state is in
//! `udp_socket.rs`. The calls follow Linux as wasmtime-wasi 48 reaches it (`docs/udp-model.md`): a socket
//! is unbound, bound, or connected; datagrams are sent whole or not at all, may be
//! lost, reordered by jitter or duplicated by a link, and are dropped when the
//! receiver's buffer is full; a datagram that finds no socket is answered with an
//! ICMP port-unreachable, which a connected sender reports as `connection-refused`.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::capture::Fate;
use crate::error::ErrorCode;
use crate::ids::{HostId, SocketId};
use crate::link::Transit;
use crate::net::Net;
use crate::packet::{
    DatagramHeader, DatagramId, DatagramKind, DatagramSlot, Packet, UDP_HEADER_BYTES,
};
use crate::queue::Event;
use crate::socket::{
    Family, clamp_buffer_size, is_valid_family, is_valid_remote, is_valid_unicast, unspecified,
};
use crate::trace::{DropReason, TraceEvent};
use crate::udp_socket::{
    BindLocks, Datagram, InFlight, UdpOptions, UdpSocket, UdpState, in_flight_charge, max_payload,
};

/// The IPv4 limited broadcast address.
fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// A remote address as the kernel keeps it: without an IPv6 flow label, and with a
/// scope only for link-local addresses.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(mut v6) => {
            v6.set_flowinfo(0);
            if !v6.ip().is_unicast_link_local() {
                v6.set_scope_id(0);
            }
            SocketAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// Addresses a UDP socket may bind on a host: its own and loopback (as for TCP), and
/// multicast and broadcast addresses, which Linux accepts for UDP.
fn udp_bindable(net: &Net, host: HostId, ip: IpAddr) -> bool {
    !is_valid_unicast(ip) || net.hosts[host.index()].can_bind(ip)
}

impl Net {
    // ---- sockets ----

    /// `udp-create-socket`: a new, unbound UDP socket on `host`.
    pub fn create_udp_socket(
        &mut self,
        host: HostId,
        family: Family,
    ) -> Result<SocketId, ErrorCode> {
        let id = self.new_socket_id(host)?;
        let cfg = &self.config.udp;
        let socket = UdpSocket::new(
            host,
            family,
            UdpOptions {
                unicast_hop_limit: self.config.tcp.hop_limit,
                receive_buffer: cfg.receive_buffer,
                send_buffer: cfg.send_buffer,
            },
        );
        self.udp.sockets.insert(id, socket);
        self.record(TraceEvent::UdpSocketCreated {
            host,
            socket: id,
            family,
        });
        Ok(id)
    }

    pub(crate) fn udp_socket(&self, id: SocketId) -> Result<&UdpSocket, ErrorCode> {
        self.udp.sockets.get(&id).ok_or(ErrorCode::InvalidArgument)
    }

    fn udp_socket_mut(&mut self, id: SocketId) -> Result<&mut UdpSocket, ErrorCode> {
        self.udp
            .sockets
            .get_mut(&id)
            .ok_or(ErrorCode::InvalidArgument)
    }

    /// Whether `id` names an open UDP socket.
    pub fn is_udp(&self, id: SocketId) -> bool {
        self.udp.sockets.contains_key(&id)
    }

    pub fn udp_state(&self, id: SocketId) -> Result<UdpState, ErrorCode> {
        Ok(self.udp_socket(id)?.state)
    }

    /// Bind to `addr` (port 0: an ephemeral port). `invalid-state` once bound,
    /// `invalid-argument` for an address of the other family, `address-not-bindable`
    /// for an address the host does not have, `address-in-use` when another UDP
    /// socket holds the port on an overlapping address.
    pub fn udp_bind(&mut self, id: SocketId, addr: SocketAddr) -> Result<(), ErrorCode> {
        let sock = self.udp_socket(id)?;
        if sock.state != UdpState::Unbound {
            return Err(ErrorCode::InvalidState);
        }
        if !is_valid_family(addr.ip(), sock.family) {
            return Err(ErrorCode::InvalidArgument);
        }
        if !udp_bindable(self, sock.host, addr.ip()) {
            return Err(ErrorCode::AddressNotBindable);
        }
        let locks = BindLocks {
            addr: !addr.ip().is_unspecified(),
            port: addr.port() != 0,
        };
        let local = self.claim_udp_port(id, addr)?;
        let sock = self.udp_socket_mut(id)?;
        sock.state = UdpState::Bound { local };
        sock.locks = locks;
        self.record(TraceEvent::UdpBound { socket: id, local });
        Ok(())
    }

    /// Enter `addr` (an ephemeral port for port 0) in the host's UDP port table.
    fn claim_udp_port(&mut self, id: SocketId, addr: SocketAddr) -> Result<SocketAddr, ErrorCode> {
        let sock = self.udp_socket(id)?;
        let (host, family) = (sock.host, sock.family);
        let range = self.config.tcp.ephemeral_ports.clone();
        let h = &mut self.hosts[host.index()];
        let port = match addr.port() {
            0 => h.udp_ports.ephemeral(family, &range, &mut h.port_rng)?,
            p if h.udp_ports.conflicts(SocketAddr::new(addr.ip(), p)) => {
                return Err(ErrorCode::AddressInUse);
            }
            p => p,
        };
        let local = SocketAddr::new(addr.ip(), port);
        h.udp_ports.insert(local, id);
        Ok(local)
    }

    /// Give up the socket's entry in the port table.
    fn release_udp_port(&mut self, id: SocketId) {
        let Ok(sock) = self.udp_socket(id) else {
            return;
        };
        if let Some(local) = sock.held_port() {
            let host = sock.host;
            self.hosts[host.index()].udp_ports.remove(local, id);
        }
    }

    /// An unbound socket that sends is bound to the unspecified address and an
    /// ephemeral port first, as Linux does.
    fn udp_autobind(&mut self, id: SocketId) -> Result<SocketAddr, ErrorCode> {
        let sock = self.udp_socket(id)?;
        let family = sock.family;
        match sock.state {
            UdpState::Bound { local } | UdpState::Connected { local, .. } if local.port() != 0 => {
                Ok(local)
            }
            state => {
                let ip = state
                    .local()
                    .map_or_else(|| unspecified(family), |l| l.ip());
                let local = self.claim_udp_port(id, SocketAddr::new(ip, 0))?;
                let sock = self.udp_socket_mut(id)?;
                sock.state = sock.state.with_local(local);
                self.record(TraceEvent::UdpBound { socket: id, local });
                Ok(local)
            }
        }
    }

    /// Move the socket's entry in the port table to `local` (none for port 0), so
    /// that the table always holds the address the socket reads as its own: Linux
    /// rehashes a socket when connecting fills in its address.
    fn move_udp_local(&mut self, id: SocketId, local: SocketAddr) -> Result<(), ErrorCode> {
        self.release_udp_port(id);
        let sock = self.udp_socket_mut(id)?;
        let host = sock.host;
        sock.state = sock.state.with_local(local);
        if local.port() != 0 {
            self.hosts[host.index()].udp_ports.insert(local, id);
        }
        Ok(())
    }

    /// Send to and receive from `remote` only. The socket must be bound (WASI 0.2
    /// requires it; this call binds an unbound one as Linux would). An address the
    /// application did not choose becomes the source address of the route to
    /// `remote`; a loopback address it chose cannot reach another host
    /// (`invalid-argument`, Linux's `EINVAL`). Datagrams queued from other senders
    /// are discarded: the connected socket could never read them.
    pub fn udp_connect(&mut self, id: SocketId, remote: SocketAddr) -> Result<(), ErrorCode> {
        let sock = self.udp_socket(id)?;
        if !is_valid_family(remote.ip(), sock.family) || !is_valid_remote(remote) {
            return Err(ErrorCode::InvalidArgument);
        }
        if is_broadcast(remote.ip()) {
            return Err(ErrorCode::AccessDenied);
        }
        let (host, locks) = (sock.host, sock.locks);
        let h = &self.hosts[host.index()];
        let source = h
            .source_for(remote.ip())
            .ok_or(ErrorCode::RemoteUnreachable)?;
        if let Some(local) = sock.state.local()
            && locks.addr
            && local.ip().is_loopback()
            && !h.is_local(remote.ip())
        {
            return Err(ErrorCode::InvalidArgument);
        }
        let remote = canonical(remote);
        let local = self.udp_autobind(id)?;
        let ip = if locks.addr { local.ip() } else { source };
        self.move_udp_local(id, SocketAddr::new(ip, local.port()))?;
        let sock = self.udp_socket_mut(id)?;
        if let UdpState::Bound { local } | UdpState::Connected { local, .. } = sock.state {
            sock.state = UdpState::Connected { local, remote };
        }
        sock.keep_only_from(remote);
        self.record(TraceEvent::UdpConnected {
            socket: id,
            remote: Some(remote),
        });
        Ok(())
    }

    /// Forget the remote address. As on Linux, a local address the application did
    /// not choose is forgotten too: its address reads unspecified again, and an
    /// ephemeral port is released (port 0) until the next send binds a new one.
    pub fn udp_disconnect(&mut self, id: SocketId) -> Result<(), ErrorCode> {
        let sock = self.udp_socket(id)?;
        let UdpState::Connected { local, .. } = sock.state else {
            return Err(ErrorCode::InvalidState);
        };
        let (locks, family) = (sock.locks, sock.family);
        let ip = if locks.addr {
            local.ip()
        } else {
            unspecified(family)
        };
        let port = if locks.port { local.port() } else { 0 };
        let sock = self.udp_socket_mut(id)?;
        sock.state = UdpState::Bound { local };
        self.move_udp_local(id, SocketAddr::new(ip, port))?;
        self.record(TraceEvent::UdpConnected {
            socket: id,
            remote: None,
        });
        Ok(())
    }

    pub fn udp_local_address(&self, id: SocketId) -> Result<SocketAddr, ErrorCode> {
        self.udp_socket(id)?
            .state
            .local()
            .ok_or(ErrorCode::InvalidState)
    }

    pub fn udp_remote_address(&self, id: SocketId) -> Result<SocketAddr, ErrorCode> {
        self.udp_socket(id)?
            .state
            .remote()
            .ok_or(ErrorCode::InvalidState)
    }

    pub fn udp_address_family(&self, id: SocketId) -> Result<Family, ErrorCode> {
        Ok(self.udp_socket(id)?.family)
    }

    pub fn udp_options(&self, id: SocketId) -> Result<UdpOptions, ErrorCode> {
        Ok(self.udp_socket(id)?.options)
    }

    /// `set-unicast-hop-limit`: 0 is `invalid-argument`.
    pub fn udp_set_unicast_hop_limit(&mut self, id: SocketId, value: u8) -> Result<(), ErrorCode> {
        let sock = self.udp_socket_mut(id)?;
        if value == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        sock.options.unicast_hop_limit = value;
        Ok(())
    }

    /// `set-receive-buffer-size`: 0 is `invalid-argument`; other values are clamped
    /// to the range Linux allows, as the getter then reports them.
    pub fn udp_set_receive_buffer_size(
        &mut self,
        id: SocketId,
        value: u64,
    ) -> Result<(), ErrorCode> {
        let range = self.config.udp.receive_buffer_range.clone();
        let sock = self.udp_socket_mut(id)?;
        sock.options.receive_buffer = clamp_buffer_size(value, &range)?;
        Ok(())
    }

    /// `set-send-buffer-size`, likewise.
    pub fn udp_set_send_buffer_size(&mut self, id: SocketId, value: u64) -> Result<(), ErrorCode> {
        let range = self.config.udp.send_buffer_range.clone();
        let sock = self.udp_socket_mut(id)?;
        sock.options.send_buffer = clamp_buffer_size(value, &range)?;
        Ok(())
    }

    pub(crate) fn close_udp(&mut self, id: SocketId) -> Result<(), ErrorCode> {
        self.release_udp_port(id);
        let sock = self
            .udp
            .sockets
            .remove(&id)
            .ok_or(ErrorCode::InvalidArgument)?;
        self.hosts[sock.host.index()].open_sockets -= 1;
        self.record(TraceEvent::SocketClosed { socket: id });
        Ok(())
    }

    // ---- data ----

    /// Send one datagram, to `to` or (None) to the connected address. Checked as
    /// wasmtime-wasi and Linux check it: `datagram-too-large`, then
    /// `invalid-argument` for a bad or missing address or one other than the
    /// connected address, then the error an ICMP message left. An unbound socket is
    /// bound first. A datagram for an address no host owns is sent and vanishes.
    pub fn udp_send(
        &mut self,
        id: SocketId,
        payload: Bytes,
        to: Option<SocketAddr>,
    ) -> Result<(), ErrorCode> {
        let sock = self.udp_socket(id)?;
        if payload.len() > usize::from(u16::MAX) {
            return Err(ErrorCode::DatagramTooLarge);
        }
        let connected = sock.state.remote();
        let dst = match (to, connected) {
            (Some(addr), _)
                if !is_valid_remote(addr) || !is_valid_family(addr.ip(), sock.family) =>
            {
                return Err(ErrorCode::InvalidArgument);
            }
            (Some(addr), Some(remote)) if addr != remote => {
                return Err(ErrorCode::InvalidArgument);
            }
            (Some(addr), _) => addr,
            (None, Some(remote)) => remote,
            (None, None) => return Err(ErrorCode::InvalidArgument),
        };
        if payload.len() > max_payload(sock.family) {
            return Err(ErrorCode::DatagramTooLarge);
        }
        if is_broadcast(dst.ip()) {
            // Linux without SO_BROADCAST.
            return Err(ErrorCode::AccessDenied);
        }
        let host = sock.host;
        let source = self.hosts[host.index()]
            .source_for(dst.ip())
            .ok_or(ErrorCode::RemoteUnreachable)?;
        if let Some(e) = self.udp_socket_mut(id)?.pending_error.take() {
            return Err(e);
        }
        let local = self.udp_autobind(id)?;
        if local.ip().is_loopback() && !self.hosts[host.index()].is_local(dst.ip()) {
            return Err(ErrorCode::InvalidArgument);
        }
        // A socket bound to a group or broadcast address sends from the route's.
        let src_ip = if local.ip().is_unspecified() || !is_valid_unicast(local.ip()) {
            source
        } else {
            local.ip()
        };
        let stats = &mut self.hosts[host.index()].stats;
        stats.bytes_written += payload.len() as u64;
        stats.writes += 1;
        let src = SocketAddr::new(src_ip, local.port());
        self.emit_datagram(DatagramKind::Data, host, src, dst, payload);
        Ok(())
    }

    /// Put a datagram on the link towards `dst`'s host. For an ICMP answer, `payload`
    /// is the datagram it answers: the capture quotes it, the answer itself carries
    /// nothing in the model.
    fn emit_datagram(
        &mut self,
        kind: DatagramKind,
        from: HostId,
        src: SocketAddr,
        dst: SocketAddr,
        payload: Bytes,
    ) {
        let (payload, captured) = match kind {
            DatagramKind::Data => (payload.clone(), payload),
            DatagramKind::PortUnreachable => (Bytes::new(), payload),
        };
        let id = DatagramId(self.udp.next_id);
        self.udp.next_id += 1;
        // An ICMP answer goes back to the datagram's source.
        let toward = match kind {
            DatagramKind::Data => dst.ip(),
            DatagramKind::PortUnreachable => src.ip(),
        };
        let to = if self.hosts[from.index()].is_local(toward) {
            Some(from)
        } else {
            self.owner_of(toward)
        };
        let header = DatagramHeader {
            id,
            kind,
            from,
            to: to.unwrap_or(from),
            src,
            dst,
            len: payload.len() as u32,
        };
        if let Some(capture) = &mut self.capture {
            capture.datagram_sent(self.now, header, &captured);
        }
        self.record_datagram(&header, Fate::InFlight);
        let Some(to) = to else {
            return self.record_datagram(&header, Fate::Dropped(DropReason::Unroutable));
        };
        let charge = in_flight_charge(payload.len());
        if self.udp.in_flight_bytes + charge > self.config.udp.max_in_flight_bytes {
            return self.record_datagram(&header, Fate::Dropped(DropReason::NetworkFull));
        }
        let now = self.now;
        let link = self.link_for(from, to);
        let bytes = u64::from(header.len) + UDP_HEADER_BYTES;
        let first = match self.links[link].transmit(now, bytes) {
            Transit::Lost => return self.record_datagram(&header, Fate::Lost),
            Transit::Arrives(at) => at,
        };
        let again = self.links[link].duplicate(now);
        let copies = 1 + u8::from(again.is_some());
        let slot = self.udp.park(InFlight {
            header,
            payload,
            copies,
        });
        for at in std::iter::once(first).chain(again) {
            self.scheduled_now |= at <= now;
            self.queue.push(at, Event::Deliver(Packet::Udp(slot)));
        }
    }

    /// A datagram reached its host (faults have had their say).
    pub(crate) fn deliver_datagram(&mut self, slot: DatagramSlot) {
        let Some((header, payload)) = self.udp.land(slot) else {
            return;
        };
        match header.kind {
            DatagramKind::Data => self.datagram_arrived(header, payload),
            DatagramKind::PortUnreachable => self.port_unreachable_arrived(header),
        }
    }

    /// Drop a datagram whose copy a fault stopped, freeing its slot.
    pub(crate) fn drop_datagram(&mut self, slot: DatagramSlot, reason: DropReason) {
        if let Some((dgram, _)) = self.udp.land(slot) {
            self.record_datagram(&dgram, Fate::Dropped(reason));
        }
    }

    /// The socket a datagram to `dst` from `src` reaches on `host`: one bound to
    /// `dst` exactly, else one bound to the unspecified address; a connected socket
    /// only takes datagrams from its remote address (Linux's lookup scoring).
    fn udp_receiver(&self, host: HostId, src: SocketAddr, dst: SocketAddr) -> Option<SocketId> {
        // The table holds each socket under its own local address.
        self.hosts[host.index()].udp_ports.find(dst, |id| {
            self.udp
                .sockets
                .get(&id)
                .is_some_and(|s| s.state.remote().is_none_or(|r| r == src))
        })
    }

    fn datagram_arrived(&mut self, dgram: DatagramHeader, payload: Bytes) {
        let Some(id) = self.udp_receiver(dgram.to, dgram.src, dgram.dst) else {
            self.record_datagram(&dgram, Fate::Dropped(DropReason::NoSocket));
            return self.emit_datagram(
                DatagramKind::PortUnreachable,
                dgram.to,
                dgram.src,
                dgram.dst,
                payload,
            );
        };
        let Some(sock) = self.udp.sockets.get_mut(&id) else {
            return;
        };
        let datagram = Datagram {
            src: dgram.src,
            payload,
        };
        if !sock.enqueue(datagram) {
            return self.record_datagram(&dgram, Fate::Dropped(DropReason::ReceiveBufferFull));
        }
        self.record_datagram(&dgram, Fate::Delivered);
        self.wake(id);
    }

    /// The ICMP answer reached the original sender: a socket connected to the
    /// unreachable address learns of it (unconnected sockets are not told, as on
    /// Linux without `IP_RECVERR`).
    fn port_unreachable_arrived(&mut self, dgram: DatagramHeader) {
        // `src`/`dst` are the original datagram's: the sender is `src`.
        let (sender, unreachable) = (dgram.src, dgram.dst);
        let found = self.hosts[dgram.to.index()]
            .udp_ports
            .find(sender, |_| true);
        self.record_datagram(&dgram, Fate::Delivered);
        let Some(id) = found else { return };
        let Some(sock) = self.udp.sockets.get_mut(&id) else {
            return;
        };
        if sock.state.remote() == Some(unreachable) {
            sock.pending_error = Some(ErrorCode::ConnectionRefused);
            self.wake(id);
        }
    }

    /// Take the next datagram. `invalid-state` on an unbound socket; an ICMP error is
    /// reported once; `None` when nothing waits. A connected socket skips datagrams
    /// queued from other senders before it connected.
    pub fn udp_receive(&mut self, id: SocketId) -> Result<Option<Datagram>, ErrorCode> {
        let sock = self.udp_socket_mut(id)?;
        if sock.state == UdpState::Unbound {
            return Err(ErrorCode::InvalidState);
        }
        if let Some(e) = sock.pending_error.take() {
            return Err(e);
        }
        let Some(d) = sock.dequeue() else {
            return Ok(None);
        };
        let host = sock.host;
        self.hosts[host.index()].stats.bytes_read += d.payload.len() as u64;
        Ok(Some(d))
    }

    /// Trace a datagram's progress (`InFlight`: sent) and settle its capture.
    fn record_datagram(&mut self, header: &DatagramHeader, fate: Fate) {
        let dgram = header.id;
        let event = match fate {
            Fate::InFlight => TraceEvent::DatagramSent { dgram },
            Fate::Delivered => TraceEvent::DatagramDelivered { dgram },
            Fate::Lost => TraceEvent::DatagramLost { dgram },
            Fate::Dropped(reason) => TraceEvent::DatagramDropped { dgram, reason },
        };
        if fate != Fate::InFlight
            && let Some(capture) = &mut self.capture
        {
            capture.settle_datagram(dgram, fate);
        }
        self.trace.record_datagram(self.now, event, header);
    }

    /// The header of a datagram in flight (faults decide its fate by its hosts).
    pub(crate) fn datagram_header(&self, slot: DatagramSlot) -> Option<DatagramHeader> {
        self.udp.header(slot)
    }
}
