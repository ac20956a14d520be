//! The kinds of fault: what can be applied to the network and its hosts, and what
//! the trace records of each.

use crate::ids::{ConnId, HostId};
use crate::link::LinkConfig;

use super::api::ApiFault;
use super::disk::{DiskEffect, DiskFault};

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
    /// Drop every packet from a host in `from` to a host in `to` (and back, unless
    /// `one_way`), including those already in flight, until healed.
    Partition {
        from: Vec<HostId>,
        to: Vec<HostId>,
        one_way: bool,
    },
    /// Undo partitions between the two sets, both directions.
    Heal { from: Vec<HostId>, to: Vec<HostId> },
    /// Hold packets from `from` to `to` (and back, unless `one_way`) as they arrive;
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
    /// From now on, inject results at the socket calls (see [`ApiFault`]).
    Api(ApiFault),
    /// Lay a fault over a host's disk, until it is healed.
    Disk { host: HostId, fault: DiskFault },
    /// End every fault laid over a host's disk.
    DiskHeal { host: HostId },
}

/// A change in a host's life that the layer running programs on it must act on:
/// end them on a crash, start them afresh on a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEvent {
    Crashed { host: HostId, mode: CrashMode },
    Restarted { host: HostId },
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
    /// A fault was laid over the host's disk: `Net::disk_faults()[fault]`.
    DiskFaulted {
        host: HostId,
        fault: u32,
    },
    /// The host's disk faults were healed.
    DiskHealed {
        host: HostId,
    },
    /// A disk fault acted on an operation on node `node` of the host's disk.
    DiskEffect {
        host: HostId,
        effect: DiskEffect,
        node: u32,
    },
    /// A crash took unsynced writes or directory changes from the host's disk; the
    /// details are `Net::disk_crashes()[crash]`.
    DiskLost {
        host: HostId,
        crash: u32,
        writes: u32,
        bytes: u64,
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
            FaultEvent::DiskFaulted { host, fault } => {
                (10 | u64::from(fault) << 8, u64::from(host.raw()))
            }
            FaultEvent::DiskHealed { host } => (11, u64::from(host.raw())),
            FaultEvent::DiskEffect { host, effect, node } => (
                12 | effect.code() << 8,
                u64::from(host.raw()) << 32 | u64::from(node),
            ),
            FaultEvent::DiskLost {
                host,
                writes,
                bytes,
                ..
            } => (
                9 | u64::from(writes) << 8,
                u64::from(host.raw()) << 32 ^ bytes,
            ),
        }
    }
}

impl CrashMode {
    /// The name scenario files and the timeline use.
    pub fn name(self) -> &'static str {
        match self {
            CrashMode::Reset => "reset",
            CrashMode::Silent => "silent",
        }
    }
}
