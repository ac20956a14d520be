//! The world: virtual clock, event queue, hosts, links, sockets and connections, and
//! the native API over them. Socket calls live in `api/`, the protocol engine in
//! `tcp.rs`; this file holds the world's structure and the event loop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use indexmap::IndexMap;

use crate::capture::{Capture, CaptureSink, CapturedPacket, Fate};
use crate::config::{TcpConfig, UdpConfig};
use crate::conn::Conn;
use crate::error::{ErrorCode, NetError};
use crate::fault::state::FaultState;
use crate::host::{Host, HostConfig, HostStats, is_valid_host_address};
use crate::ids::{ConnId, HostId, SocketId};
use crate::link::{LinkConfig, LinkState};
use crate::queue::{Event, EventQueue};
use crate::rng::derive;
use crate::socket::{ListenQueue, Socket};
use crate::time::SimTime;
use crate::trace::{Trace, TraceEvent, TraceMode};
use crate::udp_socket::UdpLayer;

/// Everything that configures a simulation besides its hosts.
#[derive(Clone, Debug, Default)]
pub struct NetConfig {
    pub tcp: TcpConfig,
    pub udp: UdpConfig,
    /// The link between any two hosts without an override.
    pub default_link: LinkConfig,
    pub trace: TraceMode,
    /// Every host's disk.
    pub disk: crate::disk::DiskConfig,
}

/// A simulated network.
pub struct Net {
    pub(crate) seed: u64,
    pub(crate) now: SimTime,
    pub(crate) queue: EventQueue,
    pub(crate) config: NetConfig,
    pub(crate) hosts: Vec<Host>,
    host_by_name: IndexMap<String, HostId>,
    /// Host names in the form a resolver looks them up (see [`domain_key`]).
    host_by_domain: IndexMap<String, HostId>,
    owner_by_ip: IndexMap<IpAddr, HostId>,
    /// TCP sockets by `SocketId` (`None` once closed, and for UDP sockets' ids).
    pub(crate) sockets: Vec<Option<Socket>>,
    /// UDP sockets (sharing the socket id space) and datagrams in flight.
    pub(crate) udp: UdpLayer,
    /// The host of every socket ever created, by `SocketId` (ids are not reused), so
    /// records of closed sockets can still be placed.
    pub(crate) socket_hosts: Vec<HostId>,
    pub(crate) conns: Vec<Option<Conn>>,
    pub(crate) links: Vec<LinkState>,
    link_index: IndexMap<(HostId, HostId), usize>,
    link_overrides: IndexMap<(HostId, HostId), LinkConfig>,
    pub(crate) trace: Trace,
    /// Sockets whose readiness may have changed since the last `drain_woken`.
    pub(crate) woken: Vec<SocketId>,
    /// Addresses and hosts of every connection ever created, by `ConnId` (ids are not
    /// reused), so records of freed connections can still be placed.
    pub(crate) endpoints: Vec<([SocketAddr; 2], [HostId; 2])>,
    pub(crate) capture: Option<Capture>,
    pub(crate) faults: FaultState,
    /// Each host's disk, by `HostId`.
    pub(crate) disks: Vec<crate::disk::Disk>,
    /// What crashes took from disks, in order.
    pub(crate) disk_crashes: Vec<crate::disk::DiskCrash>,
    /// Every fault laid over a disk, in order.
    pub(crate) disk_faults: Vec<(HostId, crate::fault::DiskFault)>,
    /// Something was scheduled for the current instant since the last [`Net::settle`].
    pub(crate) scheduled_now: bool,
}

impl Net {
    /// A network with default settings (perfect links, Linux TCP constants).
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, NetConfig::default())
    }

    pub fn with_config(seed: u64, config: NetConfig) -> Self {
        Net {
            seed,
            now: SimTime::ZERO,
            queue: EventQueue::default(),
            trace: Trace::new(config.trace),
            config,
            hosts: Vec::new(),
            host_by_name: IndexMap::new(),
            host_by_domain: IndexMap::new(),
            owner_by_ip: IndexMap::new(),
            sockets: Vec::new(),
            udp: UdpLayer::default(),
            socket_hosts: Vec::new(),
            conns: Vec::new(),
            links: Vec::new(),
            link_index: IndexMap::new(),
            link_overrides: IndexMap::new(),
            woken: Vec::new(),
            endpoints: Vec::new(),
            capture: None,
            faults: FaultState::new(seed),
            disks: Vec::new(),
            disk_crashes: Vec::new(),
            disk_faults: Vec::new(),
            scheduled_now: false,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    // ---- hosts ----

    /// Add a host owning `addrs` (IPv4 and/or IPv6; loopback is implicit).
    pub fn add_host(&mut self, name: &str, addrs: &[IpAddr]) -> Result<HostId, NetError> {
        if let Some(problem) = crate::host::host_name_problem(name) {
            return Err(NetError::InvalidHostName(problem));
        }
        if self.host_by_name.contains_key(name) {
            return Err(NetError::DuplicateHost(name.to_string()));
        }
        for &addr in addrs {
            if !is_valid_host_address(addr) {
                return Err(NetError::InvalidHostAddress(addr));
            }
            if let Some(&owner) = self.owner_by_ip.get(&addr) {
                let owner = self.hosts[owner.index()].name.clone();
                return Err(NetError::DuplicateAddress { addr, owner });
            }
        }
        let id = HostId(self.hosts.len() as u32);
        let config = HostConfig {
            socket_limit: self.config.tcp.socket_limit,
        };
        let rng = derive(self.seed, &format!("ports:{name}"));
        let disk_rng = derive(self.seed, &format!("disk:{name}"));
        self.disks
            .push(crate::disk::Disk::new(self.config.disk, disk_rng));
        let mut unique = addrs.to_vec();
        unique.dedup();
        for &addr in &unique {
            self.owner_by_ip.insert(addr, id);
        }
        self.hosts
            .push(Host::new(name.to_string(), unique, config, rng));
        self.host_by_name.insert(name.to_string(), id);
        if let Some(key) = domain_key(name) {
            self.host_by_domain.entry(key).or_insert(id);
        }
        Ok(id)
    }

    pub fn host(&self, name: &str) -> Option<HostId> {
        self.host_by_name.get(name).copied()
    }

    pub fn host_name(&self, host: HostId) -> &str {
        &self.hosts[host.index()].name
    }

    pub fn host_addrs(&self, host: HostId) -> &[IpAddr] {
        &self.hosts[host.index()].addrs
    }

    pub fn hosts(&self) -> impl Iterator<Item = HostId> + '_ {
        (0..self.hosts.len()).map(|i| HostId(i as u32))
    }

    /// The host that owns `ip`, if any (loopback addresses belong to every host).
    pub fn owner_of(&self, ip: IpAddr) -> Option<HostId> {
        self.owner_by_ip.get(&ip).copied()
    }

    /// Application bytes the host's sockets wrote and read.
    pub fn host_stats(&self, host: HostId) -> HostStats {
        self.hosts[host.index()].stats
    }

    /// Addresses (client, server) and hosts of a connection, alive or freed.
    pub fn conn_endpoints(&self, conn: ConnId) -> Option<([SocketAddr; 2], [HostId; 2])> {
        self.endpoints.get(conn.index()).copied()
    }

    /// Start keeping every packet sent, with its payload ([`Net::captured`]).
    pub fn enable_capture(&mut self) {
        self.capture.get_or_insert_with(Capture::default);
    }

    /// Start handing every packet sent to `sink`, in the order sent, once its fate
    /// and the fates of the packets before it are known; the capture keeps only the
    /// packets still travelling. [`Net::end_capture`] hands over the rest.
    pub fn stream_capture(&mut self, sink: CaptureSink) {
        self.capture = Some(Capture::streaming(sink));
    }

    /// Stop capturing: a streaming capture first hands its remaining packets to its
    /// sink, those still travelling included (with the fate `InFlight`), then drops
    /// the sink.
    pub fn end_capture(&mut self) {
        if let Some(mut capture) = self.capture.take() {
            capture.flush();
        }
    }

    /// The packets captured and kept so far, each with what became of it (none unless
    /// capture is enabled; a streaming capture keeps only those not yet streamed).
    pub fn captured(&self) -> impl Iterator<Item = &CapturedPacket> {
        self.capture.iter().flat_map(|c| &c.packets)
    }

    pub fn set_socket_limit(&mut self, host: HostId, limit: u32) {
        self.hosts[host.index()].config.socket_limit = limit;
    }

    /// Sockets `host` currently holds open.
    pub fn open_sockets(&self, host: HostId) -> u32 {
        self.hosts[host.index()].open_sockets
    }

    /// Resolve a name as `wasi:sockets/ip-name-lookup` does on wasmtime-wasi 48: the
    /// name is parsed as a URL host (WHATWG rules, the `url` crate wasmtime-wasi uses),
    /// so IPv4 literals in any form it accepts (`127.1`, `0x7f.0.0.1`, `2130706433`)
    /// and bracketed IPv6 literals (`[::1]`) resolve to themselves, as do bare IPv6
    /// literals; anything that is not a valid host (a port, a path, a space, an empty
    /// name) is `invalid-argument`. A domain (lower-cased, IDNA-encoded) is looked up
    /// among the simulation's host names, then `localhost`; an unknown one is
    /// `name-unresolvable`.
    pub fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, ErrorCode> {
        let domain = match url::Host::parse(name) {
            Ok(url::Host::Domain(domain)) => domain,
            Ok(url::Host::Ipv4(ip)) => return Ok(vec![IpAddr::V4(ip)]),
            Ok(url::Host::Ipv6(ip)) => return Ok(vec![IpAddr::V6(ip)]),
            Err(_) => {
                return name
                    .parse::<Ipv6Addr>()
                    .map(|ip| vec![IpAddr::V6(ip)])
                    .map_err(|_| ErrorCode::InvalidArgument);
            }
        };
        let key = domain.strip_suffix('.').unwrap_or(&domain);
        if let Some(&host) = self.host_by_domain.get(key) {
            let addrs = &self.hosts[host.index()].addrs;
            if !addrs.is_empty() {
                return Ok(addrs.clone());
            }
        }
        if key == "localhost" {
            return Ok(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        Err(ErrorCode::NameUnresolvable)
    }

    // ---- links ----

    /// Replace the default link (used by every pair without an override), including
    /// for segments already scheduled from now on.
    pub fn set_default_link(&mut self, config: LinkConfig) -> Result<(), NetError> {
        config.validate().map_err(NetError::InvalidLink)?;
        self.config.default_link = config;
        for (&(a, b), &idx) in &self.link_index {
            if a != b && !self.link_overrides.contains_key(&(a, b)) {
                self.links[idx].config = config;
            }
        }
        Ok(())
    }

    /// Override the link between `a` and `b`, both directions.
    pub fn set_link(&mut self, a: HostId, b: HostId, config: LinkConfig) -> Result<(), NetError> {
        self.set_link_oneway(a, b, config)?;
        self.set_link_oneway(b, a, config)
    }

    /// Override the link carrying segments from `from` to `to` only.
    pub fn set_link_oneway(
        &mut self,
        from: HostId,
        to: HostId,
        config: LinkConfig,
    ) -> Result<(), NetError> {
        config.validate().map_err(NetError::InvalidLink)?;
        if from == to {
            return Err(NetError::InvalidLink(
                "a host's loopback cannot be configured".into(),
            ));
        }
        self.link_overrides.insert((from, to), config);
        if let Some(&idx) = self.link_index.get(&(from, to)) {
            self.links[idx].config = config;
        }
        Ok(())
    }

    /// The configuration of the link from `from` to `to`.
    pub fn link_config(&self, from: HostId, to: HostId) -> LinkConfig {
        if from == to {
            return LinkConfig::default();
        }
        self.link_overrides
            .get(&(from, to))
            .copied()
            .unwrap_or(self.config.default_link)
    }

    /// The link state for a directed pair, created on first use with a random stream
    /// named after the two hosts (so creation order does not matter).
    pub(crate) fn link_for(&mut self, from: HostId, to: HostId) -> usize {
        if let Some(&idx) = self.link_index.get(&(from, to)) {
            return idx;
        }
        let label = format!(
            "link:{}>{}",
            self.hosts[from.index()].name,
            self.hosts[to.index()].name
        );
        let state = LinkState::new(self.link_config(from, to), derive(self.seed, &label));
        self.links.push(state);
        let idx = self.links.len() - 1;
        self.link_index.insert((from, to), idx);
        idx
    }

    // ---- time and events ----

    pub fn now(&self) -> SimTime {
        self.now
    }

    /// When the next scheduled event is due, if any. (Some queued timers may turn out
    /// to have nothing to do; waking at their time is harmless.)
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    /// Run the next event, advancing the clock to it. Returns false if there is none.
    pub fn step(&mut self) -> bool {
        let Some((time, event)) = self.queue.pop() else {
            return false;
        };
        self.now = time;
        match event {
            Event::Deliver(packet) => self.packet_arrives(packet),
            Event::Timer { conn, side, kind } => self.on_timer(conn, side, kind, time),
            Event::Fault(index) => self.fire_fault(index),
        }
        true
    }

    /// Finish what the calls since the last `settle` set off for this very instant: a
    /// segment on a link without latency (loopback) arrives, and is answered, before
    /// the application that sent it runs again, as a kernel processes loopback
    /// traffic within the sending call. Events due now that were scheduled earlier
    /// run first, keeping the queue's order. A driver calls this after each turn of an
    /// application.
    pub fn settle(&mut self) {
        if !std::mem::take(&mut self.scheduled_now) {
            return;
        }
        while self.queue.peek_time().is_some_and(|t| t <= self.now) {
            self.step();
        }
        self.scheduled_now = false;
    }

    /// Run every event due at or before `deadline`, then set the clock to `deadline`.
    pub fn run_until(&mut self, deadline: SimTime) {
        while self.queue.peek_time().is_some_and(|t| t <= deadline) {
            self.step();
        }
        if deadline > self.now {
            self.now = deadline;
        }
    }

    /// Run for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Run until no event is left. Connections with keep-alive enabled keep probing
    /// forever; bound such runs with [`Net::run_until`].
    pub fn run_until_idle(&mut self) {
        while self.step() {}
    }

    /// Step until `cond` holds or no event is left; returns whether `cond` holds.
    pub fn run_while_not(&mut self, mut cond: impl FnMut(&Net) -> bool) -> bool {
        loop {
            if cond(self) {
                return true;
            }
            if !self.step() {
                return cond(self);
            }
        }
    }

    // ---- readiness notifications ----

    /// Move the sockets whose readiness may have changed (data or end-of-stream
    /// arrived, send space freed, connect finished, a connection to accept, a failure)
    /// into `out`, each once, in the order they were woken. A driver re-checks
    /// [`Net::is_ready`] for these instead of polling every socket after every event.
    pub fn drain_woken(&mut self, out: &mut Vec<SocketId>) {
        for id in self.woken.drain(..) {
            if let Some(Some(sock)) = self.sockets.get_mut(id.index()) {
                sock.woken = false;
                out.push(id);
            } else if let Some(sock) = self.udp.sockets.get_mut(&id) {
                sock.woken = false;
                out.push(id);
            }
        }
    }

    pub(crate) fn wake(&mut self, id: SocketId) {
        let flag = match self.sockets.get_mut(id.index()) {
            Some(Some(sock)) => &mut sock.woken,
            _ => match self.udp.sockets.get_mut(&id) {
                Some(sock) => &mut sock.woken,
                None => return,
            },
        };
        mark_woken(flag, &mut self.woken, id);
    }

    // ---- trace ----

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The host a socket was created on, open or closed.
    pub fn socket_host_ever(&self, id: SocketId) -> Option<HostId> {
        self.socket_hosts.get(id.index()).copied()
    }

    /// Trace a program's life on `host` (its start, end, or crash).
    pub fn record_process(&mut self, host: HostId, process: u32, event: crate::ProcessEvent) {
        self.record(TraceEvent::Process {
            host,
            process,
            event,
        });
    }

    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    pub(crate) fn record(&mut self, event: TraceEvent) {
        record_to(&mut self.trace, &mut self.capture, self.now, event);
    }

    // ---- table access ----

    /// A new socket's id on `host`, counted against the host's socket limit. TCP and
    /// UDP sockets share the id space.
    pub(crate) fn new_socket_id(&mut self, host: HostId) -> Result<SocketId, ErrorCode> {
        let h = self
            .hosts
            .get_mut(host.index())
            .ok_or(ErrorCode::InvalidArgument)?;
        if h.open_sockets >= h.config.socket_limit {
            return Err(ErrorCode::NewSocketLimit);
        }
        h.open_sockets += 1;
        let id = SocketId(self.socket_hosts.len() as u32);
        self.socket_hosts.push(host);
        self.sockets.push(None);
        Ok(id)
    }

    pub(crate) fn socket(&self, id: SocketId) -> Result<&Socket, ErrorCode> {
        self.sockets
            .get(id.index())
            .and_then(Option::as_ref)
            .ok_or(ErrorCode::InvalidArgument)
    }

    pub(crate) fn socket_mut(&mut self, id: SocketId) -> Result<&mut Socket, ErrorCode> {
        self.sockets
            .get_mut(id.index())
            .and_then(Option::as_mut)
            .ok_or(ErrorCode::InvalidArgument)
    }

    /// The queues of listener `id`, if it listens.
    pub(crate) fn listen_queue_mut(&mut self, id: SocketId) -> Option<&mut ListenQueue> {
        self.socket_mut(id).ok()?.listen_queue_mut()
    }

    pub(crate) fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(id.index()).and_then(Option::as_ref)
    }

    pub(crate) fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id.index()).and_then(Option::as_mut)
    }

    /// Connections whose state is still held (for tests and leak checks).
    pub fn live_connections(&self) -> usize {
        self.conns.iter().filter(|c| c.is_some()).count()
    }
}

/// A host name as the resolver finds it: the URL host parser's form of a domain
/// (lower case, IDNA), without a trailing dot. Names that are not domains (an IP
/// literal, a name with a space) cannot be looked up and have none.
fn domain_key(name: &str) -> Option<String> {
    match url::Host::parse(name) {
        Ok(url::Host::Domain(d)) => Some(d.strip_suffix('.').unwrap_or(&d).to_string()),
        _ => None,
    }
}

/// Put a socket in the list of those whose readiness may have changed, once.
pub(crate) fn mark_woken(flag: &mut bool, woken: &mut Vec<SocketId>, id: SocketId) {
    if !*flag {
        *flag = true;
        woken.push(id);
    }
}

/// Trace `event` at `now`, settling the fate of a captured segment it reports.
pub(crate) fn record_to(
    trace: &mut Trace,
    capture: &mut Option<Capture>,
    now: SimTime,
    event: TraceEvent,
) {
    if let Some(capture) = capture {
        match event {
            TraceEvent::SegmentDelivered { seg } => capture.settle(&seg, Fate::Delivered),
            TraceEvent::SegmentLost { seg } => capture.settle(&seg, Fate::Lost),
            TraceEvent::SegmentDropped { seg, reason } => {
                capture.settle(&seg, Fate::Dropped(reason))
            }
            _ => {}
        }
    }
    trace.record(now, event);
}
