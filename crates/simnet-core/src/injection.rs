//! Faults applied to the network: scheduling them on the event queue, partitions,
//! clogs, crashes and restarts, resets, the fate of every packet on arrival (before
//! its protocol takes it), and the API-level faults at the socket calls. The kinds and the state they leave are in
//! `fault/`.

use rand::RngExt;

use crate::conn::Phase;
use crate::error::{ErrorCode, NetError};
use crate::fault::{
    ApiFault, ApiResult, CrashMode, Effect, Fault, FaultEvent, HostEvent, Met, Method,
};
use crate::ids::{ConnId, HostId, SocketId};
use crate::net::Net;
use crate::packet::Packet;
use crate::queue::Event;
use crate::segment::Side;
use crate::time::SimTime;
use crate::trace::{DropReason, TraceEvent};

/// What happens to a packet when it reaches its destination host.
enum Arrival {
    Deliver,
    Drop(DropReason),
    Held,
}

impl Net {
    /// Apply a fault now.
    pub fn apply_fault(&mut self, fault: &Fault) -> Result<(), NetError> {
        self.check_fault(fault)?;
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
                if self.faults.crashed.shift_remove(host) {
                    self.faults.down.shift_remove(host);
                    self.record(TraceEvent::Fault(FaultEvent::HostRestarted { host: *host }));
                    self.faults
                        .lifecycle
                        .push(HostEvent::Restarted { host: *host });
                }
            }
            Fault::Api(fault) => self
                .add_api_fault(fault.clone())
                .map_err(NetError::InvalidFault)?,
            Fault::Disk { host, fault } => self.fault_disk(*host, fault.clone()),
            Fault::DiskHeal { host } => self.heal_disk(*host),
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

    /// Whether packets from `from` to `to` are being dropped by a partition.
    pub fn is_partitioned(&self, from: HostId, to: HostId) -> bool {
        self.faults.blocked.contains(&(from, to))
    }

    /// The hosts a packet travels between, if it is still known.
    fn route(&self, packet: Packet) -> Option<(HostId, HostId)> {
        match packet {
            Packet::Tcp(seg) => {
                let &(_, hosts) = self.endpoints.get(seg.conn.index())?;
                Some((hosts[seg.from.index()], hosts[seg.from.peer().index()]))
            }
            Packet::Udp(slot) => self.datagram_header(slot).map(|h| (h.from, h.to)),
        }
    }

    /// A packet reached its destination host: the faults in force decide its fate,
    /// then its protocol takes it.
    pub(crate) fn packet_arrives(&mut self, packet: Packet) {
        match (self.arrival(packet), packet) {
            (Arrival::Deliver, Packet::Tcp(seg)) => self.segment_arrived(seg),
            (Arrival::Deliver, Packet::Udp(slot)) => self.deliver_datagram(slot),
            (Arrival::Held, _) => {}
            (Arrival::Drop(reason), Packet::Tcp(seg)) => {
                self.record(TraceEvent::SegmentDropped { seg, reason })
            }
            (Arrival::Drop(reason), Packet::Udp(slot)) => self.drop_datagram(slot, reason),
        }
    }

    /// Decide the fate of a packet arriving at its destination.
    fn arrival(&mut self, packet: Packet) -> Arrival {
        let Some((from, to)) = self.route(packet) else {
            return Arrival::Deliver;
        };
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
            held.push(packet);
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
        // Delivered now, in the order they arrived; faults still in force (a
        // partition, a host down) apply.
        for packet in held {
            self.packet_arrives(packet);
        }
    }

    fn crash_host(&mut self, host: HostId, mode: CrashMode) {
        self.record(TraceEvent::Fault(FaultEvent::HostCrashed { host, mode }));
        self.faults.crashed.insert(host);
        self.faults
            .lifecycle
            .push(HostEvent::Crashed { host, mode });
        if mode == CrashMode::Silent {
            self.faults.down.insert(host);
        }
        self.crash_disk(host);
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
                    CrashMode::Silent => self.vanish(c, side),
                }
            }
        }
        let mut sockets: Vec<SocketId> = (0..self.sockets.len())
            .filter(|&i| self.sockets[i].as_ref().is_some_and(|s| s.host == host))
            .map(|i| SocketId(i as u32))
            .collect();
        sockets.extend(
            self.udp
                .sockets
                .iter()
                .filter(|(_, s)| s.host == host)
                .map(|(&id, _)| id),
        );
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
        self.reset_ends(c);
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
        self.fail_end(c, side, code);
        Ok(())
    }
}

/// A fault between two sets of hosts needs a host on each side and none on both: a
/// host is never cut off from itself, and a fault that cuts nothing would look
/// applied while doing nothing.
fn two_sides(from: &[HostId], to: &[HostId]) -> Result<(), NetError> {
    if from.is_empty() || to.is_empty() {
        return Err(NetError::InvalidFault(
            "a partition or clog needs at least one host on each side".into(),
        ));
    }
    match from.iter().find(|h| to.contains(h)) {
        Some(h) => Err(NetError::InvalidFault(format!(
            "host {h} is on both sides: a host is never cut off from itself"
        ))),
        None => Ok(()),
    }
}

impl Net {
    /// Apply `fault` when virtual time reaches `at`, in the order of the event queue
    /// (after whatever is already due at that instant). Checked now: a fault that
    /// names an unknown host or an invalid link is refused, and so is a time already
    /// past (the clock never runs backwards).
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) -> Result<(), NetError> {
        self.check_fault(&fault)?;
        if at < self.now {
            return Err(NetError::InvalidFault(format!(
                "a fault at {at} is in the past: virtual time is already {}",
                self.now
            )));
        }
        let index = self.faults.scheduled.len() as u32;
        self.faults.scheduled.push(Some(fault));
        self.queue.push(at, Event::Fault(index));
        Ok(())
    }

    /// Whether `fault` names known hosts and valid settings (what
    /// [`Net::schedule_fault`] checks).
    pub fn check_fault(&self, fault: &Fault) -> Result<(), NetError> {
        let known = |h: &HostId| {
            if h.index() < self.hosts.len() {
                Ok(())
            } else {
                Err(NetError::UnknownHost(h.to_string()))
            }
        };
        match fault {
            Fault::Partition { from, to, .. } | Fault::Heal { from, to } => {
                from.iter().chain(to).try_for_each(known)?;
                two_sides(from, to)
            }
            Fault::Clog { from, to, .. } | Fault::Release { from, to } => {
                known(from).and(known(to))?;
                two_sides(&[*from], &[*to])
            }
            Fault::SetLink { a, b, config } => {
                known(a)?;
                known(b)?;
                config.validate().map_err(NetError::InvalidLink)
            }
            Fault::Crash { host, .. } | Fault::Restart { host } => known(host),
            Fault::ResetConnection { .. } => Ok(()),
            Fault::ResetRandomConnection { between } => between.iter().try_for_each(known),
            Fault::Api(f) => {
                if let Some(h) = &f.host {
                    known(h)?;
                }
                f.check().map_err(NetError::InvalidFault)
            }
            Fault::Disk { host, fault } => {
                known(host)?;
                fault.check().map_err(NetError::InvalidFault)
            }
            Fault::DiskHeal { host } => known(host),
        }
    }

    /// The scheduled fault whose event came due.
    pub(crate) fn fire_fault(&mut self, index: u32) {
        let Some(fault) = self
            .faults
            .scheduled
            .get_mut(index as usize)
            .and_then(Option::take)
        else {
            return;
        };
        // Checked when scheduled; applying cannot fail.
        let _ = self.apply_fault(&fault);
    }

    /// Whether a restart of `host` is still waiting on the event queue.
    pub fn restart_pending(&self, host: HostId) -> bool {
        self.faults
            .scheduled
            .iter()
            .flatten()
            .any(|f| matches!(f, Fault::Restart { host: h } if *h == host))
    }

    /// Move the crashes and restarts since the last call into `out`, in order: the
    /// driver ends the programs of a crashed host and starts those of a restarted one.
    pub fn drain_host_events(&mut self, out: &mut Vec<HostEvent>) {
        out.append(&mut self.faults.lifecycle);
    }

    /// Whether `host` crashed and has not restarted.
    pub fn is_host_crashed(&self, host: HostId) -> bool {
        self.faults.crashed.contains(&host)
    }

    // ---- API faults ----

    /// Inject results at the socket calls from now on (see [`ApiFault`]).
    pub fn add_api_fault(&mut self, fault: ApiFault) -> Result<(), String> {
        fault.check()?;
        self.faults.api.add(fault);
        Ok(())
    }

    /// Inject seeded random API faults: each call a fault can target fails, or is
    /// short, with probability `rate`.
    pub fn set_api_chaos(&mut self, rate: f64) -> Result<(), String> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("chaos rate must be within 0..=1, got {rate}"));
        }
        self.faults.api.set_chaos(rate);
        Ok(())
    }

    /// A guest on `host` calls `method` (on `socket`, if the call has one): the API
    /// fault that hits this call, if any, is traced, counted and applied (an error
    /// fails the socket's connection as the network would, a stall holds the socket's
    /// pollables); its effect is returned for the caller to finish.
    pub fn api_call(
        &mut self,
        host: HostId,
        socket: Option<SocketId>,
        method: Method,
    ) -> Option<Effect> {
        let effect = self.faults.api.decide(host, method)?;
        self.record(TraceEvent::ApiFault {
            host,
            socket,
            method,
            effect,
        });
        self.faults.api.record(method, effect.into(), true);
        match (effect, socket) {
            (Effect::Error(code), Some(s)) => {
                // Sockets not attached to a connection (binding, listening) have
                // nothing to fail: the caller returns the error.
                let _ = self.fail_socket(s, code);
            }
            (Effect::Stall(d), Some(s)) => {
                let until = self.now + d;
                self.faults.api.stall(s, until);
            }
            _ => {}
        }
        Some(effect)
    }

    /// How many times each host called each socket method API faults can target.
    pub fn api_calls(&self) -> impl Iterator<Item = (HostId, Method, u64)> + '_ {
        self.faults.api.calls()
    }

    /// Count a filesystem error a guest met that no fault injected.
    pub fn record_file_error(&mut self, method: Method, code: crate::disk::FsError) {
        self.faults
            .api
            .record(method, ApiResult::FileError(code), false);
    }

    /// Count an error a guest met that no fault injected.
    pub fn record_api_error(&mut self, method: Method, code: ErrorCode) {
        self.faults
            .api
            .record(method, ApiResult::Error(code), false);
    }

    /// When an injected stall of `socket` ends, if one is in force.
    pub fn stalled_until(&self, socket: SocketId) -> Option<SimTime> {
        self.faults.api.stalled_until(socket, self.now)
    }

    /// Whether an injected stall holds `socket`: its pollables are not ready, and
    /// the stalled calls find nothing (an empty read or receive, no write space,
    /// `would-block` for accept and finish-connect) whatever has arrived, so that a
    /// guest that calls without polling is stalled too.
    pub fn is_stalled(&self, socket: SocketId) -> bool {
        self.stalled_until(socket).is_some()
    }

    /// Every (method, result) guests met, naturally or injected, in method then result
    /// order: how much failure handling the run exercised.
    pub fn api_results(&self) -> impl Iterator<Item = (Method, ApiResult, Met)> + '_ {
        self.faults
            .api
            .met
            .iter()
            .map(|(&(m, r), &met)| (m, r, met))
    }
}

impl FaultEvent {
    /// The hosts it concerns, the first the one it happened on.
    pub fn hosts(&self, net: &Net) -> Vec<HostId> {
        match *self {
            FaultEvent::Partitioned { from, to }
            | FaultEvent::Healed { from, to }
            | FaultEvent::Clogged { from, to }
            | FaultEvent::Released { from, to, .. } => vec![from, to],
            FaultEvent::LinkChanged { a, b } => vec![a, b],
            FaultEvent::HostCrashed { host, .. }
            | FaultEvent::HostRestarted { host }
            | FaultEvent::DiskFaulted { host, .. }
            | FaultEvent::DiskHealed { host }
            | FaultEvent::DiskEffect { host, .. }
            | FaultEvent::DiskLost { host, .. } => vec![host],
            FaultEvent::ConnectionReset { conn } => net
                .conn_endpoints(conn)
                .map(|(_, h)| h.to_vec())
                .unwrap_or_default(),
        }
    }

    /// In words, with the hosts' names: the one textual form of a fault that the
    /// timeline, the JSON trace and logs share.
    pub fn describe(&self, net: &Net) -> String {
        let n = |h: HostId| net.host_name(h).to_string();
        match *self {
            FaultEvent::Partitioned { from, to } => format!("partition {} -> {}", n(from), n(to)),
            FaultEvent::Healed { from, to } => format!("heal {} -> {}", n(from), n(to)),
            FaultEvent::Clogged { from, to } => format!("clog {} -> {}", n(from), n(to)),
            FaultEvent::Released { from, to, segments } => {
                format!("release {} -> {} ({segments} held packets)", n(from), n(to))
            }
            FaultEvent::LinkChanged { a, b } => format!("link {} <-> {} changed", n(a), n(b)),
            FaultEvent::HostCrashed { host, mode } => {
                format!("{} crashed ({})", n(host), mode.name())
            }
            FaultEvent::HostRestarted { host } => format!("{} restarted", n(host)),
            FaultEvent::ConnectionReset { conn } => match net.conn_endpoints(conn) {
                Some((_, hosts)) => {
                    format!("connection {} -> {} reset", n(hosts[0]), n(hosts[1]))
                }
                None => format!("connection {} reset", conn.index()),
            },
            FaultEvent::DiskFaulted { host, fault } => {
                match net.disk_faults().get(fault as usize) {
                    Some((_, f)) => format!("{}: {}", n(host), f.describe()),
                    None => format!("{}: disk fault", n(host)),
                }
            }
            FaultEvent::DiskHealed { host } => format!("{}: disk healed", n(host)),
            FaultEvent::DiskEffect { host, effect, node } => {
                let disk = net.disk(host);
                let path = disk
                    .node_path(crate::disk::NodeId(node))
                    .unwrap_or("a file that is gone");
                format!("{}: {}", n(host), effect.describe(path))
            }
            FaultEvent::DiskLost { host, crash, .. } => {
                match net.disk_crashes().get(crash as usize) {
                    Some(c) => format!("{}: crash lost {}", n(host), describe_loss(&c.report)),
                    None => format!("{}: crash lost unsynced data", n(host)),
                }
            }
        }
    }
}

/// What a crash lost, in words: each file's unsynced writes, then directory changes.
fn describe_loss(report: &crate::disk::CrashReport) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts: Vec<String> = report
        .files
        .iter()
        .map(|f| {
            format!(
                "{} to {}, {} bytes",
                plural(f.writes, "unsynced write", "unsynced writes"),
                f.path,
                f.bytes
            )
        })
        .collect();
    if report.entry_changes > 0 {
        parts.push(plural(
            report.entry_changes,
            "unsynced directory change",
            "unsynced directory changes",
        ));
    }
    format!("{} (loss: {})", parts.join("; "), report.loss.name())
}
