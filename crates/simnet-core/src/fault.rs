//! Network faults, applied at a virtual time: partitions, clogged links, link changes,
//! host crashes and restarts, connection resets. They act on segments already in
//! flight: a partition or a crash drops a segment when it arrives, a clog holds it.
//! Every fault is traced.

use std::fmt;

use indexmap::{IndexMap, IndexSet};
use rand::RngExt;

use crate::rng::SimRng;

use crate::conn::Phase;
use crate::error::{ErrorCode, NetError};
use crate::ids::{ConnId, HostId, SocketId};
use crate::link::LinkConfig;
use crate::net::Net;
use crate::segment::{Segment, Side};
use crate::trace::{DropReason, TraceEvent};

/// How a host goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashMode {
    /// The process dies and the kernel resets its connections: peers see RSTs at once.
    Reset,
    /// Power loss: nothing is sent, the host answers nothing until it restarts, and
    /// its peers find out only through their own timeouts or keep-alive.
    Silent,
}

/// A fault to apply to the network.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Drop every segment from a host in `from` to a host in `to` (and back, unless
    /// `one_way`), including those already in flight, until healed.
    Partition {
        from: Vec<HostId>,
        to: Vec<HostId>,
        one_way: bool,
    },
    /// Undo partitions between the two sets, both directions.
    Heal { from: Vec<HostId>, to: Vec<HostId> },
    /// Hold segments from `from` to `to` (and back, unless `one_way`) as they arrive;
    /// they are delivered, in order, on release.
    Clog {
        from: HostId,
        to: HostId,
        one_way: bool,
    },
    /// Deliver what a clog held, both directions, and stop holding.
    Release { from: HostId, to: HostId },
    /// Change the link between two hosts (both directions).
    SetLink {
        a: HostId,
        b: HostId,
        config: LinkConfig,
    },
    /// Take a host down: every socket on it is gone.
    Crash { host: HostId, mode: CrashMode },
    /// Bring a crashed host back (with no sockets; its programs start afresh).
    Restart { host: HostId },
    /// Reset a connection as a middlebox would: both ends see `connection-reset`.
    ResetConnection { conn: ConnId },
    /// Reset one live connection between hosts, chosen with the seeded fault stream
    /// (any connection if `between` is empty).
    ResetRandomConnection { between: Vec<HostId> },
}

/// What the trace records of a fault: one record per directed host pair for
/// partitions and clogs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultEvent {
    Partitioned {
        from: HostId,
        to: HostId,
    },
    Healed {
        from: HostId,
        to: HostId,
    },
    Clogged {
        from: HostId,
        to: HostId,
    },
    Released {
        from: HostId,
        to: HostId,
        segments: u32,
    },
    LinkChanged {
        a: HostId,
        b: HostId,
    },
    HostCrashed {
        host: HostId,
        mode: CrashMode,
    },
    HostRestarted {
        host: HostId,
    },
    ConnectionReset {
        conn: ConnId,
    },
}

impl FaultEvent {
    /// A stable number per kind and the words that identify it, for the trace hash.
    pub(crate) fn words(&self) -> (u64, u64) {
        let pair = |a: HostId, b: HostId| u64::from(a.raw()) << 32 | u64::from(b.raw());
        match *self {
            FaultEvent::Partitioned { from, to } => (1, pair(from, to)),
            FaultEvent::Healed { from, to } => (2, pair(from, to)),
            FaultEvent::Clogged { from, to } => (3, pair(from, to)),
            FaultEvent::Released { from, to, segments } => {
                (4 | u64::from(segments) << 8, pair(from, to))
            }
            FaultEvent::LinkChanged { a, b } => (5, pair(a, b)),
            FaultEvent::HostCrashed { host, mode } => {
                (6 | (mode as u64) << 8, u64::from(host.raw()))
            }
            FaultEvent::HostRestarted { host } => (7, u64::from(host.raw())),
            FaultEvent::ConnectionReset { conn } => (8, u64::from(conn.raw())),
        }
    }
}

impl fmt::Display for FaultEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultEvent::Partitioned { from, to } => write!(f, "partition {from} -> {to}"),
            FaultEvent::Healed { from, to } => write!(f, "heal {from} -> {to}"),
            FaultEvent::Clogged { from, to } => write!(f, "clog {from} -> {to}"),
            FaultEvent::Released { from, to, segments } => {
                write!(f, "release {from} -> {to} ({segments} held segments)")
            }
            FaultEvent::LinkChanged { a, b } => write!(f, "link {a} <-> {b} changed"),
            FaultEvent::HostCrashed { host, mode } => write!(f, "{host} crashed ({mode:?})"),
            FaultEvent::HostRestarted { host } => write!(f, "{host} restarted"),
            FaultEvent::ConnectionReset { conn } => write!(f, "{conn} reset"),
        }
    }
}

/// What happens to a segment when it reaches its destination host.
pub(crate) enum Arrival {
    Deliver,
    Drop(DropReason),
    Held,
}

impl Net {
    /// Apply a fault now.
    pub fn apply_fault(&mut self, fault: &Fault) -> Result<(), NetError> {
        match fault {
            Fault::Partition { from, to, one_way } => {
                self.each_pair(from, to, !one_way, |net, a, b| {
                    if net.faults.blocked.insert((a, b)) {
                        net.record(TraceEvent::Fault(FaultEvent::Partitioned {
                            from: a,
                            to: b,
                        }));
                    }
                });
            }
            Fault::Heal { from, to } => {
                self.each_pair(from, to, true, |net, a, b| {
                    if net.faults.blocked.shift_remove(&(a, b)) {
                        net.record(TraceEvent::Fault(FaultEvent::Healed { from: a, to: b }));
                    }
                });
            }
            Fault::Clog { from, to, one_way } => {
                self.each_pair(&[*from], &[*to], !one_way, |net, a, b| {
                    if !net.faults.held.contains_key(&(a, b)) {
                        net.faults.held.insert((a, b), Vec::new());
                        net.record(TraceEvent::Fault(FaultEvent::Clogged { from: a, to: b }));
                    }
                });
            }
            Fault::Release { from, to } => {
                self.each_pair(&[*from], &[*to], true, |net, a, b| net.release(a, b));
            }
            Fault::SetLink { a, b, config } => {
                self.set_link(*a, *b, *config)?;
                self.record(TraceEvent::Fault(FaultEvent::LinkChanged { a: *a, b: *b }));
            }
            Fault::Crash { host, mode } => self.crash_host(*host, *mode),
            Fault::Restart { host } => {
                if self.faults.down.shift_remove(host) {
                    self.record(TraceEvent::Fault(FaultEvent::HostRestarted { host: *host }));
                }
            }
            Fault::ResetConnection { conn } => self.reset_connection(*conn),
            Fault::ResetRandomConnection { between } => {
                let live: Vec<ConnId> = (0..self.conns.len())
                    .filter_map(|i| {
                        let conn = self.conns[i].as_ref()?;
                        let touches =
                            between.is_empty() || conn.hosts.iter().any(|h| between.contains(h));
                        let open = conn.ends.iter().any(|e| e.phase == Phase::Established);
                        (touches && open).then_some(ConnId(i as u32))
                    })
                    .collect();
                if !live.is_empty() {
                    let pick = self.faults.rng.random_range(0..live.len());
                    self.reset_connection(live[pick]);
                }
            }
        }
        Ok(())
    }

    fn each_pair(
        &mut self,
        from: &[HostId],
        to: &[HostId],
        both_ways: bool,
        mut f: impl FnMut(&mut Net, HostId, HostId),
    ) {
        for &a in from {
            for &b in to {
                if a == b {
                    continue;
                }
                f(self, a, b);
                if both_ways {
                    f(self, b, a);
                }
            }
        }
    }

    /// Whether a host is down (crashed silently and not restarted).
    pub fn is_host_down(&self, host: HostId) -> bool {
        self.faults.down.contains(&host)
    }

    /// Whether segments from `from` to `to` are being dropped by a partition.
    pub fn is_partitioned(&self, from: HostId, to: HostId) -> bool {
        self.faults.blocked.contains(&(from, to))
    }

    /// Decide the fate of a segment arriving at its destination.
    pub(crate) fn arrival(&mut self, seg: &Segment) -> Arrival {
        let Some(&(_, hosts)) = self.endpoints.get(seg.conn.index()) else {
            return Arrival::Deliver;
        };
        let (from, to) = (hosts[seg.from.index()], hosts[seg.from.peer().index()]);
        if from == to {
            return Arrival::Deliver;
        }
        if self.faults.down.contains(&to) {
            return Arrival::Drop(DropReason::HostDown);
        }
        if self.faults.blocked.contains(&(from, to)) {
            return Arrival::Drop(DropReason::Partitioned);
        }
        if let Some(held) = self.faults.held.get_mut(&(from, to)) {
            held.push(*seg);
            return Arrival::Held;
        }
        Arrival::Deliver
    }

    fn release(&mut self, from: HostId, to: HostId) {
        let Some(held) = self.faults.held.shift_remove(&(from, to)) else {
            return;
        };
        self.record(TraceEvent::Fault(FaultEvent::Released {
            from,
            to,
            segments: held.len() as u32,
        }));
        // Delivered now, in the order they arrived.
        for seg in held {
            self.deliver(seg);
        }
    }

    fn crash_host(&mut self, host: HostId, mode: CrashMode) {
        self.record(TraceEvent::Fault(FaultEvent::HostCrashed { host, mode }));
        if mode == CrashMode::Silent {
            self.faults.down.insert(host);
        }
        // Every connection end on the host: reset (the kernel's work on process death)
        // or just gone (power loss).
        for i in 0..self.conns.len() {
            let c = ConnId(i as u32);
            for side in [Side::Client, Side::Server] {
                let Some(conn) = self.conn(c) else { break };
                if conn.hosts[side.index()] != host || conn.end(side).phase == Phase::Closed {
                    continue;
                }
                match mode {
                    CrashMode::Reset => self.abort(c, side),
                    CrashMode::Silent => self.close_phase(c, side, None, false),
                }
            }
        }
        let sockets: Vec<SocketId> = (0..self.sockets.len())
            .filter(|&i| self.sockets[i].as_ref().is_some_and(|s| s.host == host))
            .map(|i| SocketId(i as u32))
            .collect();
        for s in sockets {
            // Its connection ends are closed above, so closing sends nothing more.
            let _ = self.close(s);
        }
    }

    fn reset_connection(&mut self, c: ConnId) {
        if self.conn(c).is_none() {
            return;
        }
        self.record(TraceEvent::Fault(FaultEvent::ConnectionReset { conn: c }));
        for side in [Side::Client, Side::Server] {
            let Some(conn) = self.conn(c) else { break };
            if matches!(
                conn.end(side).phase,
                Phase::Established | Phase::SynSent | Phase::SynReceived
            ) {
                self.close_phase(c, side, Some(ErrorCode::ConnectionReset), true);
            }
        }
    }
}

/// The network's fault state.
pub(crate) struct FaultState {
    /// Directed host pairs whose segments are dropped.
    pub(crate) blocked: IndexSet<(HostId, HostId)>,
    /// Directed host pairs whose segments are held, with what is held.
    pub(crate) held: IndexMap<(HostId, HostId), Vec<Segment>>,
    /// Hosts that crashed silently and have not restarted.
    pub(crate) down: IndexSet<HostId>,
    /// Choices faults make (which connection a random reset hits).
    pub(crate) rng: SimRng,
}

impl FaultState {
    pub(crate) fn new(seed: u64) -> Self {
        FaultState {
            blocked: IndexSet::new(),
            held: IndexMap::new(),
            down: IndexSet::new(),
            rng: crate::rng::derive(seed, "faults"),
        }
    }
}

impl Net {
    /// Fail a socket's connection with `code`, as if the network had: the socket's next
    /// operation reports it, and a peer that knew the connection gets a reset. Used to
    /// inject API-level failures consistently with the connection's state.
    pub fn fail_socket(&mut self, id: SocketId, code: ErrorCode) -> Result<(), ErrorCode> {
        let Some((c, side)) = self.socket(id)?.conn() else {
            return Err(ErrorCode::InvalidState);
        };
        let Some(conn) = self.conn(c) else {
            return Ok(());
        };
        match conn.end(side).phase {
            Phase::Established | Phase::SynReceived => {
                self.send_rst(c, side);
                self.close_phase(c, side, Some(code), true);
            }
            Phase::SynSent => self.close_phase(c, side, Some(code), true),
            Phase::Idle | Phase::Closed => {}
        }
        Ok(())
    }
}
