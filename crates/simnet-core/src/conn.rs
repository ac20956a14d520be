//! A connection: two ends and the two byte pipes between them. This is the
//! kernel-side state (the TCB); API sockets attach to one end.

use std::net::SocketAddr;
use std::time::Duration;

use crate::ack_policy::AckPolicy;
use crate::error::ErrorCode;
use crate::ids::{ConnId, HostId, SocketId};
use crate::pipe::Pipe;
use crate::queue::TimerKind;
use crate::segment::Side;
use crate::time::SimTime;

/// Where an end is in the connection's life (a coarse view of RFC 793's states: the
/// FIN states follow from the pipes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The server end before the SYN arrived.
    Idle,
    SynSent,
    SynReceived,
    Established,
    /// Finished, reset, refused or timed out. Nothing more is sent from this end
    /// except RSTs in answer to stray segments.
    Closed,
}

#[derive(Debug)]
pub(crate) struct End {
    pub(crate) phase: Phase,
    /// The API socket using this end.
    pub(crate) socket: Option<SocketId>,
    /// The listener whose queue holds this (server) end until it is accepted.
    pub(crate) listener: Option<SocketId>,
    /// A half-open server end answered with a SYN cookie: in no queue of the
    /// listener, and its SYN-ACK is not retransmitted.
    pub(crate) syn_cookie: bool,
    /// An error the application has not been told about yet.
    pub(crate) error: Option<ErrorCode>,
    /// The application closed its socket; the end lingers to deliver what was written.
    pub(crate) orphaned: bool,
    /// The lingering end holds the socket's port until it is gone.
    pub(crate) holds_port: bool,
    pub(crate) deadlines: [Option<SimTime>; TimerKind::COUNT],
    pub(crate) scheduled: [Option<SimTime>; TimerKind::COUNT],
    pub(crate) rto: Duration,
    /// Smoothed round-trip time and its variation (RFC 6298), in nanoseconds: every
    /// acknowledgement updates them, so they stay integers.
    pub(crate) srtt_nanos: Option<u64>,
    pub(crate) rttvar_nanos: u64,
    pub(crate) retries: u32,
    /// (sequence number, send time) of the segment being timed (Karn's algorithm).
    pub(crate) rtt_probe: Option<(u64, SimTime)>,
    /// In-order segments received and not yet acknowledged.
    pub(crate) unacked_segs: u32,
    /// When received data is acknowledged: at once, or after the delayed-ACK timer.
    pub(crate) ack: AckPolicy,
    /// A connect's first SYN, not sent yet (see `Net::prepare_connect`): whether
    /// its destination is routable.
    pub(crate) unsent_syn: Option<bool>,
    pub(crate) last_recv: SimTime,
    pub(crate) keep_alive_probes: u32,
}

impl End {
    pub(crate) fn new(phase: Phase, rto: Duration, now: SimTime) -> Self {
        End {
            phase,
            socket: None,
            listener: None,
            syn_cookie: false,
            error: None,
            orphaned: false,
            holds_port: false,
            deadlines: [None; TimerKind::COUNT],
            scheduled: [None; TimerKind::COUNT],
            rto,
            srtt_nanos: None,
            rttvar_nanos: 0,
            retries: 0,
            rtt_probe: None,
            unacked_segs: 0,
            ack: AckPolicy::default(),
            unsent_syn: None,
            last_recv: now,
            keep_alive_probes: 0,
        }
    }

    /// Nothing attaches to the end any more and it sends nothing: it can be freed.
    pub(crate) fn is_gone(&self) -> bool {
        matches!(self.phase, Phase::Idle | Phase::Closed)
            && self.socket.is_none()
            && self.listener.is_none()
    }
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) addrs: [SocketAddr; 2],
    pub(crate) hosts: [HostId; 2],
    /// Index of the link that carries segments sent by each side.
    pub(crate) links: [usize; 2],
    pub(crate) mss: u32,
    pub(crate) ends: [End; 2],
    /// `pipes[i]` carries the bytes side `i` sends.
    pub(crate) pipes: [Pipe; 2],
    /// Arrival time of the latest segment sent by each side: later segments never
    /// arrive before it, whatever the jitter.
    pub(crate) last_arrival: [SimTime; 2],
    /// A socket connected to its own address and port: its SYN comes back to it and
    /// Linux completes the simultaneous open. The client end is then the only one:
    /// it sends to itself and receives on the pipe it sends on.
    pub(crate) looped: bool,
}

impl Conn {
    pub(crate) fn end(&self, side: Side) -> &End {
        &self.ends[side.index()]
    }

    pub(crate) fn end_mut(&mut self, side: Side) -> &mut End {
        &mut self.ends[side.index()]
    }

    /// The pipe `side` sends on.
    pub(crate) fn tx(&self, side: Side) -> &Pipe {
        &self.pipes[side.index()]
    }

    pub(crate) fn tx_mut(&mut self, side: Side) -> &mut Pipe {
        &mut self.pipes[side.index()]
    }

    /// The side that receives what `from` sends.
    pub(crate) fn receiver(&self, from: Side) -> Side {
        if self.looped { from } else { from.peer() }
    }

    /// The pipe `side` receives on.
    pub(crate) fn rx(&self, side: Side) -> &Pipe {
        &self.pipes[self.rx_index(side)]
    }

    pub(crate) fn rx_mut(&mut self, side: Side) -> &mut Pipe {
        let i = self.rx_index(side);
        &mut self.pipes[i]
    }

    /// `receiver(side).index()` without a branch: every segment asks.
    fn rx_index(&self, side: Side) -> usize {
        side.index() ^ usize::from(!self.looped)
    }
}
