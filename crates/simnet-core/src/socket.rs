//! TCP sockets as the kernel keeps them: one state enum whose variants carry what
//! each state owns (its address, its listener queues, its connection, its error),
//! and the options. The results of each call in each state follow wasmtime-wasi on
//! Linux (see `Net`'s socket methods and `docs/tcp-model.md`); the WASI 0.2
//! start/finish states sit above this, in the WASI host.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::autotune::BufferSize;
use crate::config::TcpConfig;
use crate::error::ErrorCode;
use crate::ids::{ConnId, HostId};
use crate::segment::Side;

/// `ip-address-family`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

/// The unspecified address of a family.
pub(crate) fn unspecified(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The unspecified address of `ip`'s family.
pub(crate) fn unspecified_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Not multicast, not broadcast.
pub(crate) fn is_valid_unicast(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_multicast(),
    }
}

/// Whether a socket of `family` may use `ip`, as wasmtime-wasi checks it.
pub(crate) fn is_valid_family(ip: IpAddr, family: Family) -> bool {
    match (family, ip) {
        (Family::Ipv4, IpAddr::V4(_)) => true,
        (Family::Ipv6, IpAddr::V6(v6)) => {
            // IPv4-mapped and deprecated IPv4-compatible addresses are rejected.
            let compatible = v6.segments()[..6].iter().all(|&s| s == 0)
                && !v6.is_loopback()
                && !v6.is_unspecified();
            v6.to_ipv4_mapped().is_none() && !compatible
        }
        _ => false,
    }
}

/// An address one can send to: a specified address and a port.
pub(crate) fn is_valid_remote(addr: SocketAddr) -> bool {
    !addr.ip().to_canonical().is_unspecified() && addr.port() != 0
}

/// Where a TCP socket is in its life, as the kernel sees it: the view of
/// [`SocketState`] that the trace records and [`crate::Net::state`] reports. The WASI
/// 0.2 start/finish pairs add their in-progress states above this, in the WASI host.
///
/// The trace hash takes a state by its number. The numbers are those the states had
/// when this enum also held WASI 0.2's in-progress states, so a transition hashes as
/// it did then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    Unbound = 0,
    Bound = 2,
    Listening = 4,
    /// A connect is under way (or failed before its SYN could leave); the outcome
    /// is known once [`crate::Net::connect_outcome`] has reported it.
    Connecting = 5,
    Connected = 6,
    /// Only reached through a failed connect; operations then report that error.
    Closed = 7,
}

impl TcpState {
    pub const fn as_str(self) -> &'static str {
        match self {
            TcpState::Unbound => "unbound",
            TcpState::Bound => "bound",
            TcpState::Listening => "listening",
            TcpState::Connecting => "connecting",
            TcpState::Connected => "connected",
            TcpState::Closed => "closed",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A listener's queues: established connections waiting for `accept`, and half-open
/// ones (SYN received, handshake not complete). Both count against the backlog.
#[derive(Debug, Default)]
pub(crate) struct ListenQueue {
    pub(crate) ready: VecDeque<ConnId>,
    pub(crate) half_open: Vec<ConnId>,
}

/// A TCP socket's state with what each state owns. Every state with a `local`
/// address holds that address's port in the host's table; leaving it releases the
/// port (or hands it to a lingering connection end).
#[derive(Debug)]
pub(crate) enum SocketState {
    Unbound,
    Bound {
        local: SocketAddr,
    },
    Listening {
        local: SocketAddr,
        queue: ListenQueue,
    },
    /// The client side of connection `conn` has sent its SYN from `local`.
    Connecting {
        local: SocketAddr,
        conn: ConnId,
    },
    /// A connect that failed before its SYN could leave (no route, no free port).
    /// Like any connect it reports `error` once its outcome is asked for. `bound` is
    /// the address the socket was bound to before, if any.
    ConnectFailed {
        bound: Option<SocketAddr>,
        error: ErrorCode,
    },
    /// One side of an established connection (connected or accepted).
    Connected {
        local: SocketAddr,
        conn: ConnId,
        side: Side,
    },
    /// A connect failed with `error`.
    Closed {
        error: ErrorCode,
    },
}

impl SocketState {
    pub(crate) fn view(&self) -> TcpState {
        match self {
            SocketState::Unbound => TcpState::Unbound,
            SocketState::Bound { .. } => TcpState::Bound,
            SocketState::Listening { .. } => TcpState::Listening,
            SocketState::Connecting { .. } | SocketState::ConnectFailed { .. } => {
                TcpState::Connecting
            }
            SocketState::Connected { .. } => TcpState::Connected,
            SocketState::Closed { .. } => TcpState::Closed,
        }
    }

    /// The local address, and so the port held, if any.
    pub(crate) fn local(&self) -> Option<SocketAddr> {
        match *self {
            SocketState::Bound { local }
            | SocketState::Listening { local, .. }
            | SocketState::Connecting { local, .. }
            | SocketState::Connected { local, .. } => Some(local),
            SocketState::ConnectFailed { bound, .. } => bound,
            SocketState::Unbound | SocketState::Closed { .. } => None,
        }
    }

    /// The connection end the socket uses: connecting, connected or accepted.
    pub(crate) fn conn(&self) -> Option<(ConnId, Side)> {
        match *self {
            SocketState::Connecting { conn, .. } => Some((conn, Side::Client)),
            SocketState::Connected { conn, side, .. } => Some((conn, side)),
            _ => None,
        }
    }

    /// The error every call reports once a connect failed.
    pub(crate) fn closed_error(&self) -> Option<ErrorCode> {
        match *self {
            SocketState::Closed { error } => Some(error),
            _ => None,
        }
    }
}

/// `shutdown-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownType {
    Receive,
    Send,
    Both,
}

/// Socket options, as the getters report them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    pub keep_alive_enabled: bool,
    pub keep_alive_idle_time: Duration,
    pub keep_alive_interval: Duration,
    pub keep_alive_count: u32,
    pub hop_limit: u8,
    /// `receive-buffer-size` as the application left it; a connected socket reports
    /// its connection's current (possibly tuned) size instead.
    pub receive_buffer: BufferSize,
    /// `send-buffer-size`, likewise.
    pub send_buffer: BufferSize,
}

impl SocketOptions {
    pub(crate) fn defaults(cfg: &TcpConfig) -> Self {
        SocketOptions {
            keep_alive_enabled: false,
            keep_alive_idle_time: cfg.keep_alive_idle,
            keep_alive_interval: cfg.keep_alive_interval,
            keep_alive_count: cfg.keep_alive_count,
            hop_limit: cfg.hop_limit,
            receive_buffer: BufferSize::Auto,
            send_buffer: BufferSize::Auto,
        }
    }
}

/// Keep-alive times: wasmtime-wasi clamps to 1 s..=i16::MAX s and Linux keeps whole seconds.
pub(crate) fn clamp_keep_alive_time(nanos: u64) -> Duration {
    const MAX_SECS: u64 = i16::MAX as u64;
    Duration::from_secs((nanos / 1_000_000_000).clamp(1, MAX_SECS))
}

/// A `set-*-buffer-size` value as the getter then reports it: 0 is
/// `invalid-argument`, anything else is clamped to what Linux allows (TCP and UDP).
pub(crate) fn clamp_buffer_size(value: u64, range: &RangeInclusive<u64>) -> Result<u64, ErrorCode> {
    if value == 0 {
        return Err(ErrorCode::InvalidArgument);
    }
    Ok(value.max(*range.start()).min(*range.end()))
}

/// Keep-alive probe count: clamped to 1..=i8::MAX (Linux's limit).
pub(crate) fn clamp_keep_alive_count(n: u32) -> u32 {
    n.clamp(1, i8::MAX as u32)
}

#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) host: HostId,
    pub(crate) family: Family,
    pub(crate) state: SocketState,
    pub(crate) options: SocketOptions,
    pub(crate) backlog: u32,
    /// Local stream state (wasmtime-wasi keeps these in its stream wrappers).
    pub(crate) reader_closed: bool,
    pub(crate) writer_closed: bool,
    /// Already in the world's list of sockets whose readiness may have changed.
    pub(crate) woken: bool,
}

impl Socket {
    pub(crate) fn new(host: HostId, family: Family, cfg: &TcpConfig) -> Self {
        Socket {
            host,
            family,
            state: SocketState::Unbound,
            options: SocketOptions::defaults(cfg),
            backlog: cfg.listen_backlog,
            reader_closed: false,
            writer_closed: false,
            woken: false,
        }
    }

    /// Option calls on a socket whose connect failed report that error.
    pub(crate) fn check_options_access(&self) -> Result<(), ErrorCode> {
        match self.state.closed_error() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    pub(crate) fn conn(&self) -> Option<(ConnId, Side)> {
        self.state.conn()
    }

    /// The listener's queues, if the socket listens.
    pub(crate) fn listen_queue(&self) -> Option<&ListenQueue> {
        match &self.state {
            SocketState::Listening { queue, .. } => Some(queue),
            _ => None,
        }
    }

    pub(crate) fn listen_queue_mut(&mut self) -> Option<&mut ListenQueue> {
        match &mut self.state {
            SocketState::Listening { queue, .. } => Some(queue),
            _ => None,
        }
    }
}
