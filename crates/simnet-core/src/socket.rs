//! API sockets: what a guest's `tcp-socket` resource stands for. The state enum mirrors
//! the WIT's states; the results of each call in each state follow wasmtime-wasi on
//! Linux (see `Net`'s socket methods and `docs/tcp-model.md`).

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::autotune::BufferSize;
use crate::config::TcpConfig;
use crate::error::ErrorCode;
use crate::ids::{ConnId, HostId};

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

/// The states of `wasi:sockets/tcp`'s `tcp-socket`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    Unbound,
    BindInProgress,
    Bound,
    ListenInProgress,
    Listening,
    ConnectInProgress,
    Connected,
    /// Only reached through a failed connect; operations then report that error.
    Closed,
}

impl TcpState {
    pub const fn as_str(self) -> &'static str {
        match self {
            TcpState::Unbound => "unbound",
            TcpState::BindInProgress => "bind-in-progress",
            TcpState::Bound => "bound",
            TcpState::ListenInProgress => "listen-in-progress",
            TcpState::Listening => "listening",
            TcpState::ConnectInProgress => "connect-in-progress",
            TcpState::Connected => "connected",
            TcpState::Closed => "closed",
        }
    }

    /// A start-* call has not been finished yet.
    pub const fn in_progress(self) -> bool {
        matches!(
            self,
            TcpState::BindInProgress | TcpState::ListenInProgress | TcpState::ConnectInProgress
        )
    }

    /// The kernel socket has a local address (wasmtime-wasi's `is_bound`).
    pub const fn is_bound(self) -> bool {
        !matches!(self, TcpState::Unbound)
    }

    pub const fn is_listening(self) -> bool {
        matches!(self, TcpState::ListenInProgress | TcpState::Listening)
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

/// What an API socket is attached to.
#[derive(Debug)]
pub(crate) enum Attachment {
    None,
    /// One side of a connection (connecting, connected, or accepted).
    Conn(ConnId, crate::segment::Side),
    /// A listener: established connections waiting for `accept`, and half-open ones
    /// (SYN received, handshake not complete). Both count against the backlog.
    Listener {
        ready: VecDeque<ConnId>,
        half_open: Vec<ConnId>,
    },
}

#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) host: HostId,
    pub(crate) family: Family,
    pub(crate) state: TcpState,
    /// The bound local address, once bound (port > 0).
    pub(crate) local: Option<SocketAddr>,
    /// Whether this socket holds a reference on `local`'s port in the host's table.
    pub(crate) holds_port: bool,
    pub(crate) options: SocketOptions,
    pub(crate) backlog: u32,
    pub(crate) attachment: Attachment,
    /// The error a failed connect left the socket with (state `Closed`).
    pub(crate) closed_error: Option<ErrorCode>,
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
            state: TcpState::Unbound,
            local: None,
            holds_port: false,
            options: SocketOptions::defaults(cfg),
            backlog: cfg.listen_backlog,
            attachment: Attachment::None,
            closed_error: None,
            reader_closed: false,
            writer_closed: false,
            woken: false,
        }
    }

    /// wasmtime-wasi's `as_fd` check shared by option calls: no options while
    /// connecting, and the connect error once closed.
    pub(crate) fn check_options_access(&self) -> Result<(), ErrorCode> {
        match self.state {
            TcpState::ConnectInProgress => Err(ErrorCode::InvalidState),
            TcpState::Closed => Err(self.closed_error.unwrap_or(ErrorCode::InvalidState)),
            _ => Ok(()),
        }
    }

    pub(crate) fn conn(&self) -> Option<(ConnId, crate::segment::Side)> {
        match self.attachment {
            Attachment::Conn(c, s) => Some((c, s)),
            _ => None,
        }
    }
}
