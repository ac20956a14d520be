//! The world model: what a simulation holds before it runs, as plain data. A
//! scenario file deserializes into a [`World`] ([`World::from_file`]) and the
//! [`Builder`] produces one; either way the same [`World`] runs under any seed
//! ([`World::run`], [`World::sim`]), takes a random fault plan
//! ([`World::with_plan`]), and writes its faults back as scenario entries
//! ([`World::plan_entries`], [`scenario::fault_entries`]).

mod build;
mod builder;
mod builtin;
mod plan;
pub mod scenario;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use simnet_core::{CrashMode, DiskFault, LinkConfig, NetConfig};
use simnet_wasi::{ApiFault, Capabilities, Limits, Outcome, Preopen, Program, Stdin, When};

pub use build::{BuildOptions, Prepared};
pub use builder::Builder;

use crate::space::FaultSpace;

/// A world: its network, its hosts and what each runs, its links, the faults laid
/// over it, and what random fault plans may draw from. Every field is public: a
/// test may read a world from a file and change anything before it runs.
#[derive(Clone, Debug)]
pub struct World {
    /// The file the world was read from (relative paths in it were resolved from
    /// its directory); `None` for a world built in Rust. Replay files of failing
    /// seeds are that file with the seed and the plan; a world changed after it was
    /// read is no longer its file, and [`Builder::from_world`] forgets the path.
    pub path: Option<PathBuf>,
    /// The seed `simnet run` uses when given none.
    pub seed: u64,
    /// Virtual time at which a run stops (`None`: simnet's default limit).
    pub until: Option<Duration>,
    /// Real time a run may take before it is stopped (`None`: no watchdog).
    pub watchdog: Option<Duration>,
    /// The network's settings: the default link, TCP's constants and buffers.
    pub net: NetConfig,
    pub hosts: Vec<Host>,
    /// Links between two hosts that differ from the default link.
    pub links: Vec<Link>,
    /// Network, host and disk faults, at virtual times or on triggers.
    pub faults: Vec<ScheduledFault>,
    /// Faults at the socket and file API level.
    pub api_faults: Vec<HostApiFault>,
    /// Probability of a seeded random API fault on each call that can have one.
    pub chaos: f64,
    /// What random fault plans may draw from (`[explore]` in a scenario file).
    pub explore: FaultSpace,
    /// How guests are scheduled and what they may use by default.
    pub scheduler: Scheduler,
}

/// The scheduler's settings of a world (see [`simnet_wasi::SimConfig`], whose
/// defaults they take): what computation costs in virtual time, the wall clock's
/// epoch, and the limits a guest has unless its own say otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct Scheduler {
    pub slice_fuel: Option<u64>,
    pub slice_time: Duration,
    pub host_call_time: Duration,
    pub epoch: Duration,
    pub output_limit: usize,
    pub memory_limit: Option<usize>,
    pub busy_limit: Option<Duration>,
}

impl Scheduler {
    /// The settings `config` holds.
    pub fn of(config: &simnet_wasi::SimConfig) -> Scheduler {
        Scheduler {
            slice_fuel: config.slice_fuel,
            slice_time: config.slice_time,
            host_call_time: config.host_call_time,
            epoch: config.epoch,
            output_limit: config.output_limit,
            memory_limit: config.memory_limit,
            busy_limit: config.busy_limit,
        }
    }

    /// Put these settings into `config`.
    pub fn apply(&self, config: &mut simnet_wasi::SimConfig) {
        config.slice_fuel = self.slice_fuel;
        config.slice_time = self.slice_time;
        config.host_call_time = self.host_call_time;
        config.epoch = self.epoch;
        config.output_limit = self.output_limit;
        config.memory_limit = self.memory_limit;
        config.busy_limit = self.busy_limit;
    }
}

impl Default for Scheduler {
    fn default() -> Scheduler {
        Scheduler::of(&simnet_wasi::SimConfig::new(0))
    }
}

/// A host: its addresses, its simulated disk, and the guests it runs.
#[derive(Clone, Debug)]
pub struct Host {
    pub name: String,
    pub ips: Vec<IpAddr>,
    /// The programs the host runs, each named (a server and its sidecar, two
    /// processes sharing the disk); all are restarted with the host.
    pub guests: Vec<Guest>,
    /// Most sockets its guests may hold at once (`None`: simnet's default).
    pub max_sockets: Option<u32>,
    /// Directories on the host's simulated disk, seen by every guest of the host.
    pub disks: Vec<Mount>,
    /// The host's disk settings, when they differ from the default.
    pub disk_config: Option<simnet_core::disk::DiskConfig>,
}

impl Host {
    /// A host with these addresses and nothing on it yet.
    pub fn new(name: impl Into<String>, ips: Vec<IpAddr>) -> Host {
        Host {
            name: name.into(),
            ips,
            guests: Vec::new(),
            max_sockets: None,
            disks: Vec::new(),
            disk_config: None,
        }
    }
}

/// One program a host runs, and what it must do for the run to pass.
#[derive(Clone, Debug)]
pub struct Guest {
    /// Unique in the world; reports, timelines and [`simnet_wasi::Sim::output_of`]
    /// name the guest by it.
    pub name: String,
    pub source: Source,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Virtual time at which it starts.
    pub start: Duration,
    pub caps: Capabilities,
    pub expect: Expect,
    pub limits: Limits,
    /// Real host directories it may use (`wasmtime run --dir`), none by default.
    pub dirs: Vec<Preopen>,
    /// Directories of its own on the host's disk (besides the host's [`Host::disks`]).
    pub disks: Vec<simnet_wasi::DiskMount>,
    pub stdin: Stdin,
    /// The program name it sees as its first argument.
    pub argv0: Option<String>,
    /// The initial working directory it is told.
    pub cwd: Option<String>,
}

impl Guest {
    /// A guest that must exit with 0, with no arguments and default limits.
    pub fn new(name: impl Into<String>, source: Source) -> Guest {
        Guest {
            name: name.into(),
            source,
            args: Vec::new(),
            env: Vec::new(),
            start: Duration::ZERO,
            caps: Capabilities::default(),
            expect: Expect::Exit(0),
            limits: Limits::default(),
            dirs: Vec::new(),
            disks: Vec::new(),
            stdin: Stdin::Empty,
            argv0: None,
            cwd: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Guest {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Guest {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Guest {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn start_at(mut self, start: Duration) -> Guest {
        self.start = start;
        self
    }

    /// A server: still running when the run ends is a success, and the run does not
    /// wait for it ([`Expect::Running`]).
    pub fn daemon(mut self) -> Guest {
        self.expect = Expect::Running;
        self
    }

    /// What the guest must do for the run to pass.
    pub fn expect(mut self, expect: Expect) -> Guest {
        self.expect = expect;
        self
    }

    pub fn capabilities(mut self, caps: Capabilities) -> Guest {
        self.caps = caps;
        self
    }

    pub fn limits(mut self, limits: Limits) -> Guest {
        self.limits = limits;
        self
    }

    /// Let the guest use the real host directory `host` as `guest`.
    pub fn dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Guest {
        self.dirs.push(Preopen {
            host: host.into(),
            guest: guest.into(),
        });
        self
    }

    /// Mount `source` on the host's simulated disk, where the guest sees it as
    /// `guest` (see [`simnet_wasi::GuestSpec::disk`]).
    pub fn disk(
        self,
        guest: impl Into<String>,
        source: impl Into<simnet_wasi::DiskSource>,
    ) -> Guest {
        self.mount(guest.into(), source.into(), false)
    }

    /// Like [`Guest::disk`], read-only.
    pub fn disk_read_only(
        self,
        guest: impl Into<String>,
        source: impl Into<simnet_wasi::DiskSource>,
    ) -> Guest {
        self.mount(guest.into(), source.into(), true)
    }

    fn mount(mut self, guest: String, source: simnet_wasi::DiskSource, read_only: bool) -> Guest {
        self.disks.push(simnet_wasi::DiskMount {
            guest,
            source,
            read_only,
        });
        self
    }

    pub fn stdin(mut self, stdin: Stdin) -> Guest {
        self.stdin = stdin;
        self
    }

    pub fn argv0(mut self, argv0: impl Into<String>) -> Guest {
        self.argv0 = Some(argv0.into());
        self
    }

    pub fn cwd(mut self, cwd: impl Into<String>) -> Guest {
        self.cwd = Some(cwd.into());
        self
    }
}

/// Where a guest's component comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A component file (`.wasm`).
    File(PathBuf),
    /// One of simnet's own guests, embedded in the binary (`builtin:echo-server`).
    Builtin(&'static str),
    /// A component already loaded ([`crate::build_component`], [`crate::load`]).
    Program(Program),
}

/// What a guest must do for the run to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exit with this code.
    Exit(i32),
    /// Still be running when the run ends (a server).
    Running,
}

impl Expect {
    pub fn met_by(&self, outcome: &Outcome) -> bool {
        match self {
            Expect::Exit(code) => outcome == &Outcome::Exited(*code),
            Expect::Running => matches!(outcome, Outcome::Running { .. }),
        }
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Exit(code) => write!(f, "exit {code}"),
            Expect::Running => f.write_str("running"),
        }
    }
}

/// A directory to mount on a host's disk: a host directory (`None`: empty) and
/// where guests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub host_dir: Option<PathBuf>,
    pub guest: String,
    pub read_only: bool,
}

/// The link between two hosts, both directions.
#[derive(Clone, Debug)]
pub struct Link {
    pub a: String,
    pub b: String,
    pub config: LinkConfig,
}

/// An API fault, its host named (`None`: every host).
#[derive(Clone, Debug, PartialEq)]
pub struct HostApiFault {
    pub host: Option<String>,
    pub fault: ApiFault,
}

/// A fault at a virtual time, or on a trigger, its hosts named.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    /// When it applies; with a trigger, how long after the trigger first holds.
    pub at: Duration,
    pub kind: FaultKind,
    /// What makes it fire besides the clock: a condition on a host.
    pub trigger: Option<FaultTrigger>,
}

/// A condition on a host that fires a fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultTrigger {
    pub host: String,
    pub when: When,
}

/// What a fault does, its hosts named (see [`simnet_core::Fault`]).
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    Partition {
        from: Vec<String>,
        to: Vec<String>,
        one_way: bool,
    },
    Heal {
        from: Vec<String>,
        to: Vec<String>,
    },
    Clog {
        from: String,
        to: String,
        one_way: bool,
    },
    Release {
        from: String,
        to: String,
    },
    Link {
        a: String,
        b: String,
        config: LinkConfig,
    },
    Crash {
        host: String,
        mode: CrashMode,
    },
    Restart {
        host: String,
    },
    Reset {
        between: Vec<String>,
    },
    Disk {
        host: String,
        fault: DiskFault,
    },
    DiskHeal {
        host: String,
    },
}

impl World {
    /// A world with no host yet, default network settings, and `seed`.
    pub fn new(seed: u64) -> World {
        World {
            path: None,
            seed,
            until: None,
            watchdog: simnet_wasi::SimConfig::new(0).watchdog,
            net: NetConfig::default(),
            hosts: Vec::new(),
            links: Vec::new(),
            faults: Vec::new(),
            api_faults: Vec::new(),
            chaos: 0.0,
            explore: FaultSpace::for_hosts(Vec::new()),
            scheduler: Scheduler::default(),
        }
    }

    /// Read a scenario file (`docs/scenario.md`): errors name the file, the line and
    /// the field.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> anyhow::Result<World> {
        scenario::load(path.as_ref())
    }

    /// Every guest of every host, with its host, in the order they were declared.
    pub fn guests(&self) -> impl Iterator<Item = (&Host, &Guest)> {
        self.hosts
            .iter()
            .flat_map(|h| h.guests.iter().map(move |g| (h, g)))
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The host named `name`, to change.
    pub fn host_mut(&mut self, name: &str) -> Option<&mut Host> {
        self.hosts.iter_mut().find(|h| h.name == name)
    }

    /// The first guest that did not meet its expectation in `report`, as a sentence
    /// ("client: expected exit 0, got: …").
    pub fn first_unmet(&self, report: &simnet_wasi::Report) -> Option<String> {
        self.guests().find_map(|(_, g)| {
            let outcome = &report.guest(&g.name)?.outcome;
            (!g.expect.met_by(outcome))
                .then(|| format!("{}: expected {}, got: {outcome}", g.name, g.expect))
        })
    }
}
