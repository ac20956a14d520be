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
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use simnet_core::{HostId, Net, NetConfig, NetError, SimTime, derive_rng};

use crate::outcome::{Outcome, Report, StopReason};
use crate::output::OutputLog;
use crate::program::Runtime;
use crate::world::{GuestId, Shared, World, lock};

mod control;
mod ending;
mod schedule;
mod spec;
mod start;

use schedule::SelfWake;
pub use spec::{GuestSpec, Limits, Preopen};

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

    /// The guests that have ended as failures so far, each with its last lines.
    pub(super) fn failed_so_far(&self) -> String {
        let mut text = String::new();
        for guest in &self.guests {
            let Some(outcome) = guest.outcome.as_ref().filter(|o| o.is_failure()) else {
                continue;
            };
            text.push_str(&format!(
                "{}: {outcome} at {}\n",
                guest.spec.name, guest.end
            ));
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
}
