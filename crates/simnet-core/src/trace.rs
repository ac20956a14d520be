//! The trace: every event of a run as a structured record stamped with virtual time,
//! and a stable hash that summarizes the run. Two runs with the same seed and the
//! same calls produce the same records and the same hash.

use std::fmt;

use crate::error::ErrorCode;
use crate::fault::api::{Effect, Method};
use crate::fault::kind::FaultEvent;
use std::net::SocketAddr;

use crate::ids::{ConnId, HostId, SocketId};
use crate::packet::{DatagramHeader, DatagramId, DatagramKind};
use crate::queue::TimerKind;
use crate::segment::{Segment, Side};
use crate::socket::{Family, TcpState};
use crate::time::SimTime;

/// Why a segment that reached its destination was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The listener's accept queue was full (backlog overflow).
    BacklogFull,
    /// Not the next expected sequence number (after a loss); the receiver re-ACKs.
    OutOfOrder,
    /// No host owns the destination address.
    Unroutable,
    /// The connection is gone on both sides.
    NoConnection,
    /// A partition between the two hosts.
    Partitioned,
    /// The destination host is down (crashed without a trace).
    HostDown,
    /// A datagram found no socket bound to its address (an ICMP port-unreachable
    /// goes back to its sender).
    NoSocket,
    /// A datagram found its socket's receive buffer full.
    ReceiveBufferFull,
    /// A datagram was sent while the network already held
    /// `UdpConfig::max_in_flight_bytes` of datagrams in flight (a bound on the
    /// simulation's memory, not a model of a real queue).
    NetworkFull,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TraceEvent {
    SocketCreated {
        host: HostId,
        socket: SocketId,
        family: Family,
    },
    /// A socket moved between the WIT states.
    StateChanged {
        socket: SocketId,
        from: TcpState,
        to: TcpState,
    },
    SocketClosed {
        socket: SocketId,
    },
    SegmentSent {
        seg: Segment,
        retransmit: bool,
    },
    SegmentDelivered {
        seg: Segment,
    },
    /// Lost on the link (the sender will retransmit).
    SegmentLost {
        seg: Segment,
    },
    SegmentDropped {
        seg: Segment,
        reason: DropReason,
    },
    TimerFired {
        conn: ConnId,
        side: Side,
        kind: TimerKind,
    },
    /// A connection end completed the handshake.
    Established {
        conn: ConnId,
        side: Side,
    },
    /// A connection end failed: reset by its peer, timed out, refused, unreachable.
    ConnectionFailed {
        conn: ConnId,
        side: Side,
        error: ErrorCode,
    },
    /// Both ends of a connection are gone and its state was freed.
    ConnectionFreed {
        conn: ConnId,
    },
    /// A fault was applied.
    Fault(FaultEvent),
    /// An API fault hit a call of a program on `host` (on `socket`, if it had one).
    ApiFault {
        host: HostId,
        socket: Option<SocketId>,
        method: Method,
        effect: Effect,
    },
    UdpSocketCreated {
        host: HostId,
        socket: SocketId,
        family: Family,
    },
    /// A UDP socket took a local address (by `bind`, or implicitly to send).
    UdpBound {
        socket: SocketId,
        local: SocketAddr,
    },
    /// A UDP socket connected to `remote`, or (None) disconnected.
    UdpConnected {
        socket: SocketId,
        remote: Option<SocketAddr>,
    },
    /// A datagram (or an ICMP answer) went on the wire; its header is in
    /// [`Trace::datagram`].
    DatagramSent {
        dgram: DatagramId,
    },
    /// A datagram (or a copy a link made of it) reached its socket's queue, or an
    /// ICMP message reached its host.
    DatagramDelivered {
        dgram: DatagramId,
    },
    /// Lost on the link (nothing resends it).
    DatagramLost {
        dgram: DatagramId,
    },
    DatagramDropped {
        dgram: DatagramId,
        reason: DropReason,
    },
    /// A program on `host` started, ended, or went down with its host. Programs are
    /// numbered by the layer that runs them, in the order it added them.
    Process {
        host: HostId,
        process: u32,
        event: ProcessEvent,
    },
}

/// A program's life, as the layer running it reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessEvent {
    /// Started; `restarts` is how many times it had been started before.
    Started {
        restarts: u32,
    },
    Exited {
        code: i32,
    },
    Trapped,
    /// Stopped by one of its limits (memory, fuel, virtual or busy time).
    LimitExceeded,
    /// Ended by its host's crash.
    Crashed,
}

impl ProcessEvent {
    fn word(self) -> u64 {
        match self {
            ProcessEvent::Started { restarts } => u64::from(restarts) << 8,
            ProcessEvent::Exited { code } => 1 | u64::from(code as u32) << 8,
            ProcessEvent::Trapped => 2,
            ProcessEvent::LimitExceeded => 3,
            ProcessEvent::Crashed => 4,
        }
    }
}

fn effect_word(e: Effect) -> u64 {
    match e {
        Effect::Error(code) => code as u64,
        Effect::FileError(code) => 4 << 8 | code as u64,
        Effect::ShortRead => 1 << 8,
        Effect::ShortWrite => 2 << 8,
        Effect::Stall(d) => 3 << 8 | (d.as_nanos() as u64) << 16,
    }
}

/// One trace record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceRecord {
    pub time: SimTime,
    pub event: TraceEvent,
}

/// How much of the trace to keep. The hash is always computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// Keep every record (the default).
    #[default]
    Full,
    /// Keep only the running hash and count (for long runs and benchmarks).
    HashOnly,
}

/// The records of a run and their running hash.
#[derive(Debug, Default)]
pub struct Trace {
    mode: TraceMode,
    records: Vec<TraceRecord>,
    /// Datagram headers by number (full mode only).
    datagrams: Vec<DatagramHeader>,
    count: u64,
    state: u64,
}

const MIX: u64 = 0x517c_c1b7_2722_0a95;

#[inline]
fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(5) ^ word).wrapping_mul(MIX)
}

/// Murmur3's 64-bit finalizer: spreads the last words' bits over the whole hash.
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Fold a record's words into one: each word rotated by a distinct amount, so a
/// difference in any single field always changes the result; one multiply per record
/// then mixes it into the running state.
#[inline]
fn fold(words: [u64; 5]) -> u64 {
    words[0]
        ^ words[1].rotate_left(13)
        ^ words[2].rotate_left(27)
        ^ words[3].rotate_left(41)
        ^ words[4].rotate_left(53)
}

fn seg_word(s: &Segment) -> u64 {
    u64::from(s.conn.raw()) << 16 | (s.from as u64) << 8 | u64::from(s.flags.bits())
}

fn seg_fold(tag: u64, time: u64, s: &Segment) -> u64 {
    fold([
        time ^ tag << 56,
        seg_word(s),
        s.seq,
        s.ack,
        u64::from(s.len) << 32 | u64::from(s.window),
    ])
}

fn addr_word(a: &SocketAddr) -> u64 {
    let ip = match a.ip() {
        std::net::IpAddr::V4(v4) => u64::from(v4.to_bits()),
        std::net::IpAddr::V6(v6) => {
            let b = v6.to_bits();
            (b as u64) ^ ((b >> 64) as u64).rotate_left(7)
        }
    };
    ip << 16 | u64::from(a.port())
}

fn dgram_fold(tag: u64, time: u64, id: DatagramId, header: Option<&DatagramHeader>) -> u64 {
    let Some(d) = header else {
        return fold([time ^ tag << 56, id.0, 0, 0, 0]);
    };
    fold([
        time ^ tag << 56,
        d.id.0,
        addr_word(&d.src),
        addr_word(&d.dst),
        u64::from(d.len) << 32
            | u64::from(d.from.raw()) << 16
            | u64::from(d.to.raw()) << 1
            | (d.kind == DatagramKind::PortUnreachable) as u64,
    ])
}

impl TraceRecord {
    /// Fold the record into `h`; a datagram's record is hashed with its header.
    fn hash_into(&self, h: u64, header: Option<&DatagramHeader>) -> u64 {
        let t = self.time.as_nanos();
        let simple = |tag: u64, word: u64| fold([t ^ tag << 56, word, 0, 0, 0]);
        let d = match self.event {
            TraceEvent::SocketCreated {
                host,
                socket,
                family,
            } => simple(
                1,
                u64::from(host.raw()) << 32 | u64::from(socket.raw()) << 1 | family as u64,
            ),
            TraceEvent::StateChanged { socket, from, to } => simple(
                2,
                u64::from(socket.raw()) << 16 | (from as u64) << 8 | to as u64,
            ),
            TraceEvent::SocketClosed { socket } => simple(3, u64::from(socket.raw())),
            TraceEvent::SegmentSent { seg, retransmit } => {
                seg_fold(4 + u64::from(retransmit) * 16, t, &seg)
            }
            TraceEvent::SegmentDelivered { seg } => seg_fold(5, t, &seg),
            TraceEvent::SegmentLost { seg } => seg_fold(6, t, &seg),
            TraceEvent::SegmentDropped { seg, reason } => {
                seg_fold(7 + ((reason as u64) << 4), t, &seg)
            }
            TraceEvent::TimerFired { conn, side, kind } => simple(
                8,
                u64::from(conn.raw()) << 16 | (side as u64) << 8 | kind as u64,
            ),
            TraceEvent::Established { conn, side } => {
                simple(9, u64::from(conn.raw()) << 8 | side as u64)
            }
            TraceEvent::ConnectionFailed { conn, side, error } => simple(
                10,
                u64::from(conn.raw()) << 16 | (side as u64) << 8 | error as u64,
            ),
            TraceEvent::ConnectionFreed { conn } => simple(11, u64::from(conn.raw())),
            TraceEvent::Fault(fault) => {
                let (tag, word) = fault.words();
                fold([t ^ 12 << 56, tag, word, 0, 0])
            }
            TraceEvent::ApiFault {
                host,
                socket,
                method,
                effect,
            } => fold([
                t ^ 13 << 56,
                u64::from(host.raw()),
                socket.map_or(u64::MAX, |s| u64::from(s.raw())),
                method as u64,
                effect_word(effect),
            ]),
            TraceEvent::Process {
                host,
                process,
                event,
            } => fold([
                t ^ 14 << 56,
                u64::from(host.raw()) << 32 | u64::from(process),
                event.word(),
                0,
                0,
            ]),
            TraceEvent::UdpSocketCreated {
                host,
                socket,
                family,
            } => simple(
                15,
                u64::from(host.raw()) << 32 | u64::from(socket.raw()) << 1 | family as u64,
            ),
            TraceEvent::UdpBound { socket, local } => fold([
                t ^ 16 << 56,
                u64::from(socket.raw()),
                addr_word(&local),
                0,
                0,
            ]),
            TraceEvent::UdpConnected { socket, remote } => fold([
                t ^ 17 << 56,
                u64::from(socket.raw()),
                remote.map_or(u64::MAX, |r| addr_word(&r)),
                0,
                0,
            ]),
            TraceEvent::DatagramSent { dgram } => dgram_fold(18, t, dgram, header),
            TraceEvent::DatagramDelivered { dgram } => dgram_fold(19, t, dgram, header),
            TraceEvent::DatagramLost { dgram } => dgram_fold(20, t, dgram, header),
            TraceEvent::DatagramDropped { dgram, reason } => {
                dgram_fold(21, t, dgram, header) ^ (reason as u64 + 1).rotate_left(17)
            }
        };
        mix(h, d)
    }
}

impl Trace {
    pub(crate) fn new(mode: TraceMode) -> Self {
        Trace {
            mode,
            ..Default::default()
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, time: SimTime, event: TraceEvent) {
        let rec = TraceRecord { time, event };
        self.state = rec.hash_into(self.state, None);
        self.count += 1;
        if self.mode == TraceMode::Full {
            self.records.push(rec);
        }
    }

    /// Record a datagram's event, hashed with its header. The header is kept once,
    /// when the datagram is sent, so that records stay small.
    pub(crate) fn record_datagram(
        &mut self,
        time: SimTime,
        event: TraceEvent,
        header: &DatagramHeader,
    ) {
        let rec = TraceRecord { time, event };
        self.state = rec.hash_into(self.state, Some(header));
        self.count += 1;
        if self.mode == TraceMode::Full {
            // Datagrams are numbered in the order they are sent, so the header of
            // datagram n sits at index n.
            if matches!(event, TraceEvent::DatagramSent { .. }) {
                debug_assert_eq!(header.id.0, self.datagrams.len() as u64);
                self.datagrams.push(*header);
            }
            self.records.push(rec);
        }
    }

    /// The header of a datagram the trace recorded (kept in [`TraceMode::Full`]).
    pub fn datagram(&self, id: DatagramId) -> Option<&DatagramHeader> {
        self.datagrams.get(usize::try_from(id.0).ok()?)
    }

    /// How many kept records' events satisfy `pred` (tests count retransmissions,
    /// losses and drops this way).
    pub fn count(&self, pred: impl Fn(&TraceEvent) -> bool) -> usize {
        self.records.iter().filter(|r| pred(&r.event)).count()
    }

    /// The kept records (empty in [`TraceMode::HashOnly`]).
    pub fn records(&self) -> &[TraceRecord] {
        &self.records
    }

    /// Number of events recorded, kept or not.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn mode(&self) -> TraceMode {
        self.mode
    }

    /// A stable summary of every record so far (independent of the trace mode).
    pub fn hash(&self) -> u64 {
        finish(self.state ^ self.count)
    }
}

impl fmt::Display for TraceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.time)?;
        match &self.event {
            TraceEvent::SocketCreated {
                host,
                socket,
                family,
            } => {
                write!(f, "{host} {socket} created ({family:?})")
            }
            TraceEvent::StateChanged { socket, from, to } => write!(f, "{socket} {from} -> {to}"),
            TraceEvent::SocketClosed { socket } => write!(f, "{socket} closed"),
            TraceEvent::SegmentSent { seg, retransmit } => {
                let what = if *retransmit { "retransmit" } else { "send" };
                write!(f, "{what} {}", SegDisplay(seg))
            }
            TraceEvent::SegmentDelivered { seg } => write!(f, "deliver {}", SegDisplay(seg)),
            TraceEvent::SegmentLost { seg } => write!(f, "lost {}", SegDisplay(seg)),
            TraceEvent::SegmentDropped { seg, reason } => {
                write!(f, "drop ({reason:?}) {}", SegDisplay(seg))
            }
            TraceEvent::TimerFired { conn, side, kind } => {
                write!(f, "{conn}/{side:?} timer {}", kind.as_str())
            }
            TraceEvent::Established { conn, side } => write!(f, "{conn}/{side:?} established"),
            TraceEvent::ConnectionFailed { conn, side, error } => {
                write!(f, "{conn}/{side:?} failed: {error}")
            }
            TraceEvent::ConnectionFreed { conn } => write!(f, "{conn} freed"),
            TraceEvent::Fault(fault) => write!(f, "fault: {fault:?}"),
            TraceEvent::ApiFault {
                host,
                socket,
                method,
                effect,
            } => match socket {
                Some(s) => write!(f, "{host} {s} {method}: injected {effect}"),
                None => write!(f, "{host} {method}: injected {effect}"),
            },
            TraceEvent::Process {
                host,
                process,
                event,
            } => write!(f, "{host} process {process}: {event:?}"),
            TraceEvent::UdpSocketCreated {
                host,
                socket,
                family,
            } => write!(f, "{host} {socket} created (UDP, {family:?})"),
            TraceEvent::UdpBound { socket, local } => write!(f, "{socket} bound to {local}"),
            TraceEvent::UdpConnected { socket, remote } => match remote {
                Some(r) => write!(f, "{socket} connected to {r}"),
                None => write!(f, "{socket} disconnected"),
            },
            TraceEvent::DatagramSent { dgram } => write!(f, "send datagram {dgram}"),
            TraceEvent::DatagramDelivered { dgram } => write!(f, "deliver datagram {dgram}"),
            TraceEvent::DatagramLost { dgram } => write!(f, "lost datagram {dgram}"),
            TraceEvent::DatagramDropped { dgram, reason } => {
                write!(f, "drop ({reason:?}) datagram {dgram}")
            }
        }
    }
}

struct SegDisplay<'a>(&'a Segment);

impl fmt::Display for SegDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(
            f,
            "{}/{:?} [{}] seq={} ack={} len={} win={}",
            s.conn, s.from, s.flags, s.seq, s.ack, s.len, s.window
        )
    }
}

impl fmt::Display for DatagramHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DatagramKind::Data => write!(
                f,
                "datagram {} {} -> {} len={}",
                self.id, self.src, self.dst, self.len
            ),
            DatagramKind::PortUnreachable => write!(
                f,
                "ICMP {} port unreachable {} (to {})",
                self.id, self.dst, self.src
            ),
        }
    }
}
