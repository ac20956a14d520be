//! Packet capture: every segment put on the wire, with its addresses and payload, as
//! a tap on the sending host's interface would see it, and what became of it:
//! delivered, lost on the link, or dropped on arrival (and why), so that a capture
//! file can leave out what never arrived. Off by default; a pcap writer or a test
//! turns it on.

use std::collections::VecDeque;
use std::net::SocketAddr;

use indexmap::IndexMap;

use crate::segment::Segment;
use crate::time::SimTime;
use crate::trace::DropReason;

/// What became of a captured segment.
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

/// One captured segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedSegment {
    pub time: SimTime,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seg: Segment,
    pub retransmit: bool,
    /// The bytes `seg.seq..seg.seq + seg.len` of the stream.
    pub payload: Vec<u8>,
    pub fate: Fate,
}

/// The captured segments, and which of them are still travelling (by segment, in
/// the order they were sent: a link delivers a segment's copies in order).
#[derive(Debug, Default)]
pub(crate) struct Capture {
    pub(crate) segments: Vec<CapturedSegment>,
    in_flight: IndexMap<SegmentKey, VecDeque<usize>>,
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
    pub(crate) fn sent(&mut self, record: CapturedSegment) {
        self.in_flight
            .entry(key(&record.seg))
            .or_default()
            .push_back(self.segments.len());
        self.segments.push(record);
    }

    /// The oldest copy of `seg` still travelling met its fate.
    pub(crate) fn settle(&mut self, seg: &Segment, fate: Fate) {
        let k = key(seg);
        let Some(queue) = self.in_flight.get_mut(&k) else {
            return;
        };
        if let Some(i) = queue.pop_front() {
            self.segments[i].fate = fate;
        }
        if queue.is_empty() {
            self.in_flight.swap_remove(&k);
        }
    }
}
