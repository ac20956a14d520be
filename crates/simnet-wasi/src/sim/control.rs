//! Controls a test applies to a running simulation: faults now, later or on a
//! trigger, API faults, and what a crash or a restart does to a host's guests.

use std::time::Duration;

use simnet_core::{ApiFault, CrashMode, Fault, HostEvent, HostId, LinkConfig, NetError, SimTime};

use crate::outcome::Outcome;
use crate::trigger::When;
use crate::world::{GuestId, lock};

use super::{Run, Sim};

impl Sim {
    /// Apply `fault` when virtual time reaches `at`, in the order of the network's
    /// event queue. A crash also ends every guest on the host; a restart starts each
    /// of them afresh.
    /// `at` counts from virtual time zero; a time already past is refused.
    pub fn schedule_fault(&mut self, at: Duration, fault: Fault) -> Result<(), NetError> {
        self.with_net(|net| net.schedule_fault(SimTime::ZERO + at, fault))
    }

    /// Apply `fault` `delay` from now (see [`Sim::schedule_fault`]).
    pub fn schedule_fault_in(&mut self, delay: Duration, fault: Fault) -> Result<(), NetError> {
        let at = self.now() + delay;
        self.with_net(|net| net.schedule_fault(at, fault))
    }

    /// Apply `fault` `delay` after `when` first holds on `host` (see [`When`]).
    pub fn schedule_fault_when(
        &mut self,
        host: HostId,
        when: When,
        delay: Duration,
        fault: Fault,
    ) -> Result<(), NetError> {
        let mut w = lock(&self.world);
        w.net.check_fault(&fault)?;
        if !w.net.hosts().any(|h| h == host) {
            return Err(NetError::UnknownHost(host.to_string()));
        }
        w.triggers
            .add(host, &when, delay, fault)
            .map_err(NetError::InvalidFault)
    }

    /// End the guests of hosts that crashed and start those of hosts that restarted,
    /// as the network reports them.
    pub(super) fn handle_host_events(&mut self) {
        let mut events = Vec::new();
        lock(&self.world).net.drain_host_events(&mut events);
        for e in events {
            tracing::info!(?e, "host");
            match e {
                HostEvent::Crashed { host, mode } => self.crash_guests(host, mode),
                HostEvent::Restarted { host } => self.restart_guests(host),
            }
        }
    }

    fn crash_guests(&mut self, host: HostId, mode: CrashMode) {
        let on_host: Vec<GuestId> = self
            .guests
            .iter()
            .filter(|g| g.spec.host == host && g.outcome.is_none())
            .map(|g| g.id)
            .collect();
        for id in on_host {
            // The network disposes of the sockets as the crash mode says.
            lock(&self.world).forget_sockets_of(id);
            self.drop_guest(id, Outcome::Crashed { mode }, false);
        }
    }

    fn restart_guests(&mut self, host: HostId) {
        let now = self.now();
        let mut later = Vec::new();
        for g in &mut self.guests {
            if g.spec.host == host && matches!(g.outcome, Some(Outcome::Crashed { .. })) {
                // A guest whose start time had not come yet keeps it.
                let start = now.max(SimTime::ZERO + g.spec.start);
                g.outcome = None;
                g.run = Run::NotStarted;
                g.start = start;
                g.deadline = g.spec.limits.virtual_time.map(|d| start + d);
                g.restarts += 1;
                match start > now {
                    true => later.push((start, g.id)),
                    false => {
                        self.runnable.insert(g.id);
                    }
                }
            }
        }
        let mut w = lock(&self.world);
        for (start, id) in later {
            w.wake_at(start, id);
        }
    }

    /// Inject results at the `wasi:sockets` surface (see [`ApiFault`]).
    pub fn inject(&mut self, fault: ApiFault) -> Result<(), String> {
        self.with_net(|net| net.add_api_fault(fault))
    }

    /// Inject seeded random API faults: each call of a method faults can target fails,
    /// or is short, with probability `rate`.
    pub fn set_chaos(&mut self, rate: f64) -> Result<(), String> {
        self.with_net(|net| net.set_api_chaos(rate))
    }

    /// Apply `fault` now, between two steps of the run: a crash ends the guests of
    /// its host at once, a restart starts them afresh.
    pub fn apply_fault(&mut self, fault: Fault) -> Result<(), NetError> {
        self.with_net(|net| net.apply_fault(&fault))?;
        self.handle_host_events();
        Ok(())
    }

    /// Crash the host named `host` now, with `mode` (see [`CrashMode`]).
    pub fn crash(&mut self, host: &str, mode: CrashMode) -> Result<(), NetError> {
        let host = self.host(host)?;
        self.apply_fault(Fault::Crash { host, mode })
    }

    /// Bring the crashed host named `host` back now; its guests start afresh.
    pub fn restart(&mut self, host: &str) -> Result<(), NetError> {
        let host = self.host(host)?;
        self.apply_fault(Fault::Restart { host })
    }

    /// Drop everything between hosts `a` and `b`, both ways, from now until healed.
    pub fn partition(&mut self, a: &str, b: &str) -> Result<(), NetError> {
        let (from, to) = (vec![self.host(a)?], vec![self.host(b)?]);
        self.apply_fault(Fault::Partition {
            from,
            to,
            one_way: false,
        })
    }

    /// Undo a partition between hosts `a` and `b`.
    pub fn heal(&mut self, a: &str, b: &str) -> Result<(), NetError> {
        let (from, to) = (vec![self.host(a)?], vec![self.host(b)?]);
        self.apply_fault(Fault::Heal { from, to })
    }

    /// Hold everything between hosts `a` and `b`, both ways, until released.
    pub fn clog(&mut self, a: &str, b: &str) -> Result<(), NetError> {
        let (from, to) = (self.host(a)?, self.host(b)?);
        self.apply_fault(Fault::Clog {
            from,
            to,
            one_way: false,
        })
    }

    /// Deliver, in order, what a clog between `a` and `b` held.
    pub fn release(&mut self, a: &str, b: &str) -> Result<(), NetError> {
        let (from, to) = (self.host(a)?, self.host(b)?);
        self.apply_fault(Fault::Release { from, to })
    }

    /// Change the link between hosts `a` and `b` (both directions) from now on.
    pub fn set_link(&mut self, a: &str, b: &str, config: LinkConfig) -> Result<(), NetError> {
        let (a, b) = (self.host(a)?, self.host(b)?);
        self.apply_fault(Fault::SetLink { a, b, config })
    }
}
