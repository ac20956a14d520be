//! Packet capture: every packet put on the wire (TCP segment or UDP datagram), with
//! its addresses and payload, as a tap on the sending host's interface would see it,
//! and what became of it: delivered, lost on the link, or dropped on arrival (and
//! why), so that a capture file can leave out what never arrived. Off by default; a
//! pcap writer or a test turns it on. A capture either keeps every packet (for a
//! test to read) or streams each to a sink, in the order sent, once its fate and
//! the fates of all packets sent before it are known, so that it holds only the
//! packets still travelling.

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
    /// The bytes it carries (for a segment: `seg.seq..seg.seq + seg.len` of the
    /// stream). An ICMP port-unreachable carries no payload of its own in the model:
    /// this is the payload of the datagram it answers, whose headers and first bytes
    /// a real one quotes.
    pub payload: Bytes,
    pub fate: Fate,
}

/// Where a streaming capture hands each packet, in the order sent, once the fates of
/// it and of every packet before it are known (a pcap writer).
pub type CaptureSink = Box<dyn FnMut(&CapturedPacket) + Send>;

/// The captured packets, and which of them are still travelling (segments by their
/// identity, in the order they were sent: a link delivers a segment's copies in
/// order; datagrams by number). Indexes count every packet ever captured: `first`
/// is the index of `packets[0]`, the packets before it having gone to the sink.
#[derive(Default)]
pub(crate) struct Capture {
    pub(crate) packets: VecDeque<CapturedPacket>,
    first: usize,
    in_flight: IndexMap<SegmentKey, VecDeque<usize>>,
    datagrams: IndexMap<DatagramId, usize>,
    sink: Option<CaptureSink>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("packets", &self.packets.len())
            .field("first", &self.first)
            .field("streaming", &self.sink.is_some())
            .finish()
    }
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
    /// A capture that hands packets to `sink` instead of keeping them.
    pub(crate) fn streaming(sink: CaptureSink) -> Capture {
        Capture {
            sink: Some(sink),
            ..Capture::default()
        }
    }

    /// The index the next packet captured gets.
    fn next_index(&self) -> usize {
        self.first + self.packets.len()
    }

    pub(crate) fn sent(&mut self, record: CapturedPacket) {
        if let Transport::Tcp { seg, .. } = &record.transport {
            let index = self.next_index();
            self.in_flight.entry(key(seg)).or_default().push_back(index);
        }
        self.packets.push_back(record);
    }

    pub(crate) fn datagram_sent(&mut self, time: SimTime, header: DatagramHeader, payload: &Bytes) {
        self.datagrams.insert(header.id, self.next_index());
        // An ICMP answer travels from the unreachable address back to the sender.
        let (src, dst) = match header.kind {
            DatagramKind::Data => (header.src, header.dst),
            DatagramKind::PortUnreachable => (header.dst, header.src),
        };
        self.packets.push_back(CapturedPacket {
            time,
            src,
            dst,
            transport: Transport::Udp(header),
            payload: payload.clone(),
            fate: Fate::InFlight,
        });
    }

    fn set_fate(&mut self, index: usize, fate: Fate) {
        if let Some(packet) = index
            .checked_sub(self.first)
            .and_then(|i| self.packets.get_mut(i))
        {
            packet.fate = fate;
        }
        self.stream_settled();
    }

    /// Hand the packets at the front whose fate is known to the sink.
    fn stream_settled(&mut self) {
        let Some(sink) = &mut self.sink else {
            return;
        };
        while self
            .packets
            .front()
            .is_some_and(|p| p.fate != Fate::InFlight)
        {
            if let Some(packet) = self.packets.pop_front() {
                sink(&packet);
                self.first += 1;
            }
        }
    }

    /// Hand every packet left to the sink, those still travelling included (the run
    /// is over: they never met a fate).
    pub(crate) fn flush(&mut self) {
        if let Some(sink) = &mut self.sink {
            for packet in self.packets.drain(..) {
                sink(&packet);
                self.first += 1;
            }
        }
    }

    /// The oldest copy of `seg` still travelling met its fate.
    pub(crate) fn settle(&mut self, seg: &Segment, fate: Fate) {
        let k = key(seg);
        let Some(queue) = self.in_flight.get_mut(&k) else {
            return;
        };
        let index = queue.pop_front();
        if queue.is_empty() {
            self.in_flight.swap_remove(&k);
        }
        if let Some(index) = index {
            self.set_fate(index, fate);
        }
    }

    /// A datagram met its fate (the first copy to do so, when a link duplicated it).
    pub(crate) fn settle_datagram(&mut self, id: DatagramId, fate: Fate) {
        if let Some(index) = self.datagrams.swap_remove(&id) {
            self.set_fate(index, fate);
        }
    }
}
