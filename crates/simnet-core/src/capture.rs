//! Packet capture: every segment put on the wire, with its addresses and payload, as
//! a tap on the sending host's interface would see it (segments later lost on the link
//! are included). Off by default; a pcap writer or a test turns it on.

use std::net::SocketAddr;

use crate::segment::Segment;
use crate::time::SimTime;

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
}
