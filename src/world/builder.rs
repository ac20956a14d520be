//! A world by names, in Rust: hosts and their addresses, links, the programs each
//! host runs, and faults, gathered into a [`World`] (what a scenario file reads into).

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use simnet_core::{LinkConfig, NetConfig};
use simnet_wasi::{Program, Sim, SimConfig};

use super::{
    FaultKind, FaultTrigger, Guest, Host, HostApiFault, Link, Mount, ScheduledFault, Source, World,
};
use crate::plan::PlanFault;
use crate::space::FaultSpace;

/// Builds a [`World`] (and from it a [`Sim`]). Hosts named by a guest but never
/// declared get an address of their own (`10.0.0.1`, `10.0.0.2`, … in order of first
/// mention).
///
/// ```no_run
/// # fn main() -> anyhow::Result<()> {
/// use std::time::Duration;
/// use simnet::{Builder, LinkConfig};
///
/// let server = simnet::build_component("guests", "kv-server")?;
/// let client = simnet::build_component("guests", "kv-client")?;
/// let mut sim = Builder::new(7)
///     .default_link(LinkConfig { loss: 0.05, ..LinkConfig::with_latency(Duration::from_millis(5)) })
///     .host("server", "10.0.0.1")
///     .server("server", &server, |g| g.arg("7000"))
///     .client("client", &client, |g| g.args(["server:7000", "set", "a", "1"]))
///     .build()?;
/// sim.run_until(|sim| sim.printed("server", "listening"))?;
/// sim.crash("server", simnet::CrashMode::Silent)?;
/// let report = sim.run();
/// assert!(report.is_success(), "{:?}", report.failures());
/// # Ok(()) }
/// ```
pub struct Builder {
    world: World,
    /// Host names and addresses (an address that did not parse keeps its error for
    /// [`Builder::world`] to report).
    hosts: Vec<(String, Result<IpAddr, String>)>,
    /// Guests, by host name, in the order they were added.
    guests: Vec<(String, Guest)>,
    /// Settings of hosts, applied once they exist.
    host_changes: Vec<(String, HostChange)>,
    plan: Vec<PlanFault>,
    /// The explore space was set by hand (else it covers every host).
    explore_set: bool,
}

enum HostChange {
    Ip(IpAddr),
    MaxSockets(u32),
    Disk(Mount),
    DiskConfig(simnet_core::disk::DiskConfig),
}

impl Builder {
    /// A world whose every random choice follows `seed`.
    pub fn new(seed: u64) -> Builder {
        Builder {
            world: World::new(seed),
            hosts: Vec::new(),
            guests: Vec::new(),
            host_changes: Vec::new(),
            plan: Vec::new(),
            explore_set: false,
        }
    }

    /// Start from a world read from a file (or built before) and add to it. The
    /// world is no longer its file's: replays of its failures are by seed and plan
    /// (`SIMNET_SEED`, `SIMNET_PLAN`), not replay files.
    pub fn from_world(mut world: World) -> Builder {
        let mut b = Builder::new(world.seed);
        b.explore_set = true;
        world.path = None;
        b.world = world;
        b
    }

    /// Change the simulation's settings (the scheduler's costs and default limits,
    /// the network, the time limit, the watchdog) as a [`SimConfig`]. Its seed is
    /// each run's own and the trace mode the runner's; a `time_limit` of `None`
    /// keeps the default limit (24 h of virtual time).
    pub fn config(mut self, change: impl FnOnce(&mut SimConfig)) -> Builder {
        let w = &mut self.world;
        let mut config = SimConfig::new(w.seed);
        w.scheduler.apply(&mut config);
        config.net = w.net.clone();
        config.time_limit = w.until.or(config.time_limit);
        config.watchdog = w.watchdog;
        change(&mut config);
        w.scheduler = super::Scheduler::of(&config);
        w.net = config.net;
        w.until = config.time_limit;
        w.watchdog = config.watchdog;
        self
    }

    /// A host named `name` with the address `ip` (checked by [`Builder::world`]).
    pub fn host(mut self, name: &str, ip: &str) -> Builder {
        let ip = ip
            .parse()
            .map_err(|_| format!("host {name}: {ip:?} is not an IP address"));
        self.hosts.push((name.to_string(), ip));
        self
    }

    /// More addresses for the host `name` (declared with [`Builder::host`]).
    pub fn host_ips(mut self, name: &str, ips: &[IpAddr]) -> Builder {
        self.host_changes
            .extend(ips.iter().map(|&ip| (name.to_string(), HostChange::Ip(ip))));
        self
    }

    /// The link between every two hosts without a link of their own.
    pub fn default_link(mut self, config: LinkConfig) -> Builder {
        self.world.net.default_link = config;
        self
    }

    /// The link between hosts `a` and `b`, both directions.
    pub fn link(mut self, a: &str, b: &str, config: LinkConfig) -> Builder {
        self.world.links.push(Link {
            a: a.to_string(),
            b: b.to_string(),
            config,
        });
        self
    }

    /// Change the network's settings (TCP's constants, buffers, the default link).
    pub fn net(mut self, change: impl FnOnce(&mut NetConfig)) -> Builder {
        change(&mut self.world.net);
        self
    }

    /// Stop the run at this virtual time even if guests still run.
    pub fn time_limit(mut self, limit: Duration) -> Builder {
        self.world.until = Some(limit);
        self
    }

    /// Stop a run that takes longer than this in real time (`None`: never).
    pub fn watchdog(mut self, limit: Option<Duration>) -> Builder {
        self.world.watchdog = limit;
        self
    }

    /// Run `program` on host `host` as a server, named after its host: the run does
    /// not wait for it to end, and still running is a success. `configure` sets its
    /// arguments, environment, start time, limits and disks.
    pub fn server(
        self,
        host: &str,
        program: &Program,
        configure: impl FnOnce(Guest) -> Guest,
    ) -> Builder {
        self.guest(host, host, program, |g| configure(g.daemon()))
    }

    /// Run `program` on host `host` as a client, named after its host: the run lasts
    /// until it (and every other client) has ended, and success is exiting with 0.
    pub fn client(
        self,
        host: &str,
        program: &Program,
        configure: impl FnOnce(Guest) -> Guest,
    ) -> Builder {
        self.guest(host, host, program, configure)
    }

    /// Run `program` on host `host` as the guest `name` (a host runs as many as it
    /// is given: a server and its sidecar, two processes sharing a disk). It must
    /// exit with 0 unless `configure` says otherwise ([`Guest::daemon`],
    /// [`Guest::expect`]).
    pub fn guest(
        mut self,
        host: &str,
        name: &str,
        program: &Program,
        configure: impl FnOnce(Guest) -> Guest,
    ) -> Builder {
        let guest = configure(Guest::new(name, Source::Program(program.clone())));
        self.guests.push((host.to_string(), guest));
        self
    }

    /// [`Builder::guest`] for a component not loaded yet: a file or a built-in
    /// guest, loaded when the world is prepared (a scenario's `component`).
    pub fn guest_from(
        mut self,
        host: &str,
        name: &str,
        source: Source,
        configure: impl FnOnce(Guest) -> Guest,
    ) -> Builder {
        let guest = configure(Guest::new(name, source));
        self.guests.push((host.to_string(), guest));
        self
    }

    /// Most sockets the guests of `host` may hold at once.
    pub fn max_sockets(mut self, host: &str, n: u32) -> Builder {
        self.host_changes
            .push((host.to_string(), HostChange::MaxSockets(n)));
        self
    }

    /// A directory on `host`'s simulated disk every guest of the host sees as
    /// `guest`: a copy of the host directory `host_dir`, or empty (`None`).
    pub fn disk(
        mut self,
        host: &str,
        host_dir: Option<std::path::PathBuf>,
        guest: &str,
        read_only: bool,
    ) -> Builder {
        let mount = Mount {
            host_dir,
            guest: guest.to_string(),
            read_only,
        };
        self.host_changes
            .push((host.to_string(), HostChange::Disk(mount)));
        self
    }

    /// `host`'s disk settings (capacity, costs, what a crash loses).
    pub fn disk_config(mut self, host: &str, config: simnet_core::disk::DiskConfig) -> Builder {
        self.host_changes
            .push((host.to_string(), HostChange::DiskConfig(config)));
        self
    }

    /// A fault at virtual time `at` (`[[fault]]` in a scenario file).
    pub fn fault(mut self, at: Duration, kind: FaultKind) -> Builder {
        self.world.faults.push(ScheduledFault {
            at,
            kind,
            trigger: None,
        });
        self
    }

    /// A fault `after` the trigger `when` first holds on `host`.
    pub fn fault_when(
        mut self,
        host: &str,
        when: simnet_wasi::When,
        after: Duration,
        kind: FaultKind,
    ) -> Builder {
        self.world.faults.push(ScheduledFault {
            at: after,
            kind,
            trigger: Some(FaultTrigger {
                host: host.to_string(),
                when,
            }),
        });
        self
    }

    /// An API fault on `host`'s guests (`None`: every host's) (`[[api_fault]]`).
    pub fn api_fault(mut self, host: Option<&str>, fault: simnet_wasi::ApiFault) -> Builder {
        self.world.api_faults.push(HostApiFault {
            host: host.map(str::to_string),
            fault,
        });
        self
    }

    /// Probability of a seeded random API fault on each call that can have one.
    pub fn chaos(mut self, probability: f64) -> Builder {
        self.world.chaos = probability;
        self
    }

    /// Faults of a random plan, by host name (a plan drawn by
    /// [`crate::check_plans`], or written by hand).
    pub fn faults(mut self, plan: &[PlanFault]) -> Builder {
        self.plan.extend_from_slice(plan);
        self
    }

    /// What random fault plans may draw from (by default: every host, every family).
    pub fn explore(mut self, space: FaultSpace) -> Builder {
        self.world.explore = space;
        self.explore_set = true;
        self
    }

    /// The world, checked: addresses parse, names are unique, every name a link,
    /// fault or guest uses is a host.
    pub fn world(self) -> Result<World> {
        let Builder {
            mut world,
            hosts,
            guests,
            host_changes,
            plan,
            explore_set,
        } = self;
        let mut declared = hosts;
        // Addresses hosts get with `host_ips` are taken too.
        let extra: Vec<IpAddr> = host_changes
            .iter()
            .filter_map(|(_, c)| match c {
                HostChange::Ip(ip) => Some(*ip),
                _ => None,
            })
            .collect();
        for (host, _) in &guests {
            if !declared.iter().any(|(name, _)| name == host) && world.host(host).is_none() {
                let ip = next_free_address(&declared, &world, &extra);
                declared.push((host.clone(), ip));
            }
        }
        for (name, ip) in declared {
            if world.host(&name).is_some() {
                bail!("two hosts are named {name:?}: each needs a name of its own");
            }
            let ip = ip.map_err(anyhow::Error::msg)?;
            world.hosts.push(Host::new(name, vec![ip]));
        }
        for (host, guest) in guests {
            if world.guests().any(|(_, g)| g.name == guest.name) {
                bail!(
                    "two guests are named {:?}: each needs a name of its own (give one \
                     with Builder::guest)",
                    guest.name
                );
            }
            world
                .host_mut(&host)
                .ok_or_else(|| anyhow!("no host named `{host}`"))?
                .guests
                .push(guest);
        }
        for (host, change) in host_changes {
            let h = world
                .host_mut(&host)
                .ok_or_else(|| anyhow!("no host named `{host}`"))?;
            match change {
                HostChange::Ip(ip) => h.ips.push(ip),
                HostChange::MaxSockets(n) => h.max_sockets = Some(n),
                HostChange::Disk(m) => h.disks.push(m),
                HostChange::DiskConfig(c) => h.disk_config = Some(c),
            }
        }
        for l in &world.links {
            for name in [&l.a, &l.b] {
                if world.host(name).is_none() {
                    bail!("the link {} <-> {}: no host named `{name}`", l.a, l.b);
                }
            }
        }
        if !explore_set {
            world.explore =
                FaultSpace::for_hosts(world.hosts.iter().map(|h| h.name.clone()).collect());
        }
        world.add_plan(&plan);
        Ok(world)
    }

    /// The simulation of the world, at virtual time zero, with nothing run yet.
    pub fn build(self) -> Result<Sim> {
        let world = self.world()?;
        world.sim(world.seed)
    }
}

/// The first address of `10.0.0.1` to `10.0.255.255` that no host has.
fn next_free_address(
    hosts: &[(String, Result<IpAddr, String>)],
    world: &World,
    extra: &[IpAddr],
) -> Result<IpAddr, String> {
    let taken = |ip: &IpAddr| {
        hosts.iter().any(|(_, h)| h.as_ref() == Ok(ip))
            || world.hosts.iter().any(|h| h.ips.contains(ip))
            || extra.contains(ip)
    };
    (1..=u32::from(u16::MAX))
        .map(|n| IpAddr::from([10, 0, (n >> 8) as u8, n as u8]))
        .find(|ip| !taken(ip))
        .ok_or_else(|| "no free address left in 10.0.0.0/16".to_string())
}
