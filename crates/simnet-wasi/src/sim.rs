//! The scheduler: every guest of a simulation in its own `Store`, all driven by one
//! hand-polled, single-threaded executor over virtual time.
//!
//! Each turn, one guest that can make progress is chosen with the seeded scheduler
//! RNG and polled until it blocks on a pollable or uses up its fuel slice. When no
//! guest can run, the network runs its next event (or the clock jumps to the next
//! guest timer); the guests whose sockets or deadlines that event concerns become
//! runnable. When nothing at all is left, the guests still blocked are deadlocked.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;

use simnet_core::{
    CrashMode, Fault, HostEvent, HostId, LinkConfig, Net, NetConfig, NetError, ProcessEvent,
    SimTime, derive_rng,
};
use wasmtime::{Engine, Store, Trap, WasmBacktrace};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::guest::{GuestLimiter, GuestState};
use crate::host::{
    Capabilities, FileTimes, GuestNet, GuestOutput, GuestStdin, OutputLog, SimMonotonicClock,
    SimWallClock, Stream,
};
use crate::outcome::{ApiErrorCount, GuestReport, Limit, Outcome, Report, StopReason};
use crate::program::{Program, Runtime};
use crate::trigger::{HostWentDown, When};
use crate::world::{GuestId, Shared, World, lock};
use simnet_core::ApiFault;

/// 2025-01-01T00:00:00Z: what the wall clock reads at virtual time zero.
pub const DEFAULT_EPOCH: Duration = Duration::from_secs(1_735_689_600);

/// Settings of a simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub net: NetConfig,
    /// Fuel (about one unit per wasm instruction) a guest may use before it yields to
    /// the scheduler; `None` never preempts.
    pub slice_fuel: Option<u64>,
    /// Virtual time one slice of computation costs (1 ms per million fuel: about
    /// one instruction per nanosecond). A guest that computes (or spins) for a whole
    /// slice lets the clock move on, so a busy-waiting guest cannot freeze it.
    pub slice_time: Duration,
    /// Virtual time each call a guest makes to the host costs, added when its slice
    /// ends: a loop polling something already ready moves the clock as it would
    /// real time.
    pub host_call_time: Duration,
    /// What the wall clock reads at virtual time zero.
    pub epoch: Duration,
    /// Bytes of stdout, and of stderr, kept per guest; more is dropped, with a notice
    /// in its place.
    pub output_limit: usize,
    /// Stop at this virtual time even if guests are still running.
    pub time_limit: Option<Duration>,
    /// Linear memory a guest may grow to unless its own limit says otherwise.
    pub memory_limit: Option<usize>,
    /// Virtual time a guest may compute without ever waiting for anything, unless its
    /// own limit says otherwise; beyond it the guest ends with `Limit::Busy`.
    pub busy_limit: Option<Duration>,
    /// Real time the run may spend running (a test's own time between calls of
    /// `step`, `run_for` or `run_until` does not count); beyond it the run stops
    /// (`StopReason::Watchdog`) with its guests still running.
    pub watchdog: Option<Duration>,
}

/// The memory a guest may use unless told otherwise.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            net: NetConfig::default(),
            slice_fuel: Some(1_000_000),
            slice_time: Duration::from_millis(1),
            host_call_time: Duration::from_micros(1),
            epoch: DEFAULT_EPOCH,
            output_limit: 16 << 20,
            time_limit: Some(Duration::from_secs(24 * 3600)),
            memory_limit: Some(DEFAULT_MEMORY_LIMIT),
            busy_limit: Some(Duration::from_secs(60)),
            watchdog: Some(Duration::from_secs(600)),
        }
    }
}

/// Per-guest limits; `None` takes the simulation's default (`SimConfig`), if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of linear memory (per memory).
    pub memory: Option<usize>,
    /// Total fuel.
    pub fuel: Option<u64>,
    /// Virtual time from the guest's start.
    pub virtual_time: Option<Duration>,
    /// Virtual time computing without waiting.
    pub busy: Option<Duration>,
}

/// A host directory a guest sees (wasmtime's `--dir HOST::GUEST`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    pub host: std::path::PathBuf,
    /// The path the guest opens it by.
    pub guest: String,
}

/// One guest to run: a program on a host, with its arguments and environment.
#[derive(Clone, Debug)]
pub struct GuestSpec {
    pub name: String,
    pub host: HostId,
    pub program: Program,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Virtual time at which it starts.
    pub start: Duration,
    pub capabilities: Capabilities,
    /// A guest not expected to exit (a server): the simulation does not wait for it,
    /// and it is reported `Running`, not deadlocked, when it blocks forever.
    pub daemon: bool,
    pub limits: Limits,
    /// Host directories the guest may use (read and write), none by default: the
    /// real directories, as `wasmtime run --dir` grants them.
    pub dirs: Vec<Preopen>,
    /// Directories on its host's simulated disk (mounted when a guest of the host
    /// first starts; they live as long as the host).
    pub disks: Vec<crate::DiskMount>,
    pub stdin: crate::Stdin,
    /// The program name the guest sees as its first argument (by default, the
    /// component's file name).
    pub argv0: Option<String>,
    /// The initial working directory `wasi:cli/environment` reports (none by
    /// default, as in wasmtime).
    pub cwd: Option<String>,
}

impl GuestSpec {
    pub fn new(name: impl Into<String>, host: HostId, program: Program) -> Self {
        GuestSpec {
            name: name.into(),
            host,
            program,
            args: Vec::new(),
            env: Vec::new(),
            start: Duration::ZERO,
            capabilities: Capabilities::default(),
            daemon: false,
            limits: Limits::default(),
            dirs: Vec::new(),
            disks: Vec::new(),
            stdin: crate::Stdin::Empty,
            argv0: None,
            cwd: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn start_at(mut self, start: Duration) -> Self {
        self.start = start;
        self
    }

    pub fn daemon(mut self) -> Self {
        self.daemon = true;
        self
    }

    pub fn capabilities(mut self, caps: Capabilities) -> Self {
        self.capabilities = caps;
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Let the guest use the host directory `host` as `guest`.
    pub fn dir(mut self, host: impl Into<std::path::PathBuf>, guest: impl Into<String>) -> Self {
        self.dirs.push(Preopen {
            host: host.into(),
            guest: guest.into(),
        });
        self
    }

    /// Mount `source` (a host directory, an image, or [`crate::DiskSource::Empty`])
    /// on the host's simulated disk, where the guest sees it as `guest` (`/data`).
    /// Every seed starts from the same contents; the host directory is never
    /// written.
    pub fn disk(mut self, guest: impl Into<String>, source: impl Into<crate::DiskSource>) -> Self {
        self.disks.push(crate::DiskMount {
            guest: guest.into(),
            source: source.into(),
            read_only: false,
        });
        self
    }

    /// Like [`GuestSpec::disk`], read-only: guests can change nothing beneath it.
    pub fn disk_read_only(
        mut self,
        guest: impl Into<String>,
        source: impl Into<crate::DiskSource>,
    ) -> Self {
        self.disks.push(crate::DiskMount {
            guest: guest.into(),
            source: source.into(),
            read_only: true,
        });
        self
    }

    pub fn stdin(mut self, stdin: crate::Stdin) -> Self {
        self.stdin = stdin;
        self
    }
}

struct Finished {
    result: wasmtime::Result<Result<(), ()>>,
    memory_exceeded: Option<String>,
    fuel: u64,
}

type GuestFuture = Pin<Box<dyn Future<Output = Finished> + Send>>;

enum Run {
    NotStarted,
    Running(GuestFuture),
    Done,
}

/// How a guest's waker was called. On the simulation's own thread, during a poll, it
/// is wasmtime's fuel yield; from another thread it is host work the guest waits for
/// outside the simulation (a file read wasmtime-wasi hands to its blocking pool).
struct SelfWake {
    executor: std::thread::ThreadId,
    fuel: AtomicBool,
    external: Mutex<bool>,
    done: std::sync::Condvar,
}

impl SelfWake {
    fn new() -> Self {
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

struct Guest {
    spec: GuestSpec,
    id: GuestId,
    start: SimTime,
    deadline: Option<SimTime>,
    run: Run,
    outcome: Option<Outcome>,
    end: SimTime,
    fuel: u64,
    restarts: u32,
    output: OutputLog,
    self_wake: Arc<SelfWake>,
    waker: Waker,
    /// Host calls since the guest's time was last charged.
    host_calls: Arc<std::sync::atomic::AtomicU64>,
    /// Virtual time charged for computing since the guest last waited.
    busy: Duration,
}

/// A simulation: a network and the guests running on it.
pub struct Sim {
    engine: Engine,
    images: Arc<crate::image::ImageCache>,
    config: SimConfig,
    world: Shared,
    guests: Vec<Guest>,
    runnable: BTreeSet<GuestId>,
    rng: ChaCha8Rng,
    /// Why the machine could not go on with the run (it ran out of resources).
    host_failure: Option<String>,
    /// Real time spent running so far (for the watchdog; time the test spends
    /// between calls does not count).
    real_time: Duration,
    /// Scheduler turns so far (the watchdog looks at the clock every 256).
    turns: u32,
}

impl Sim {
    pub fn new(runtime: &Runtime, config: SimConfig) -> Self {
        let mut net_config = config.net.clone();
        // Files are stamped on the guests' wall clock.
        net_config.disk.epoch = config.epoch;
        let net = Net::with_config(config.seed, net_config);
        Sim {
            engine: runtime.engine().clone(),
            images: runtime.images(),
            rng: derive_rng(config.seed, "scheduler"),
            world: Arc::new(Mutex::new(World::new(net))),
            config,
            guests: Vec::new(),
            runnable: BTreeSet::new(),
            host_failure: None,
            real_time: Duration::ZERO,
            turns: 0,
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Work on the network directly: add hosts and links, read the trace.
    pub fn with_net<R>(&self, f: impl FnOnce(&mut Net) -> R) -> R {
        f(&mut lock(&self.world).net)
    }

    pub fn add_host(&mut self, name: &str, addrs: &[std::net::IpAddr]) -> Result<HostId, NetError> {
        self.with_net(|net| net.add_host(name, addrs))
    }

    pub fn now(&self) -> SimTime {
        lock(&self.world).now()
    }

    /// The simulation's virtual clock, readable from anywhere (for log timestamps).
    pub fn clock(&self) -> crate::VirtualClock {
        lock(&self.world).clock.clone()
    }

    /// Add a guest; it starts at its start time once the simulation runs.
    pub fn spawn(&mut self, spec: GuestSpec) -> GuestId {
        let id = lock(&self.world).add_guest();
        let start = SimTime::ZERO + spec.start;
        let self_wake = Arc::new(SelfWake::new());
        self.guests.push(Guest {
            deadline: spec.limits.virtual_time.map(|d| start + d),
            output: OutputLog::new(self.config.output_limit),
            waker: Waker::from(self_wake.clone()),
            self_wake,
            spec,
            id,
            start,
            run: Run::NotStarted,
            outcome: None,
            end: SimTime::ZERO,
            fuel: 0,
            restarts: 0,
            host_calls: Arc::default(),
            busy: Duration::ZERO,
        });
        lock(&self.world).wake_at(start, id);
        id
    }

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
    fn handle_host_events(&mut self) {
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

    /// Guest names, by the process number the trace gives them (their index).
    pub fn guest_names(&self) -> Vec<&str> {
        self.guests.iter().map(|g| g.spec.name.as_str()).collect()
    }

    pub fn guest_id(&self, name: &str) -> Option<GuestId> {
        self.guests
            .iter()
            .find(|g| g.spec.name == name)
            .map(|g| g.id)
    }

    /// The guest's stdout and stderr so far.
    pub fn output(&self, guest: GuestId) -> &OutputLog {
        &self.guests[guest.0].output
    }

    /// How the guest ended; `None` while it runs (or waits to start or restart).
    pub fn outcome(&self, guest: GuestId) -> Option<&Outcome> {
        self.guests[guest.0].outcome.as_ref()
    }

    /// The output so far of the guest named `name`, if there is one.
    pub fn output_of(&self, name: &str) -> Option<&OutputLog> {
        self.guest_id(name).map(|id| self.output(id))
    }

    /// Whether the guest named `name` has written `text` so far, to stdout or stderr
    /// (output before a restart included). Each call reads only the output written
    /// since the last call for the same text ([`OutputLog::contains`]).
    ///
    /// # Panics
    /// If no guest has that name: a misspelt name would otherwise wait forever.
    pub fn printed(&self, name: &str, text: &str) -> bool {
        self.named(name).1.contains(text)
    }

    /// How the guest named `name` ended; `None` while it runs (or waits to start or
    /// restart).
    ///
    /// # Panics
    /// If no guest has that name.
    pub fn outcome_of(&self, name: &str) -> Option<&Outcome> {
        self.outcome(self.named(name).0)
    }

    fn named(&self, name: &str) -> (GuestId, &OutputLog) {
        match self.guest_id(name) {
            Some(id) => (id, self.output(id)),
            None => panic!(
                "no guest named `{name}` (the guests are: {})",
                self.guest_names().join(", ")
            ),
        }
    }

    /// Why `report` is not a success, for a test's failure message: each guest that
    /// did not do what it should ([`GuestReport::is_success`]), its ending, and the
    /// last lines it printed. Empty when the report is a success.
    pub fn explain(&self, report: &Report) -> String {
        let mut text = String::new();
        if let Some(failure) = &report.host_failure {
            text.push_str(&format!("the machine failed: {failure}\n"));
        } else if report.stop == StopReason::Watchdog {
            text.push_str("the run was stopped by its real-time watchdog\n");
        }
        // A report lists the guests in the order they were spawned.
        for (g, guest) in report.guests.iter().zip(&self.guests) {
            if g.is_success() {
                continue;
            }
            text.push_str(&format!("{}: {} at {}\n", g.name, g.outcome, g.end));
            let lines = guest.output.lines();
            for line in &lines[lines.len().saturating_sub(5)..] {
                text.push_str(&format!("    | {}\n", line.text));
            }
        }
        text
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Result<HostId, NetError> {
        self.with_net(|net| {
            net.hosts()
                .find(|&h| net.host_name(h) == name)
                .ok_or_else(|| NetError::UnknownHost(name.to_string()))
        })
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
    /// once). `Err` says why the run stopped first: every non-daemon guest ended,
    /// nothing was left to happen, or a limit of [`SimConfig`] was reached.
    ///
    /// ```no_run
    /// # fn f(sim: &mut simnet_wasi::Sim) {
    /// sim.run_until(|sim| sim.printed("client", "connected")).expect("the client connects");
    /// # }
    /// ```
    pub fn run_until(&mut self, condition: impl FnMut(&Sim) -> bool) -> Result<(), StopReason> {
        self.drive(self.time_limit(), true, condition)
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

    fn start_guest(&mut self, id: GuestId) -> wasmtime::Result<GuestFuture> {
        let guest = &self.guests[id.0];
        let spec = &guest.spec;
        let clock = lock(&self.world).clock.clone();
        let seed = self.config.seed;
        let label = |what: &str| format!("guest:{}:{what}", spec.name);
        let mut b = WasiCtxBuilder::new();
        b.arg(spec.argv0.as_deref().unwrap_or(spec.program.name()))
            .args(&spec.args)
            .envs(&spec.env)
            .stdout(GuestOutput {
                log: guest.output.clone(),
                stream: Stream::Stdout,
                world: self.world.clone(),
            })
            .stderr(GuestOutput {
                log: guest.output.clone(),
                stream: Stream::Stderr,
                world: self.world.clone(),
            })
            .wall_clock(SimWallClock {
                clock: clock.clone(),
                epoch: self.config.epoch,
            })
            .monotonic_clock(SimMonotonicClock(clock.clone()))
            .secure_random(derive_rng(seed, &label("secure-random")))
            .insecure_random(derive_rng(seed, &label("insecure-random")))
            .insecure_random_seed({
                let mut r = derive_rng(seed, &label("insecure-seed"));
                (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64())
            })
            .stdin(GuestStdin::new(spec.stdin.clone()))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            // Filesystem calls run on the simulation's thread, in program order.
            .allow_blocking_current_thread(true);
        if let Some(cwd) = &spec.cwd {
            b.initial_cwd(cwd);
        }
        for dir in &spec.dirs {
            b.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadWrite)
                .map_err(|e| e.context(format!("cannot open directory {}", dir.host.display())))?;
        }
        self.mount_disks(id)?;
        let state = GuestState {
            wasi: b.build(),
            table: wasmtime::component::ResourceTable::new(),
            net: GuestNet {
                world: self.world.clone(),
                guest: id,
                host: spec.host,
                caps: spec.capabilities,
            },
            clock,
            limiter: GuestLimiter {
                memory: spec.limits.memory.or(self.config.memory_limit),
                exceeded: None,
            },
            file_times: FileTimes::new(lock(&self.world).clock.clone(), self.config.epoch),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let calls = guest.host_calls.clone();
        let (world, host, output) = (self.world.clone(), spec.host, guest.output.clone());
        let (armed, returned) = {
            let w = lock(&self.world);
            (w.triggers.armed(), w.returned_calls(id))
        };
        store.call_hook(move |_, hook| {
            match hook {
                wasmtime::CallHook::CallingHost => {
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                wasmtime::CallHook::ReturningFromHost => {
                    // What the returned call waited for no longer holds.
                    returned.fetch_add(1, Ordering::Relaxed);
                    if !armed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let mut w = lock(&world);
                    let w = &mut *w;
                    if w.triggers.check(&mut w.net, host, id, &output) {
                        return Err(wasmtime::Error::new(HostWentDown));
                    }
                }
                _ => {}
            }
            Ok(())
        });
        let fuel = spec.limits.fuel.unwrap_or(u64::MAX);
        store.set_fuel(fuel)?;
        store.fuel_async_yield_interval(self.config.slice_fuel)?;
        let pre = spec.program.pre.clone();
        let world = self.world.clone();
        Ok(Box::pin(async move {
            let result = async {
                let command = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| e.context(Instantiating))?;
                command.wasi_cli_run().call_run(&mut store).await
            }
            .await;
            let left = store.get_fuel().unwrap_or(0);
            let finished = Finished {
                result,
                memory_exceeded: store.data_mut().limiter.exceeded.take(),
                fuel: fuel - left,
            };
            // The guest is gone: its handles drop without it letting go of them.
            lock(&world).tearing_down = Some(id);
            drop(store);
            lock(&world).tearing_down = None;
            finished
        }))
    }

    /// Mount the guest's disk directories that its host's disk lacks (the first
    /// guest of a host to start mounts them; restarts find them there).
    fn mount_disks(&self, id: GuestId) -> wasmtime::Result<()> {
        let spec = &self.guests[id.0].spec;
        for m in &spec.disks {
            let mounted = lock(&self.world).net.disk(spec.host).is_mounted(&m.guest);
            if mounted {
                continue;
            }
            let image = self
                .images
                .get(&m.source)
                .map_err(|e| wasmtime::format_err!("cannot mount {}: {e}", m.guest))?;
            lock(&self.world)
                .net
                .mount(spec.host, &m.guest, &image, m.read_only)
                .map_err(|e| wasmtime::format_err!("cannot mount {}: {e}", m.guest))?;
        }
        Ok(())
    }

    /// Record the outcome, drop the instance, and close its sockets as the kernel
    /// does for a process that ends.
    fn end_guest(&mut self, id: GuestId, outcome: Outcome) {
        self.drop_guest(id, outcome, true);
    }

    fn drop_guest(&mut self, id: GuestId, outcome: Outcome, close_sockets: bool) {
        let guest = &mut self.guests[id.0];
        // Dropping the future drops the store (and with it the guest's resource
        // table) before the world is locked below.
        lock(&self.world).tearing_down = Some(id);
        guest.run = Run::Done;
        lock(&self.world).tearing_down = None;
        tracing::info!(guest = %guest.spec.name, %outcome, "guest ended");
        let event = match &outcome {
            Outcome::Exited(code) => Some(ProcessEvent::Exited { code: *code }),
            Outcome::Trapped { .. } => Some(ProcessEvent::Trapped),
            Outcome::LimitExceeded { .. } => Some(ProcessEvent::LimitExceeded),
            Outcome::Crashed { .. } => Some(ProcessEvent::Crashed),
            // Still running or never started when the run stopped: nothing happened.
            _ => None,
        };
        guest.outcome = Some(outcome);
        let mut w = lock(&self.world);
        guest.end = w.now();
        if let Some(event) = event {
            w.net.record_process(guest.spec.host, id.0 as u32, event);
        }
        if close_sockets {
            w.close_all_of(id);
        }
        w.clear_waits(id);
        drop(w);
        self.runnable.remove(&id);
    }

    fn finish(&mut self, stop: StopReason) -> Report {
        let ids: Vec<GuestId> = self.guests.iter().map(|g| g.id).collect();
        for id in ids {
            let guest = &self.guests[id.0];
            if guest.outcome.is_some() {
                continue;
            }
            let outcome = match guest.run {
                Run::NotStarted => Outcome::NotStarted,
                _ => {
                    let waiting: Vec<String> = lock(&self.world).take_waits(id);
                    if stop == StopReason::Idle && !guest.spec.daemon {
                        Outcome::Deadlocked { waiting }
                    } else {
                        Outcome::Running { waiting }
                    }
                }
            };
            // The run stops here: guests still running keep their connections open
            // (nothing more happens on the network), as in a snapshot.
            lock(&self.world).forget_sockets_of(id);
            self.drop_guest(id, outcome, false);
        }
        let w = lock(&self.world);
        Report {
            guests: self
                .guests
                .iter()
                .map(|g| GuestReport {
                    name: g.spec.name.clone(),
                    host: w.net.host_name(g.spec.host).to_string(),
                    outcome: g.outcome.clone().unwrap_or(Outcome::NotStarted),
                    end: g.end,
                    fuel: g.fuel,
                    restarts: g.restarts,
                    daemon: g.spec.daemon,
                })
                .collect(),
            end: w.now(),
            stop,
            trace_hash: w.net.trace_hash(),
            host_failure: self.host_failure.clone(),
            api_errors: w
                .net
                .api_results()
                .map(|(method, result, met)| ApiErrorCount {
                    method,
                    result,
                    natural: met.natural,
                    injected: met.injected,
                })
                .collect(),
        }
    }
}

/// Marks an error that happened while a guest was being instantiated.
#[derive(Debug)]
struct Instantiating;

impl std::fmt::Display for Instantiating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot instantiate the component")
    }
}

/// How a guest's run ended, or why the machine could not run it: a component that
/// was checked when loaded fails to instantiate only when the host lacks resources
/// (memory, memory mappings), which is no outcome of the simulation.
enum Ended {
    Outcome(Outcome),
    /// A fault its own call brought about crashed its host.
    HostWentDown,
    HostFailure(String),
}

fn classify_ending(finished: Finished) -> Ended {
    if let Err(e) = &finished.result
        && e.is::<HostWentDown>()
    {
        return Ended::HostWentDown;
    }
    if let Err(e) = &finished.result
        && e.is::<Instantiating>()
        && !e.is::<Trap>()
        && finished.memory_exceeded.is_none()
    {
        let cause = e
            .chain()
            .skip(1)
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        return Ended::HostFailure(cause);
    }
    Ended::Outcome(classify(finished))
}

fn classify(finished: Finished) -> Outcome {
    let err = match finished.result {
        Ok(Ok(())) => return Outcome::Exited(0),
        Ok(Err(())) => return Outcome::Exited(1),
        Err(e) => e,
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    if let Some(detail) = finished.memory_exceeded {
        return Outcome::LimitExceeded {
            limit: Limit::Memory,
            detail,
        };
    }
    if err.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return Outcome::LimitExceeded {
            limit: Limit::Fuel,
            detail: format!("used all {} units of fuel", finished.fuel),
        };
    }
    let backtrace = err.downcast_ref::<WasmBacktrace>().map(|b| b.to_string());
    let wasm_trap = err.downcast_ref::<Trap>().is_some();
    let message = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        // The backtrace is reported on its own: leave it out of the message.
        None => err
            .chain()
            .map(|c| c.to_string())
            .filter(|c| !c.starts_with("error while executing at wasm backtrace"))
            .collect::<Vec<_>>()
            .join(": "),
    };
    Outcome::Trapped {
        message,
        backtrace,
        wasm_trap,
    }
}
