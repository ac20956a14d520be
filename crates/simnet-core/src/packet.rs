//! What links carry: a packet is a TCP segment or a UDP datagram. Links, faults
//! (partitions, clogs, crashed hosts) and the event queue handle packets without
//! knowing their protocol; only delivery hands a packet to its protocol.

use std::net::SocketAddr;

use crate::ids::HostId;
use crate::segment::Segment;

/// A packet on its way between two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Packet {
    Tcp(Segment),
    /// A datagram, by its slot in the UDP layer's table of datagrams in flight
    /// (which holds its header and payload).
    Udp(DatagramSlot),
}

/// Where a datagram in flight waits; freed when its last copy reaches its host or is
/// dropped there by a fault. (A datagram the link loses never takes a slot.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DatagramSlot(pub(crate) u32);

/// Bytes of IPv4 and UDP headers a datagram adds on the wire.
pub(crate) const UDP_HEADER_BYTES: u64 = 28;

/// What a datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatagramKind {
    /// Application data.
    Data,
    /// The ICMP port-unreachable answer to a data datagram that found no socket;
    /// `src` and `dst` are those of the datagram it answers.
    PortUnreachable,
}

/// Numbers every datagram sent in a simulation, in order, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatagramId(pub u64);

impl std::fmt::Display for DatagramId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "d{}", self.0)
    }
}

/// A datagram's header, as the trace and a capture see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramHeader {
    pub id: DatagramId,
    pub kind: DatagramKind,
    /// The sending and the receiving host (the sender again when nothing routes the
    /// datagram).
    pub from: HostId,
    pub to: HostId,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Payload bytes.
    pub len: u32,
}
