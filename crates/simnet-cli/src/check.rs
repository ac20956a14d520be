//! The property runner: a scenario across seeds and random fault plans, a property
//! over each run, and on failure the smallest plan that still fails (proptest's
//! shrinking), written next to the scenario as a file `simnet run` replays.
//!
//! ```no_run
//! use simnet_cli::check::{CheckConfig, check};
//!
//! let config = CheckConfig::from_env(0..32).unwrap_or_else(|e| panic!("{e}"));
//! check("examples/echo-under-loss.toml".as_ref(), &config, |run| {
//!     run.expectations_met().then_some(()).ok_or_else(|| "a host failed".to_string())
//! })
//! .unwrap_or_else(|failure| panic!("{failure}"));
//! ```
//!
//! Each seed runs one plan, drawn from the seed and the fault space alone, so
//! `SIMNET_SEED=N` reruns exactly what failed at seed N; `SIMNET_SEEDS=A..B` (or a
//! count `N`: `0..N`) chooses the seeds; both without code changes.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use proptest::strategy::ValueTree;
use simnet_core::TraceMode;
use simnet_wasi::{Report, Runtime, Sim};

use crate::plan::{Call, FaultSpace, PlanFault, apply, plan_strategy, to_toml};
use crate::scenario::{Prepared, Scenario};

/// What to explore.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// One run per seed, each with the fault plan the seed draws.
    pub seeds: Vec<u64>,
    /// The faults plans draw from; `None`: the scenario's own space (`[explore]`).
    pub space: Option<FaultSpace>,
    /// Simplification steps allowed when shrinking.
    pub max_shrink_steps: u32,
    /// Where replay files go; `None`: a directory beside the scenario
    /// (`NAME.replays/`).
    pub replay_dir: Option<PathBuf>,
}

impl CheckConfig {
    /// The seeds of `seeds`, unless `SIMNET_SEED` / `SIMNET_SEEDS` say otherwise
    /// (see [`simnet::Seeds::from_env`]).
    pub fn from_env(seeds: Range<u64>) -> Result<CheckConfig, String> {
        Ok(CheckConfig {
            seeds: simnet::Seeds::from_env(seeds)?.iter().collect(),
            space: None,
            max_shrink_steps: 300,
            replay_dir: None,
        })
    }
}

/// One run, for the property to judge.
pub struct RunOutput<'a> {
    pub seed: u64,
    pub plan: &'a [PlanFault],
    pub scenario: &'a Scenario,
    pub sim: &'a Sim,
    pub report: &'a Report,
}

impl RunOutput<'_> {
    /// Every host met its `expect`.
    pub fn expectations_met(&self) -> bool {
        self.report
            .guests
            .iter()
            .zip(&self.scenario.hosts)
            .all(|(g, h)| h.expect.met_by(&g.outcome))
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

    /// A host's stdout.
    pub fn stdout(&self, host: &str) -> String {
        self.sim
            .guest_id(host)
            .map(|g| self.sim.output(g).stdout())
            .unwrap_or_default()
    }

    /// The first unmet expectation, as a sentence, with the last lines the guest
    /// printed (they usually say why).
    pub fn unmet(&self) -> Option<String> {
        let why = self.scenario.first_unmet(self.report)?;
        let failing = self
            .report
            .guests
            .iter()
            .zip(&self.scenario.hosts)
            .find(|(g, h)| !h.expect.met_by(&g.outcome))
            .map(|(g, _)| g.name.clone());
        let tail = failing
            .and_then(|name| Some((self.sim.guest_id(&name)?, name)))
            .map(|(id, name)| {
                let lines = self.sim.output(id).lines();
                let last: Vec<String> = lines
                    .iter()
                    .rev()
                    .take(3)
                    .rev()
                    .map(|l| format!("\n    | {}", crate::report::printable(&l.text)))
                    .collect();
                if last.is_empty() {
                    String::new()
                } else {
                    format!("\n  last output of {name}:{}", last.concat())
                }
            })
            .unwrap_or_default();
        Some(format!("{why}{tail}"))
    }
}

/// A failing case, shrunk.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub plan: Vec<PlanFault>,
    pub reason: String,
    /// The scenario with the seed and the plan's faults: `simnet run` replays it.
    pub replay_file: PathBuf,
    pub command: String,
    /// The test that failed (its thread's name, under `cargo test`), for the command
    /// that reruns the seed alone.
    pub test: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "property failed at seed {}: {}", self.seed, self.reason)?;
        writeln!(
            f,
            "minimal fault plan ({} fault{}):",
            self.plan.len(),
            if self.plan.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.plan {
            writeln!(f, "  - {p}")?;
        }
        writeln!(f, "replay: {}", self.command)?;
        match &self.test {
            Some(test) => write!(
                f,
                "rerun this seed alone: SIMNET_SEED={} cargo test -- --exact {test}",
                self.seed
            ),
            None => write!(f, "rerun this seed alone: SIMNET_SEED={}", self.seed),
        }
    }
}

/// Summary of a passing check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passed {
    pub cases: u32,
}

/// The scenario, its programs and the strategy: everything a check or an exploration
/// with random faults needs.
pub struct FaultRunner {
    rt: Runtime,
    prepared: Prepared,
    strategy: proptest::strategy::SBoxedStrategy<Vec<PlanFault>>,
    space: FaultSpace,
    until: Option<Duration>,
}

/// What the scenario does without faults, under its own seed: the socket calls each
/// host makes (what API faults may hit) and text its guests print (what crashes may
/// wait for).
fn observe(
    rt: &Runtime,
    prepared: &Prepared,
    until: Option<Duration>,
) -> Result<(Vec<Call>, Vec<String>)> {
    let seed = prepared.scenario.seed;
    let mut sim = prepared.build(rt, seed, until, TraceMode::HashOnly)?;
    let report = sim.run();
    crate::run::machine_held(&report)?;
    let calls = sim.with_net(|net| {
        net.api_calls()
            .map(|(host, method, count)| Call {
                host: net.host_name(host).to_string(),
                method,
                count,
            })
            .collect()
    });
    // A few lines of each guest, shortened to words it printed whole.
    let mut outputs: Vec<String> = Vec::new();
    for g in &report.guests {
        let Some(id) = sim.guest_id(&g.name) else {
            continue;
        };
        for line in sim.output(id).lines().iter().take(4) {
            let text: String = line
                .text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            if !text.is_empty() && !outputs.contains(&text) {
                outputs.push(text);
            }
        }
    }
    Ok((calls, outputs))
}

impl FaultRunner {
    pub fn new(
        path: &Path,
        space: Option<FaultSpace>,
        until: Option<Duration>,
    ) -> Result<FaultRunner> {
        let scenario = Scenario::load(path)?;
        let mut space = space.unwrap_or_else(|| scenario.explore.clone());
        let rt = crate::runtime(scenario.hosts.len())?;
        let prepared = Prepared::new(&rt, scenario)?;
        if space.calls.is_none() {
            let (calls, outputs) = observe(&rt, &prepared, until)?;
            space.calls = Some(calls);
            space.outputs = outputs;
        }
        Ok(FaultRunner {
            rt,
            prepared,
            strategy: plan_strategy(&space),
            space,
            until,
        })
    }

    /// The fault space plans are drawn from.
    pub fn space(&self) -> &FaultSpace {
        &self.space
    }

    pub fn scenario(&self) -> &Scenario {
        &self.prepared.scenario
    }

    /// Real time each run may take (`None`: no watchdog).
    pub fn set_watchdog(&mut self, watchdog: Option<Duration>) {
        self.prepared.scenario.watchdog = watchdog;
    }

    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// The plan a seed draws (a function of the seed and the fault space alone), and
    /// its shrinking tree.
    pub fn draw(&self, seed: u64) -> Box<dyn ValueTree<Value = Vec<PlanFault>>> {
        simnet::check::draw(&self.strategy, seed)
    }

    /// Run the scenario under `seed` with `plan`; `judge` says whether it passed.
    pub fn run<R>(
        &self,
        seed: u64,
        plan: &[PlanFault],
        judge: impl FnOnce(&RunOutput) -> R,
    ) -> Result<R> {
        let scenario = apply(&self.prepared.scenario, plan);
        let mut sim =
            self.prepared
                .build_scenario(&self.rt, &scenario, seed, self.until, TraceMode::Full)?;
        let report = sim.run();
        crate::run::machine_held(&report)?;
        Ok(judge(&RunOutput {
            seed,
            plan,
            scenario: &scenario,
            sim: &sim,
            report: &report,
        }))
    }

    /// Shrink a failing plan: remove and weaken faults while the run still fails.
    pub fn shrink(
        &self,
        seed: u64,
        tree: Box<dyn ValueTree<Value = Vec<PlanFault>>>,
        max_steps: u32,
        fails: &dyn Fn(&RunOutput) -> Option<String>,
    ) -> Result<(Vec<PlanFault>, String)> {
        let reason = self
            .run(seed, &tree.current(), fails)?
            .ok_or_else(|| anyhow!("the plan to shrink does not fail"))?;
        simnet::check::shrink(tree, reason, max_steps, |plan| self.run(seed, plan, fails))
    }

    /// Write the scenario with the seed and the plan into `dir` (by default a
    /// directory beside the scenario, `NAME.replays/`); the command that replays it.
    pub fn write_replay(
        &self,
        seed: u64,
        plan: &[PlanFault],
        dir: Option<&Path>,
    ) -> Result<(PathBuf, String)> {
        let path = &self.prepared.scenario.path;
        let original = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let stem = path
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        let default_dir = path.with_file_name(format!("{stem}.replays"));
        let dir = dir.unwrap_or(&default_dir);
        if dir.exists() && !dir.is_dir() {
            anyhow::bail!("cannot write into {}: not a directory", dir.display());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let file = dir.join(format!("{stem}.seed-{seed}.replay.toml"));
        // Components named relative to the scenario must still be found from here.
        let original = relocate_components(&original, path, dir);
        let body = format!(
            "{}\n# A shrunk fault plan found for seed {seed}.\n{}",
            with_seed(&original, seed),
            to_toml(plan)?
        );
        std::fs::write(&file, body).with_context(|| format!("cannot write {}", file.display()))?;
        let command = format!("simnet run {}", file.display());
        Ok((file, command))
    }
}

/// The scenario text with its top-level `seed` set to `seed`.
fn with_seed(text: &str, seed: u64) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut replaced = false;
    let mut in_table = false;
    for line in text.lines() {
        let t = line.trim_start();
        in_table |= t.starts_with('[');
        if !in_table && !replaced && t.starts_with("seed") && t[4..].trim_start().starts_with('=') {
            out.push_str(&format!("seed = {seed}\n"));
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if replaced {
        out
    } else {
        format!("seed = {seed}\n{out}")
    }
}

/// `component = "path"` lines made absolute when the replay lives elsewhere.
fn relocate_components(text: &str, scenario: &Path, dir: &Path) -> String {
    let base = scenario.parent().unwrap_or(Path::new("."));
    if base == dir {
        return text.to_string();
    }
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    text.lines()
        .map(|line| {
            let t = line.trim_start();
            let Some(rest) = t.strip_prefix("component") else {
                return line.to_string();
            };
            let Some(value) = rest.trim_start().strip_prefix('=') else {
                return line.to_string();
            };
            let value = value.trim();
            match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(p) if !p.starts_with("builtin:") && !Path::new(p).is_absolute() => {
                    format!("component = {:?}", base.join(p).display().to_string())
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run each seed of `config` with the fault plan it draws and check `property` on the
/// run; the first failure is shrunk and returned with a replay file and the commands
/// that rerun it.
pub fn check(
    scenario: &Path,
    config: &CheckConfig,
    property: impl Fn(&RunOutput) -> Result<(), String>,
) -> Result<Passed, Box<Failure>> {
    let runner = FaultRunner::new(scenario, config.space.clone(), None)
        .unwrap_or_else(|e| panic!("cannot prepare {}: {e:#}", scenario.display()));
    let fails = |out: &RunOutput| property(out).err();
    for &seed in &config.seeds {
        let tree = runner.draw(seed);
        let plan = tree.current();
        let failed = runner
            .run(seed, &plan, fails)
            .unwrap_or_else(|e| panic!("{e:#}"));
        if failed.is_none() {
            continue;
        }
        let (plan, reason) = runner
            .shrink(seed, tree, config.max_shrink_steps, &fails)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let (replay_file, command) = runner
            .write_replay(seed, &plan, config.replay_dir.as_deref())
            .unwrap_or_else(|e| panic!("{e:#}"));
        return Err(Box::new(Failure {
            seed,
            plan,
            reason,
            replay_file,
            command,
            test: std::thread::current()
                .name()
                .filter(|n| *n != "main")
                .map(str::to_string),
        }));
    }
    Ok(Passed {
        cases: config.seeds.len() as u32,
    })
}

#[cfg(test)]
mod replay_tests {
    use super::*;

    #[test]
    fn the_replay_sets_the_seed_at_the_top_level_only() {
        assert_eq!(
            with_seed("seed = 1\n[[host]]\nseed = 5\n", 9),
            "seed = 9\n[[host]]\nseed = 5\n"
        );
        assert_eq!(
            with_seed("# x\n[network]\n", 4),
            "seed = 4\n# x\n[network]\n"
        );
    }
}
