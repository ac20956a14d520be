//! The executor: which guest runs next, polling it for one turn, and moving virtual
//! time when no guest can run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake};
use std::time::Duration;

use rand::RngExt;

use simnet_core::{ProcessEvent, SimTime};

use crate::outcome::{Limit, Outcome, Report, StopReason, Stopped};
use crate::world::{GuestId, lock};

use super::ending::{Ended, classify_ending};
use super::{Run, Sim};

/// How a guest's waker was called. On the simulation's own thread, during a poll, it
/// is wasmtime's fuel yield; from another thread it is host work the guest waits for
/// outside the simulation (a file read wasmtime-wasi hands to its blocking pool).
pub(super) struct SelfWake {
    executor: std::thread::ThreadId,
    fuel: AtomicBool,
    external: Mutex<bool>,
    done: std::sync::Condvar,
}

impl SelfWake {
    pub(super) fn new() -> Self {
        SelfWake {
            executor: std::thread::current().id(),
            fuel: AtomicBool::new(false),
            external: Mutex::new(false),
            done: std::sync::Condvar::new(),
        }
    }

    fn reset(&self) {
        self.fuel.store(false, Ordering::Relaxed);
        *self.external.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Wait (in real time, up to `limit`) for host work the guest waits for.
    fn wait_external(&self, limit: Duration) -> bool {
        let woken = self.external.lock().unwrap_or_else(|e| e.into_inner());
        let (woken, _) = self
            .done
            .wait_timeout_while(woken, limit, |w| !*w)
            .unwrap_or_else(|e| e.into_inner());
        *woken
    }
}

impl Wake for SelfWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if std::thread::current().id() == self.executor {
            self.fuel.store(true, Ordering::Relaxed);
        } else {
            *self.external.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.done.notify_all();
        }
    }
}

/// How long a guest may wait for host work outside the simulation (file I/O on
/// wasmtime-wasi's blocking pool) before the run gives up on it.
const HOST_WORK_LIMIT: Duration = Duration::from_secs(60);

impl Sim {
    /// Run until every non-daemon guest has ended, nothing can happen any more, or
    /// the time limit, and report how each guest ended. This ends the run: guests
    /// still running are reported [`Outcome::Running`] and left where they are.
    pub fn run(&mut self) -> Report {
        let stop = match self.drive(self.time_limit(), true, |_| false) {
            Ok(()) => StopReason::AllFinished,
            Err(stop) => stop,
        };
        self.finish(stop)
    }

    /// Make one step of progress: run one guest until it blocks, or deliver one
    /// network event, or move the clock to the next timer. `Err` says why nothing
    /// could happen (nothing is left to do, or the run had to stop).
    pub fn step(&mut self) -> Result<(), StopReason> {
        let mut first = true;
        let limit = self.time_limit();
        self.drive(limit, false, |_| !std::mem::replace(&mut first, false))
    }

    /// Let `duration` of virtual time pass, running everything due in it; the clock
    /// then reads exactly `now + duration`. Guests that finish do not stop it, and a
    /// quiet network only moves the clock. `Err` when the run had to stop
    /// ([`StopReason::Watchdog`], [`StopReason::HostFailure`]) or reached the time
    /// limit of its [`SimConfig`] first ([`StopReason::TimeLimit`]).
    pub fn run_for(&mut self, duration: Duration) -> Result<(), StopReason> {
        let wanted = self.now() + duration;
        let target = self.time_limit().map_or(wanted, |limit| wanted.min(limit));
        match self.drive(Some(target), false, |_| false) {
            // Nothing more happens before the target: the clock just moves there.
            Ok(()) | Err(StopReason::TimeLimit | StopReason::Idle | StopReason::AllFinished) => {
                let mut w = lock(&self.world);
                if target > w.now() {
                    w.advance_to(target);
                }
            }
            Err(stop) => return Err(stop),
        }
        match target < wanted {
            true => Err(StopReason::TimeLimit),
            false => Ok(()),
        }
    }

    /// Run until `condition` holds (checked before every step, so it may hold at
    /// once). `Err` says why the run stopped first (every non-daemon guest ended,
    /// nothing was left to happen, or a limit of [`SimConfig`] was reached) and which
    /// guests had failed by then.
    ///
    /// ```no_run
    /// # fn f(sim: &mut simnet_wasi::Sim) {
    /// sim.run_until(|sim| sim.printed("client", "connected")).expect("the client connects");
    /// # }
    /// ```
    pub fn run_until(&mut self, condition: impl FnMut(&Sim) -> bool) -> Result<(), Stopped> {
        self.drive(self.time_limit(), true, condition)
            .map_err(|reason| Stopped {
                reason,
                failed: self.failed_so_far(),
            })
    }

    fn time_limit(&self) -> Option<SimTime> {
        self.config.time_limit.map(|d| SimTime::ZERO + d)
    }

    /// The scheduler loop: run until `until` holds (`Ok`), or stop for a reason. Past
    /// `limit` it stops with [`StopReason::TimeLimit`]; with `stop_when_finished`,
    /// once every guest that must finish has.
    fn drive(
        &mut self,
        limit: Option<SimTime>,
        stop_when_finished: bool,
        until: impl FnMut(&Sim) -> bool,
    ) -> Result<(), StopReason> {
        let entered = std::time::Instant::now();
        let result = self.drive_from(entered, limit, stop_when_finished, until);
        self.real_time += entered.elapsed();
        result
    }

    fn drive_from(
        &mut self,
        entered: std::time::Instant,
        limit: Option<SimTime>,
        stop_when_finished: bool,
        mut until: impl FnMut(&Sim) -> bool,
    ) -> Result<(), StopReason> {
        loop {
            if until(self) {
                return Ok(());
            }
            self.turns = self.turns.wrapping_add(1);
            if self.host_failure.is_some() {
                return Err(StopReason::HostFailure);
            }
            if self.turns.is_multiple_of(256)
                && self
                    .config
                    .watchdog
                    .is_some_and(|limit| self.real_time + entered.elapsed() > limit)
            {
                return Err(StopReason::Watchdog);
            }
            self.collect_wakes();
            if stop_when_finished && self.waiting_for_none() {
                return Err(StopReason::AllFinished);
            }
            if let Some(g) = self.pick() {
                self.poll_guest(g);
                // What the guest's calls set off at this instant (loopback segments and
                // their answers) happens before any guest runs again.
                lock(&self.world).net.settle();
                // A fault the guest's calls brought about at once (a crash) ends the
                // programs it concerns before anyone else runs.
                self.handle_host_events();
                continue;
            }
            let mut w = lock(&self.world);
            let next_net = w.net.next_event_time();
            let next_timer = w.next_timer();
            let Some(next) = [next_net, next_timer].into_iter().flatten().min() else {
                return Err(StopReason::Idle);
            };
            if let Some(limit) = limit
                && next > limit
            {
                if limit > w.now() {
                    w.advance_to(limit);
                }
                return Err(StopReason::TimeLimit);
            }
            if next_net == Some(next) {
                w.step();
            } else {
                w.advance_to(next);
            }
            drop(w);
            self.handle_host_events();
        }
    }

    fn collect_wakes(&mut self) {
        let mut w = lock(&self.world);
        w.woken_guests(&mut self.runnable);
        w.due_timers(&mut self.runnable);
    }

    /// True when no guest that must finish is left running, and no guest, daemon or
    /// not, is due to restart or restarted and not yet started: a run never ends
    /// between a crash and the restart it was promised.
    fn waiting_for_none(&self) -> bool {
        let mut any_required = false;
        for g in &self.guests {
            any_required |= !g.spec.daemon;
            let running = g.outcome.is_none() && !g.spec.daemon;
            let restarted_unstarted =
                g.outcome.is_none() && g.restarts > 0 && matches!(g.run, Run::NotStarted);
            let due_to_restart = matches!(g.outcome, Some(Outcome::Crashed { .. })) && {
                let w = lock(&self.world);
                w.net.restart_pending(g.spec.host) || w.triggers.restart_waiting(g.spec.host)
            };
            if running || restarted_unstarted || due_to_restart {
                return false;
            }
        }
        any_required
    }

    fn pick(&mut self) -> Option<GuestId> {
        let n = self.runnable.len();
        let g = match n {
            0 => return None,
            1 => self.runnable.first().copied(),
            _ => self
                .runnable
                .iter()
                .nth(self.rng.random_range(0..n))
                .copied(),
        }?;
        self.runnable.remove(&g);
        Some(g)
    }

    fn poll_guest(&mut self, id: GuestId) {
        let now = self.now();
        let guest = &mut self.guests[id.0];
        if guest.outcome.is_some() || now < guest.start {
            return;
        }
        if let Some(deadline) = guest.deadline
            && now >= deadline
        {
            let detail = format!(
                "still running after {:?} of virtual time",
                guest.spec.limits.virtual_time.unwrap_or_default()
            );
            self.end_guest(
                id,
                Outcome::LimitExceeded {
                    limit: Limit::VirtualTime,
                    detail,
                },
            );
            return;
        }
        if matches!(guest.run, Run::NotStarted) {
            tracing::debug!(guest = %guest.spec.name, "starting");
            let (host, restarts) = (guest.spec.host, guest.restarts);
            lock(&self.world).net.record_process(
                host,
                id.0 as u32,
                ProcessEvent::Started { restarts },
            );
            match self.start_guest(id) {
                Ok(fut) => self.guests[id.0].run = Run::Running(fut),
                Err(e) => {
                    self.end_guest(
                        id,
                        Outcome::Trapped {
                            message: format!("cannot start: {e:#}"),
                            backtrace: None,
                            wasm_trap: false,
                        },
                    );
                    return;
                }
            }
            if let Some(deadline) = self.guests[id.0].deadline {
                lock(&self.world).wake_at(deadline, id);
            }
        }
        let guest = &mut self.guests[id.0];
        let Run::Running(fut) = &mut guest.run else {
            return;
        };
        lock(&self.world).clear_waits(id);
        guest.self_wake.reset();
        let mut cx = Context::from_waker(&guest.waker);
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(finished) => {
                guest.fuel = finished.fuel;
                match classify_ending(finished) {
                    Ended::Outcome(outcome) => self.end_guest(id, outcome),
                    // Ended as its host crashed: the crash's handling records that.
                    Ended::HostWentDown => {
                        self.guests[id.0].run = Run::Done;
                        lock(&self.world).tasks.forget(id);
                        self.runnable.remove(&id);
                    }
                    Ended::HostFailure(cause) => {
                        let name = guest.spec.name.clone();
                        self.guests[id.0].run = Run::NotStarted;
                        self.host_failure = Some(format!("cannot create guest {name}: {cause}"));
                    }
                }
            }
            Poll::Pending => self.after_pending(id, now),
        }
    }

    /// A guest is blocked: on its fuel slice (it runs again once the slice's virtual
    /// time has passed), on the simulation (its pollables said what they wait for),
    /// or, when neither, on host work outside it, which the simulation waits for in
    /// real time so that the result arrives at the same virtual instant every run.
    fn after_pending(&mut self, id: GuestId, now: SimTime) {
        let calls = self.guests[id.0].host_calls.swap(0, Ordering::Relaxed);
        let guest = &mut self.guests[id.0];
        if guest.self_wake.fuel.load(Ordering::Relaxed) {
            let charge = self.config.slice_time
                + self
                    .config
                    .host_call_time
                    .saturating_mul(u32::try_from(calls).unwrap_or(u32::MAX));
            guest.busy += charge;
            let limit = guest.spec.limits.busy.or(self.config.busy_limit);
            if let Some(limit) = limit
                && guest.busy > limit
            {
                let detail = format!(
                    "computed for {:?} of virtual time without waiting for anything \
                     (a runaway loop?); the limit is {limit:?}",
                    guest.busy
                );
                return self.end_guest(
                    id,
                    Outcome::LimitExceeded {
                        limit: Limit::Busy,
                        detail,
                    },
                );
            }
            if charge.is_zero() {
                self.runnable.insert(id);
            } else {
                lock(&self.world).wake_at(now + charge, id);
            }
            return;
        }
        guest.busy = Duration::ZERO;
        if lock(&self.world).has_waits(id) {
            return;
        }
        if guest.self_wake.wait_external(HOST_WORK_LIMIT) {
            self.runnable.insert(id);
        } else {
            let message = format!(
                "waited more than {}s of real time for host I/O outside the simulation",
                HOST_WORK_LIMIT.as_secs()
            );
            self.end_guest(
                id,
                Outcome::Trapped {
                    message,
                    backtrace: None,
                    wasm_trap: false,
                },
            );
        }
    }
}
