//! Hosts: names, addresses, port tables and socket limits.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use rand::RngExt;

use crate::error::ErrorCode;
use crate::ids::SocketId;
use crate::rng::SimRng;
use crate::socket::{Family, unspecified_of};

/// Application bytes a host's sockets moved: written into send buffers and read out of
/// receive buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    pub bytes_written: u64,
    pub bytes_read: u64,
    /// Connections its listeners handed to `accept`.
    pub accepts: u64,
    /// Writes that put at least one byte into a send buffer.
    pub writes: u64,
}

/// Why `name` cannot name a host, if it cannot: a host name is what guests resolve
/// with `ip-name-lookup`, so it must be a domain name as that lookup parses one: dot-
/// separated labels of letters (IDNA), digits, `-` and `_`, each 1 to 63 characters, not
/// starting or ending with `-`, 253 characters in all; not an IP address in any
/// form the lookup reads as one (`10.0.0.2`, `127.1`, `0x7f.0.0.1`); not `localhost`,
/// which every host resolves to itself.
pub fn host_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a host name cannot be empty".into());
    }
    let chars = name.chars().count();
    if chars > 253 {
        return Some(format!(
            "a host name has at most 253 characters, this one {chars}"
        ));
    }
    for label in name.split('.') {
        let ok_chars = label
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if label.is_empty() || label.chars().count() > 63 || !ok_chars {
            return Some(format!(
                "{name:?} is not a valid host name (dot-separated labels of 1 to 63 letters, \
                 digits, '-' or '_')"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!(
                "{name:?} is not a valid host name (a label cannot start or end with '-')"
            ));
        }
    }
    if !matches!(url::Host::parse(name), Ok(url::Host::Domain(_))) {
        return Some(format!(
            "{name:?} reads as an IP address, not a name: give the address as `ip`"
        ));
    }
    if name.eq_ignore_ascii_case("localhost") {
        return Some("`localhost` names every host's own loopback: choose another name".into());
    }
    None
}

/// Per-host settings.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Sockets the host may hold open at once (`new-socket-limit` beyond it).
    pub socket_limit: u32,
}

#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) addrs: Vec<IpAddr>,
    pub(crate) config: HostConfig,
    pub(crate) open_sockets: u32,
    pub(crate) stats: HostStats,
    /// How many sockets or lingering connection ends hold each (family, port).
    port_refs: BTreeMap<(bool, u16), u32>,
    /// Listening sockets by (address, port); the address may be unspecified.
    listeners: PortTable,
    /// The UDP port table (UDP ports are apart from TCP's).
    pub(crate) udp_ports: PortTable,
    pub(crate) port_rng: SimRng,
}

impl Host {
    pub(crate) fn new(
        name: String,
        addrs: Vec<IpAddr>,
        config: HostConfig,
        port_rng: SimRng,
    ) -> Self {
        Host {
            name,
            addrs,
            config,
            open_sockets: 0,
            stats: HostStats::default(),
            port_refs: BTreeMap::new(),
            listeners: PortTable::default(),
            udp_ports: PortTable::default(),
            port_rng,
        }
    }

    /// Whether a socket on this host may use `ip` as its local address: its own
    /// addresses, the unspecified address, and its loopback range.
    pub(crate) fn can_bind(&self, ip: IpAddr) -> bool {
        ip.is_unspecified() || ip.is_loopback() || self.addrs.contains(&ip)
    }

    /// Whether `ip` reaches this host from itself.
    pub(crate) fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.addrs.contains(&ip)
    }

    /// The source address for a connection to `dst`.
    pub(crate) fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        if dst.is_loopback() || self.addrs.contains(&dst) {
            return Some(dst);
        }
        self.addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == dst.is_ipv4())
    }

    /// Linux with SO_REUSEADDR: a bind or listen conflicts only with a listener on the
    /// same port whose address overlaps (equal, or either one unspecified). Answered
    /// with lookups, so binding many ports stays cheap.
    pub(crate) fn listener_conflict(&self, addr: SocketAddr) -> bool {
        self.listeners.conflicts(addr)
    }

    /// The listener a SYN to `dst` reaches: an exact address match first, then a
    /// wildcard listener of the same family.
    pub(crate) fn listener_for(&self, dst: SocketAddr) -> Option<SocketId> {
        self.listeners.find(dst, |_| true)
    }

    pub(crate) fn add_listener(&mut self, addr: SocketAddr, socket: SocketId) {
        self.listeners.insert(addr, socket);
    }

    pub(crate) fn remove_listener(&mut self, addr: SocketAddr, socket: SocketId) {
        self.listeners.remove(addr, socket);
    }

    pub(crate) fn acquire_port(&mut self, family: Family, port: u16) {
        *self
            .port_refs
            .entry((family == Family::Ipv6, port))
            .or_insert(0) += 1;
    }

    pub(crate) fn release_port(&mut self, family: Family, port: u16) {
        let key = (family == Family::Ipv6, port);
        if let Some(n) = self.port_refs.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.port_refs.remove(&key);
            }
        }
    }

    /// A free ephemeral port: a seeded random start, then the next unused one (as
    /// Linux probes from a hashed offset). `address-in-use` once the range is exhausted.
    pub(crate) fn ephemeral_port(
        &mut self,
        family: Family,
        range: &std::ops::RangeInclusive<u16>,
    ) -> Result<u16, ErrorCode> {
        free_port(&self.port_refs, family, range, &mut self.port_rng)
    }
}

/// A port of `range` that no entry of `used` (keyed by (IPv6?, port)) holds for
/// `family`: a seeded random start, then the next free one, wrapping around (as Linux
/// probes from a hashed offset). `address-in-use` once the range is exhausted.
fn free_port(
    used: &BTreeMap<(bool, u16), u32>,
    family: Family,
    range: &std::ops::RangeInclusive<u16>,
    rng: &mut SimRng,
) -> Result<u16, ErrorCode> {
    let (lo, hi) = (u32::from(*range.start()), u32::from(*range.end()));
    if lo > hi || lo == 0 {
        return Err(ErrorCode::AddressInUse);
    }
    let span = hi - lo + 1;
    let start = lo + rng.random_range(0..span);
    let v6 = family == Family::Ipv6;
    // The first port from `start` up, then from `lo` up, that no entry holds: walk
    // the (ordered) used ports while they are consecutive.
    let first_free = |from: u32, to: u32| -> Option<u16> {
        let mut want = from;
        for (&(_, p), _) in used.range((v6, from as u16)..=(v6, to as u16)) {
            if u32::from(p) != want {
                break;
            }
            want += 1;
        }
        (want <= to).then_some(want as u16)
    };
    first_free(start, hi)
        .or_else(|| first_free(lo, start.saturating_sub(1).max(lo)))
        .filter(|p| !used.contains_key(&(v6, *p)))
        .ok_or(ErrorCode::AddressInUse)
}

/// Whether `ip` may be given to a host as one of its addresses: unicast, specified,
/// not loopback (every host has its own), not IPv4-mapped.
pub fn is_valid_host_address(ip: IpAddr) -> bool {
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
        || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()))
}

/// Sockets by the (address, port) they hold, and how many hold each (family, port)
/// whatever their address, so that the unspecified address sees every conflict:
/// a host's TCP listeners, and its bound UDP sockets.
#[derive(Debug, Default)]
pub(crate) struct PortTable {
    bound: BTreeMap<(IpAddr, u16), SocketId>,
    per_port: BTreeMap<(bool, u16), u32>,
}

impl PortTable {
    pub(crate) fn get(&self, addr: SocketAddr) -> Option<SocketId> {
        self.bound.get(&(addr.ip(), addr.port())).copied()
    }

    /// The socket a packet to `dst` reaches: the one holding `dst` exactly, else the
    /// one holding the unspecified address on its port; `accepts` may turn either
    /// down (a connected UDP socket takes only its peer's datagrams).
    pub(crate) fn find(
        &self,
        dst: SocketAddr,
        accepts: impl Fn(SocketId) -> bool,
    ) -> Option<SocketId> {
        [dst, SocketAddr::new(unspecified_of(dst.ip()), dst.port())]
            .into_iter()
            .filter_map(|addr| self.get(addr))
            .find(|&id| accepts(id))
    }

    /// The same port on an equal address, or with either address unspecified, is
    /// taken (Linux's rule for listeners, and for UDP without `SO_REUSEADDR`).
    pub(crate) fn conflicts(&self, addr: SocketAddr) -> bool {
        let (ip, port) = (addr.ip(), addr.port());
        if ip.is_unspecified() {
            return self.per_port.contains_key(&(ip.is_ipv6(), port));
        }
        self.bound.contains_key(&(ip, port)) || self.bound.contains_key(&(unspecified_of(ip), port))
    }

    pub(crate) fn insert(&mut self, addr: SocketAddr, id: SocketId) {
        if self.bound.insert((addr.ip(), addr.port()), id).is_none() {
            *self
                .per_port
                .entry((addr.is_ipv6(), addr.port()))
                .or_insert(0) += 1;
        }
    }

    pub(crate) fn remove(&mut self, addr: SocketAddr, id: SocketId) {
        if self.get(addr) != Some(id) {
            return;
        }
        self.bound.remove(&(addr.ip(), addr.port()));
        let key = (addr.is_ipv6(), addr.port());
        if let Some(n) = self.per_port.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_port.remove(&key);
            }
        }
    }

    /// A port of `range` no socket of `family` holds (see [`free_port`]).
    pub(crate) fn ephemeral(
        &self,
        family: Family,
        range: &std::ops::RangeInclusive<u16>,
        rng: &mut SimRng,
    ) -> Result<u16, ErrorCode> {
        free_port(&self.per_port, family, range, rng)
    }
}
