//! Packet capture: every packet put on the wire (TCP segment or UDP datagram), with
//! its addresses and payload, as a tap on the sending host's interface would see it,
//! and what became of it: delivered, lost on the link, or dropped on arrival (and
//! why), so that a capture file can leave out what never arrived. Off by default; a
//! pcap writer or a test turns it on.

use std::collections::VecDeque;
use std::net::SocketAddr;

use bytes::Bytes;
use indexmap::IndexMap;

use crate::packet::{DatagramHeader, DatagramId, DatagramKind};
use crate::segment::Segment;
use crate::time::SimTime;
use crate::trace::DropReason;

/// What became of a captured packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Still on its way when the capture was read.
    InFlight,
    Delivered,
    /// Lost on the link.
    Lost,
    /// Reached its host and was not accepted.
    Dropped(DropReason),
}

/// The transport header of a captured packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp {
        seg: Segment,
        retransmit: bool,
    },
    /// A UDP datagram, or the ICMP port-unreachable answering one.
    Udp(DatagramHeader),
}

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedPacket {
    pub time: SimTime,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    /// The bytes it carries (for a segment: `seg.seq..seg.seq + seg.len` of the stream).
    pub payload: Vec<u8>,
    pub fate: Fate,
}

/// The captured packets, and which of them are still travelling (segments by their
/// identity, in the order they were sent: a link delivers a segment's copies in
/// order; datagrams by number).
#[derive(Debug, Default)]
pub(crate) struct Capture {
    pub(crate) packets: Vec<CapturedPacket>,
    in_flight: IndexMap<SegmentKey, VecDeque<usize>>,
    datagrams: IndexMap<DatagramId, usize>,
}

/// A segment's identity on the wire.
type SegmentKey = (u32, u8, u8, u64, u64, u32, u32);

fn key(s: &Segment) -> SegmentKey {
    (
        s.conn.raw(),
        s.from as u8,
        s.flags.bits(),
        s.seq,
        s.ack,
        s.len,
        s.window,
    )
}

impl Capture {
    pub(crate) fn sent(&mut self, record: CapturedPacket) {
        if let Transport::Tcp { seg, .. } = &record.transport {
            self.in_flight
                .entry(key(seg))
                .or_default()
                .push_back(self.packets.len());
        }
        self.packets.push(record);
    }

    pub(crate) fn datagram_sent(&mut self, time: SimTime, header: DatagramHeader, payload: &Bytes) {
        self.datagrams.insert(header.id, self.packets.len());
        // An ICMP answer travels from the unreachable address back to the sender.
        let (src, dst) = match header.kind {
            DatagramKind::Data => (header.src, header.dst),
            DatagramKind::PortUnreachable => (header.dst, header.src),
        };
        self.packets.push(CapturedPacket {
            time,
            src,
            dst,
            transport: Transport::Udp(header),
            payload: payload.to_vec(),
            fate: Fate::InFlight,
        });
    }

    /// The oldest copy of `seg` still travelling met its fate.
    pub(crate) fn settle(&mut self, seg: &Segment, fate: Fate) {
        let k = key(seg);
        let Some(queue) = self.in_flight.get_mut(&k) else {
            return;
        };
        if let Some(i) = queue.pop_front() {
            self.packets[i].fate = fate;
        }
        if queue.is_empty() {
            self.in_flight.swap_remove(&k);
        }
    }

    /// A datagram met its fate (the first copy to do so, when a link duplicated it).
    pub(crate) fn settle_datagram(&mut self, id: DatagramId, fate: Fate) {
        if let Some(i) = self.datagrams.swap_remove(&id) {
            self.packets[i].fate = fate;
        }
    }
}
