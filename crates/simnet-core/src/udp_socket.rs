//! UDP sockets as the kernel keeps them: each socket's state (one enum whose
//! variants carry their addresses), options, receive queue and pending ICMP error; a
//! host's UDP port table; datagrams in flight. The calls and the wire are in
//! `udp.rs`; `docs/udp-model.md` describes the model.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use bytes::Bytes;

use crate::error::ErrorCode;
use crate::ids::{HostId, SocketId};
use crate::packet::{DatagramHeader, DatagramSlot};
use crate::socket::Family;

/// Largest payload a datagram may carry: 65,535 less the UDP header, and for IPv4 the
/// IP header too (Linux answers `EMSGSIZE` beyond it).
pub const fn max_payload(family: Family) -> usize {
    match family {
        Family::Ipv4 => 65_507,
        Family::Ipv6 => 65_527,
    }
}

/// What a UDP socket's receive buffer is charged for one datagram: its payload in a
/// buffer sized as Linux sizes one on loopback (kernel 6.x, measured: 256 datagrams
/// of up to ~150 bytes fit the default 212,992-byte buffer, 92 of 1,000 bytes, 12 of
/// 8,000 bytes).
fn truesize(len: usize) -> u64 {
    let buffer = len as u64 + 426;
    let buffer = if buffer <= 576 {
        576
    } else {
        buffer.next_power_of_two()
    };
    buffer + 256
}

/// A received datagram, as `receive` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The sender's address.
    pub src: SocketAddr,
    pub payload: Bytes,
}

/// The states of a `udp-socket`, each with what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdpState {
    Unbound,
    /// Bound to `local`. After a disconnect, what the application did not choose
    /// reads as unspecified (an automatically chosen address as the unspecified
    /// address, an automatically chosen port as 0), as on Linux.
    Bound {
        local: SocketAddr,
    },
    /// Bound, and sending to and receiving from `remote` only.
    Connected {
        local: SocketAddr,
        remote: SocketAddr,
    },
}

impl UdpState {
    /// The same state with `local` as its address (an unbound socket becomes bound).
    pub(crate) fn with_local(self, local: SocketAddr) -> UdpState {
        match self {
            UdpState::Connected { remote, .. } => UdpState::Connected { local, remote },
            UdpState::Unbound | UdpState::Bound { .. } => UdpState::Bound { local },
        }
    }

    pub fn local(&self) -> Option<SocketAddr> {
        match *self {
            UdpState::Unbound => None,
            UdpState::Bound { local } | UdpState::Connected { local, .. } => Some(local),
        }
    }

    pub fn remote(&self) -> Option<SocketAddr> {
        match *self {
            UdpState::Connected { remote, .. } => Some(remote),
            _ => None,
        }
    }
}

/// Which parts of a socket's local address the application chose (Linux's
/// `SOCK_BINDADDR_LOCK` and `SOCK_BINDPORT_LOCK`): a disconnect forgets the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BindLocks {
    pub(crate) addr: bool,
    pub(crate) port: bool,
}

/// Options a UDP socket's getters report, in wasmtime-wasi's units (buffer sizes as
/// Linux reports them, halved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpOptions {
    pub unicast_hop_limit: u8,
    pub receive_buffer: u64,
    pub send_buffer: u64,
}

#[derive(Debug)]
pub(crate) struct UdpSocket {
    pub(crate) host: HostId,
    pub(crate) family: Family,
    pub(crate) state: UdpState,
    pub(crate) locks: BindLocks,
    pub(crate) options: UdpOptions,
    /// Datagrams received and not yet read, and what they are charged.
    queue: VecDeque<Datagram>,
    queued: u64,
    /// An ICMP error waiting to be reported by the next send or receive.
    pub(crate) pending_error: Option<ErrorCode>,
    /// Already in the world's list of sockets whose readiness may have changed.
    pub(crate) woken: bool,
}

impl UdpSocket {
    pub(crate) fn new(host: HostId, family: Family, options: UdpOptions) -> Self {
        UdpSocket {
            host,
            family,
            state: UdpState::Unbound,
            locks: BindLocks::default(),
            options,
            queue: VecDeque::new(),
            queued: 0,
            pending_error: None,
            woken: false,
        }
    }

    /// The receive buffer in the kernel's units (what Linux compares its charges with).
    fn receive_capacity(&self) -> u64 {
        self.options.receive_buffer * 2
    }

    /// The port this socket holds in its host's table, if any.
    pub(crate) fn held_port(&self) -> Option<SocketAddr> {
        self.state.local().filter(|l| l.port() != 0)
    }

    fn readable(&self) -> bool {
        self.pending_error.is_some() || !self.queue.is_empty()
    }

    /// Whether a pollable for sending or reading is ready. Sending never waits (a
    /// link takes every datagram at once); reading waits for a datagram or an error,
    /// except on an unbound socket, which fails at once.
    pub(crate) fn is_ready(&self, reading: bool) -> bool {
        !reading || self.state == UdpState::Unbound || self.readable()
    }

    /// Queue a datagram unless its charge would take the queue past the receive
    /// buffer; an empty queue takes any datagram (Linux checks what is already
    /// queued). Whether it was queued.
    pub(crate) fn enqueue(&mut self, datagram: Datagram) -> bool {
        let charge = truesize(datagram.payload.len());
        if !self.queue.is_empty() && self.queued + charge > self.receive_capacity() {
            return false;
        }
        self.queued += charge;
        self.queue.push_back(datagram);
        true
    }

    /// Discard queued datagrams from anyone but `remote`.
    pub(crate) fn keep_only_from(&mut self, remote: SocketAddr) {
        self.queue.retain(|d| d.src == remote);
        self.queued = self.queue.iter().map(|d| truesize(d.payload.len())).sum();
    }

    /// The oldest queued datagram. (A connected socket's queue holds only its
    /// remote's: connecting discards the others, and arrivals from others are not
    /// taken.)
    pub(crate) fn dequeue(&mut self) -> Option<Datagram> {
        let d = self.queue.pop_front()?;
        self.queued = self.queued.saturating_sub(truesize(d.payload.len()));
        Some(d)
    }
}

/// A datagram between send and arrival.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) header: DatagramHeader,
    pub(crate) payload: Bytes,
    /// Copies still on a link (a duplicating link makes two).
    pub(crate) copies: u8,
}

/// Everything UDP keeps: sockets (in the same id space as TCP sockets, so the layers
/// above track both alike) and datagrams in flight.
#[derive(Debug, Default)]
pub(crate) struct UdpLayer {
    pub(crate) sockets: BTreeMap<SocketId, UdpSocket>,
    in_flight: Vec<Option<InFlight>>,
    free: Vec<u32>,
    pub(crate) next_id: u64,
    /// What the datagrams in flight are charged (`in_flight_charge`: payload plus
    /// 128 each), bounded by `UdpConfig::max_in_flight_bytes`.
    pub(crate) in_flight_bytes: u64,
}

impl UdpLayer {
    pub(crate) fn park(&mut self, flight: InFlight) -> DatagramSlot {
        self.in_flight_bytes += in_flight_charge(flight.payload.len());
        match self.free.pop() {
            Some(i) => {
                self.in_flight[i as usize] = Some(flight);
                DatagramSlot(i)
            }
            None => {
                self.in_flight.push(Some(flight));
                DatagramSlot((self.in_flight.len() - 1) as u32)
            }
        }
    }

    pub(crate) fn header(&self, slot: DatagramSlot) -> Option<DatagramHeader> {
        Some(self.in_flight.get(slot.0 as usize)?.as_ref()?.header)
    }

    /// One copy of the datagram in `slot` left the link; the slot is freed with the
    /// last, and its header and payload are returned.
    pub(crate) fn land(&mut self, slot: DatagramSlot) -> Option<(DatagramHeader, Bytes)> {
        let entry = self.in_flight.get_mut(slot.0 as usize)?;
        let flight = entry.as_mut()?;
        flight.copies -= 1;
        let out = (flight.header, flight.payload.clone());
        if flight.copies == 0 {
            self.in_flight_bytes -= in_flight_charge(flight.payload.len());
            *entry = None;
            self.free.push(slot.0);
        }
        Some(out)
    }
}

/// What a datagram in flight counts against `UdpConfig::max_in_flight_bytes`: its
/// payload and what the simulation keeps of it besides (header, slot, queue entry),
/// so that empty datagrams are bounded too.
pub(crate) fn in_flight_charge(len: usize) -> u64 {
    len as u64 + 128
}
