//! Running worlds: one run of a world under a seed and a fault plan ([`Run`]), and
//! the runners over many seeds that a test and the `simnet` command share: the
//! explorer ([`Explore`]: parallel, sharded, with random fault plans shrunk, a
//! determinism check, failures grouped, artifacts left), and the seed and plan
//! checkers for tests that build their worlds themselves ([`crate::check_seeds`],
//! [`crate::check_plans`]).

mod explore;
mod seeds;
mod summary;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use simnet_core::{CaptureSink, TraceMode};
use simnet_wasi::{Report, Sim, StopReason};

pub use explore::{Explore, Progress, fit_space, fitting_jobs, shell_word};
pub use seeds::{SeedSet, parse_shard};
pub use summary::{Failure, FailureGroup, Summary, group_key, plan_key, render_failure};

use crate::plan::PlanFault;
use crate::report;
use crate::units::secs;
use crate::world::{BuildOptions, Prepared, World};

/// One run of a world: the world as it ran (with the plan's faults), the simulation
/// as it ended, and its report.
pub struct Run {
    pub seed: u64,
    /// The random fault plan laid over the world (empty: none).
    pub plan: Vec<PlanFault>,
    /// The world with the plan's faults in it.
    pub world: World,
    pub sim: Sim,
    pub report: Report,
}

/// What looks at a simulation before it runs.
pub type Observer = Box<dyn FnOnce(&Sim) + Send>;

/// How a run is made besides its seed and plan.
#[derive(Default)]
pub struct RunOptions {
    /// Stop at this virtual time (else the world's `until`).
    pub until: Option<Duration>,
    /// Keep only the running trace hash, not every record (faster; the timeline
    /// then shows guests' output and no network event).
    pub hash_only: bool,
    /// Where captured packets go as their fate is known (a pcap file).
    pub capture: Option<CaptureSink>,
    /// Called with the simulation just before it runs (to watch its clock).
    pub observe: Option<Observer>,
}

impl Prepared {
    /// Run the world under `seed` with `plan`'s faults added. A run the machine
    /// could not carry through (resources ran out, the watchdog fired) is an error,
    /// never a simulated outcome.
    pub fn run(&self, seed: u64, plan: &[PlanFault], options: RunOptions) -> Result<Run> {
        let world = self.world().with_plan(plan);
        let build = BuildOptions {
            until: options.until,
            trace: match options.hash_only {
                true => TraceMode::HashOnly,
                false => TraceMode::Full,
            },
        };
        let mut sim = self.sim_of(&world, seed, build)?;
        if let Some(sink) = options.capture {
            sim.with_net(|net| net.stream_capture(sink));
        }
        if let Some(observe) = options.observe {
            observe(&sim);
        }
        let report = sim.run();
        sim.with_net(|net| net.end_capture());
        machine_held(&report)?;
        Ok(Run {
            seed,
            plan: plan.to_vec(),
            world,
            sim,
            report,
        })
    }
}

impl World {
    /// Run the world under `seed` to its end.
    pub fn run(&self, seed: u64) -> Result<Run> {
        self.prepare()?.run(seed, &[], RunOptions::default())
    }

    /// A runner over many seeds of this world (see [`Explore`]).
    pub fn explore(&self) -> Result<Explore> {
        Ok(Explore::new(self.prepare()?))
    }
}

impl Run {
    /// Every guest met its expectation.
    pub fn passed(&self) -> bool {
        self.world.first_unmet(&self.report).is_none()
    }

    /// The first unmet expectation, as a sentence, with the last lines the guest
    /// printed (they usually say why); `None` if the run passed.
    pub fn unmet(&self) -> Option<String> {
        let why = self.world.first_unmet(&self.report)?;
        let failing = self
            .world
            .guests()
            .find(|(_, g)| {
                self.report
                    .guest(&g.name)
                    .is_some_and(|r| !g.expect.met_by(&r.outcome))
            })
            .map(|(_, g)| g.name.clone());
        let tail = failing
            .and_then(|name| Some((self.sim.guest_id(&name)?, name)))
            .map(|(id, name)| {
                let lines = self.sim.output(id).lines();
                let last: Vec<String> = lines
                    .iter()
                    .rev()
                    .take(3)
                    .rev()
                    .map(|l| format!("\n    | {}", report::printable(&l.text)))
                    .collect();
                match last.is_empty() {
                    true => String::new(),
                    false => format!("\n  last output of {name}:{}", last.concat()),
                }
            })
            .unwrap_or_default();
        Some(format!("{why}{tail}"))
    }

    /// Whether any connection was established during the run.
    pub fn any_connection(&self) -> bool {
        self.sim.with_net(|net| {
            net.trace()
                .records()
                .iter()
                .any(|r| matches!(r.event, simnet_core::TraceEvent::Established { .. }))
        })
    }

    /// What a guest printed on stdout (empty for a guest that does not exist).
    pub fn stdout(&self, guest: &str) -> String {
        self.sim
            .guest_id(guest)
            .map(|g| self.sim.output(g).stdout())
            .unwrap_or_default()
    }

    /// Every guest's output and every fault, in the order they happened, one line
    /// each: `[  1.000250s] server | listening on 10.0.0.1:7000`.
    pub fn timeline(&self) -> String {
        report::timeline_text(&self.sim, &self.report)
    }

    /// The summary table: each guest's outcome against its expectation.
    pub fn summary(&self) -> String {
        report::summary(&self.sim, &self.world, &self.report).0
    }

    /// One line: how the run ended, when, and its trace hash.
    pub fn headline(&self) -> String {
        format!(
            "seed {}: {} at {} of virtual time, trace hash {:016x}",
            self.seed,
            stop_word(&self.report),
            secs(self.report.end),
            self.report.trace_hash
        )
    }

    /// Write every event of the run as JSON lines into `path`.
    pub fn write_trace(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        report::write_trace(file, path, &self.sim, &self.report)
    }
}

/// A run the machine could not carry through (resources ran out, the real-time
/// watchdog fired) is an error of simnet's, never a simulated outcome.
pub fn machine_held(report: &Report) -> Result<()> {
    match report.stop {
        StopReason::HostFailure => anyhow::bail!(
            "the machine ran out of resources at {} of virtual time: {} (this is not an outcome \
             of the simulation; see docs/limits.md for how many guests fit)",
            secs(report.end),
            report.host_failure.as_deref().unwrap_or("unknown failure")
        ),
        StopReason::Watchdog => anyhow::bail!(
            "the run took longer in real time than its watchdog allows (stopped at {} of \
             virtual time); raise the world's watchdog (`watchdog` in a scenario, --watchdog on the \
             command line), or turn it off",
            secs(report.end)
        ),
        _ => Ok(()),
    }
}

/// How a run ended, in words.
pub fn stop_word(report: &Report) -> &'static str {
    match report.stop {
        StopReason::AllFinished => "finished",
        StopReason::Idle => "nothing left to run",
        StopReason::TimeLimit => "stopped at the time limit",
        StopReason::Watchdog => "stopped by the real-time watchdog",
        StopReason::HostFailure => "stopped: the machine ran out of resources",
    }
}
