//! A world made ready to run: its components loaded and its disk images read, once,
//! then built into a [`Sim`] under any seed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use simnet_core::{Fault, HostId, Net, TraceMode};
use simnet_wasi::{
    DiskMount, DiskSource, GuestSpec, MemoryLayout, Program, Runtime, Sim, SimConfig,
};

use super::{Expect, FaultKind, Guest, Host, Mount, Source, World};

/// The runtime a world's components are compiled by: the process's shared one, or
/// one of its own for a world too big for the shared one's memory layout.
#[derive(Clone)]
enum WorldRuntime {
    Shared(&'static Runtime),
    Own(Arc<Runtime>),
}

impl std::ops::Deref for WorldRuntime {
    type Target = Runtime;
    fn deref(&self) -> &Runtime {
        match self {
            WorldRuntime::Shared(rt) => rt,
            WorldRuntime::Own(rt) => rt,
        }
    }
}

/// A world with its components loaded and its disks read, ready to run under any
/// seed: each run costs building the simulation, nothing more.
#[derive(Clone)]
pub struct Prepared {
    world: World,
    runtime: WorldRuntime,
    /// Per guest, in [`World::guests`] order: its program and its disk mounts.
    guests: Vec<(Program, Vec<DiskMount>)>,
}

/// How a run is built besides its seed.
#[derive(Clone, Copy, Debug)]
pub struct BuildOptions {
    /// Stop at this virtual time (else the world's `until`, else simnet's default).
    pub until: Option<Duration>,
    pub trace: TraceMode,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            until: None,
            trace: TraceMode::Full,
        }
    }
}

impl Prepared {
    /// Load `world`'s components and read its disk directories.
    pub fn new(world: World) -> Result<Prepared> {
        let runtime = runtime_for(&world)?;
        let mut guests = Vec::new();
        for (host, guest) in world.guests() {
            let who = || match host.name == guest.name {
                true => format!("host {:?}", host.name),
                false => format!("host {:?}, guest {:?}", host.name, guest.name),
            };
            let program = load(&runtime, guest).with_context(who)?;
            let mounts = mounts(&runtime, host, guest).with_context(who)?;
            guests.push((program, mounts));
        }
        Ok(Prepared {
            world,
            runtime,
            guests,
        })
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, to change what runs next (its programs and disks stay loaded: change
    /// faults, links and settings, not hosts or guests).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The simulation of the world under `seed`, at virtual time zero.
    pub fn sim(&self, seed: u64, options: BuildOptions) -> Result<Sim> {
        self.sim_of(&self.world, seed, options)
    }

    /// The simulation of `world`, a variant of this one with the same hosts and
    /// guests (other faults, links or settings), under `seed`.
    pub fn sim_of(&self, world: &World, seed: u64, options: BuildOptions) -> Result<Sim> {
        let mut config = SimConfig::new(seed);
        world.scheduler.apply(&mut config);
        config.net = world.net.clone();
        config.net.trace = options.trace;
        if let Some(u) = options.until.or(world.until) {
            config.time_limit = Some(u);
        }
        config.watchdog = world.watchdog;
        let mut sim = Sim::new(&self.runtime, config);
        let mut loaded = self.guests.iter();
        for host in &world.hosts {
            let id = add_host(&mut sim, host)?;
            for guest in &host.guests {
                let (program, mounts) = loaded.next().ok_or_else(|| {
                    anyhow!(
                        "guest {:?} was added after the world was prepared",
                        guest.name
                    )
                })?;
                sim.spawn(spec(guest, id, program.clone(), mounts.clone()));
            }
        }
        if loaded.next().is_some() {
            anyhow::bail!("a guest was removed after the world was prepared");
        }
        for f in &world.api_faults {
            let mut fault = f.fault.clone();
            fault.host = match &f.host {
                Some(h) => Some(sim.host(h).with_context(|| "api_fault")?),
                None => None,
            };
            sim.inject(fault).map_err(|e| anyhow!("api_fault: {e}"))?;
        }
        if world.chaos > 0.0 {
            sim.set_chaos(world.chaos).map_err(|e| anyhow!("{e}"))?;
        }
        for f in &world.faults {
            let fault = sim
                .with_net(|net| to_fault(net, &f.kind))
                .with_context(|| format!("fault at {:?}", f.at))?;
            match &f.trigger {
                None => sim.schedule_fault(f.at, fault),
                Some(t) => {
                    let host = sim.host(&t.host).with_context(|| "fault trigger")?;
                    sim.schedule_fault_when(host, t.when.clone(), f.at, fault)
                }
            }
            .map_err(|e| anyhow!("fault at {:?}: {e}", f.at))?;
        }
        for l in &world.links {
            let (a, b) = (sim.host(&l.a)?, sim.host(&l.b)?);
            sim.with_net(|net| net.set_link(a, b, l.config))
                .map_err(|e| anyhow!("link {} <-> {}: {e}", l.a, l.b))?;
        }
        Ok(sim)
    }
}

/// The runtime for `world`: the shared one, unless the world has more guests than
/// its memory layout fits in one process. The layout follows from the world alone
/// (fuel counts differ slightly between layouts, and a seed must replay the same way
/// however it is run).
fn runtime_for(world: &World) -> Result<WorldRuntime> {
    let guests = world.guests().count();
    let layout = MemoryLayout::for_guests(guests);
    if layout == MemoryLayout::default() {
        return Ok(WorldRuntime::Shared(crate::component::runtime()?));
    }
    if world
        .guests()
        .any(|(_, g)| matches!(g.source, Source::Program(_)))
    {
        anyhow::bail!(
            "a world of {guests} guests runs on a compact runtime of its own: give its \
             guests component files (Source::File), not components loaded for the shared one"
        );
    }
    let rt = Runtime::with_layout(layout, simnet_wasi::default_cache_dir())
        .map_err(|e| anyhow!("cannot set up wasmtime: {e:#}"))?;
    Ok(WorldRuntime::Own(Arc::new(rt)))
}

fn load(rt: &Runtime, guest: &Guest) -> Result<Program> {
    Ok(match &guest.source {
        Source::File(path) => rt.load(path)?,
        Source::Builtin(name) => {
            let g = super::builtin::find(name).map_err(|e| anyhow!(e))?;
            rt.load_bytes(g.name, g.bytes)?
        }
        Source::Program(program) => program.clone(),
    })
}

/// The guest's disk mounts (its host's and its own), each host directory read into
/// an image once (every seed mounts the same pages).
fn mounts(rt: &Runtime, host: &Host, guest: &Guest) -> Result<Vec<DiskMount>> {
    let of_host = host.disks.iter().map(|m: &Mount| DiskMount {
        guest: m.guest.clone(),
        source: m
            .host_dir
            .clone()
            .map_or(DiskSource::Empty, DiskSource::Dir),
        read_only: m.read_only,
    });
    of_host
        .chain(guest.disks.iter().cloned())
        .map(|mut m| {
            if let DiskSource::Dir(_) = &m.source {
                let image = rt
                    .disk_image(&m.source)
                    .map_err(|e| anyhow!("disk {}: {e}", m.guest))?;
                m.source = image.into();
            }
            Ok(m)
        })
        .collect()
}

fn add_host(sim: &mut Sim, host: &Host) -> Result<HostId> {
    let id = sim
        .add_host(&host.name, &host.ips)
        .map_err(|e| anyhow!("host {:?}: {e}", host.name))?;
    if let Some(n) = host.max_sockets {
        sim.with_net(|net| net.set_socket_limit(id, n));
    }
    if let Some(mut config) = host.disk_config {
        config.epoch = sim.config().epoch;
        sim.with_net(|net| net.disk_mut(id).set_config(config));
    }
    Ok(id)
}

fn spec(guest: &Guest, host: HostId, program: Program, disks: Vec<DiskMount>) -> GuestSpec {
    let mut spec = GuestSpec::new(guest.name.clone(), host, program)
        .args(guest.args.iter().cloned())
        .start_at(guest.start)
        .capabilities(guest.caps)
        .limits(guest.limits.clone())
        .stdin(guest.stdin.clone());
    spec.env = guest.env.clone();
    spec.disks = disks;
    spec.dirs = guest.dirs.clone();
    spec.argv0 = guest.argv0.clone();
    spec.cwd = guest.cwd.clone();
    spec.daemon = guest.expect == Expect::Running;
    spec
}

/// The core fault a world's fault stands for, its host names resolved.
fn to_fault(net: &Net, kind: &FaultKind) -> Result<Fault> {
    let id = |n: &String| net.host(n).ok_or_else(|| anyhow!("no host named {n:?}"));
    let ids = |v: &Vec<String>| v.iter().map(id).collect::<Result<Vec<_>>>();
    Ok(match kind {
        FaultKind::Partition { from, to, one_way } => Fault::Partition {
            from: ids(from)?,
            to: ids(to)?,
            one_way: *one_way,
        },
        FaultKind::Heal { from, to } => Fault::Heal {
            from: ids(from)?,
            to: ids(to)?,
        },
        FaultKind::Clog { from, to, one_way } => Fault::Clog {
            from: id(from)?,
            to: id(to)?,
            one_way: *one_way,
        },
        FaultKind::Release { from, to } => Fault::Release {
            from: id(from)?,
            to: id(to)?,
        },
        FaultKind::Link { a, b, config } => Fault::SetLink {
            a: id(a)?,
            b: id(b)?,
            config: *config,
        },
        FaultKind::Crash { host, mode } => Fault::Crash {
            host: id(host)?,
            mode: *mode,
        },
        FaultKind::Restart { host } => Fault::Restart { host: id(host)? },
        FaultKind::Disk { host, fault } => Fault::Disk {
            host: id(host)?,
            fault: fault.clone(),
        },
        FaultKind::DiskHeal { host } => Fault::DiskHeal { host: id(host)? },
        FaultKind::Reset { between } => Fault::ResetRandomConnection {
            between: ids(between)?,
        },
    })
}

impl World {
    /// The world with its components loaded and its disks read, ready to run under
    /// many seeds.
    pub fn prepare(&self) -> Result<Prepared> {
        Prepared::new(self.clone())
    }

    /// The simulation of the world under `seed`, at virtual time zero, to run or to
    /// drive step by step.
    pub fn sim(&self, seed: u64) -> Result<Sim> {
        self.prepare()?.sim(seed, BuildOptions::default())
    }
}
