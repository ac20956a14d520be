//! The property runner: a scenario across seeds and random fault plans, a property
//! over each run, and on failure the smallest plan that still fails (proptest's
//! shrinking), written next to the scenario as a file `simnet run` replays.
//!
//! ```no_run
//! use simnet_cli::check::{CheckConfig, check};
//!
//! let config = CheckConfig::from_env(0..20, 32);
//! check("examples/echo-under-loss.toml".as_ref(), &config, |run| {
//!     run.expectations_met().then_some(()).ok_or_else(|| "a host failed".to_string())
//! })
//! .unwrap_or_else(|failure| panic!("{failure}"));
//! ```
//!
//! `SIMNET_SEED=N` runs only seed N; `SIMNET_SEEDS=A..B` (or a count `N`: `0..N`)
//! chooses the seeds; both without code changes.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use simnet_core::TraceMode;
use simnet_wasi::{Report, Runtime, Sim};

use crate::plan::{FaultSpace, PlanFault, apply, plan_strategy, to_toml};
use crate::scenario::{Prepared, Scenario};

/// What to explore.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    pub seeds: Vec<u64>,
    /// Fault plans tried in all (cycling through the seeds).
    pub cases: u32,
    /// The faults plans draw from; `None`: the scenario's hosts, network and API faults.
    pub space: Option<FaultSpace>,
    /// Simplification steps allowed when shrinking.
    pub max_shrink_steps: u32,
}

impl CheckConfig {
    /// `cases` plans over `seeds`, unless `SIMNET_SEED` / `SIMNET_SEEDS` say otherwise.
    pub fn from_env(seeds: Range<u64>, cases: u32) -> CheckConfig {
        let seeds = match (std::env::var("SIMNET_SEED"), std::env::var("SIMNET_SEEDS")) {
            (Ok(s), _) => vec![s.trim().parse().expect("SIMNET_SEED must be a number")],
            (_, Ok(s)) => parse_seeds(&s).expect("SIMNET_SEEDS must be A..B, A..=B or a count"),
            _ => seeds.collect(),
        };
        CheckConfig {
            seeds,
            cases,
            space: None,
            max_shrink_steps: 300,
        }
    }
}

fn parse_seeds(s: &str) -> Result<Vec<u64>, String> {
    if let Ok(n) = s.trim().parse::<u64>() {
        return Ok((0..n).collect());
    }
    crate::explore::parse_seeds(s).map(|r| r.collect())
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

    /// The first unmet expectation, as a sentence.
    pub fn unmet(&self) -> Option<String> {
        self.scenario.first_unmet(self.report)
    }
}

/// A failing case, shrunk.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub plan: Vec<PlanFault>,
    pub reason: String,
    /// The scenario with the plan's faults appended.
    pub replay_file: PathBuf,
    pub command: String,
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
        write!(f, "replay: {}", self.command)
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
    until: Option<Duration>,
}

impl FaultRunner {
    pub fn new(
        path: &Path,
        space: Option<FaultSpace>,
        until: Option<Duration>,
    ) -> Result<FaultRunner> {
        let scenario = Scenario::load(path)?;
        let space = space.unwrap_or_else(|| FaultSpace::for_scenario(&scenario));
        let rt = crate::runtime()?;
        let prepared = Prepared::new(&rt, scenario)?;
        Ok(FaultRunner {
            rt,
            prepared,
            strategy: plan_strategy(&space),
            until,
        })
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

    /// The plan a seed draws, and its shrinking tree.
    pub fn draw(&self, seed: u64, case: u32) -> Box<dyn ValueTree<Value = Vec<PlanFault>>> {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..12].copy_from_slice(&case.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        Box::new(
            self.strategy
                .new_tree(&mut runner)
                .expect("fault plan strategies do not reject"),
        )
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
        mut tree: Box<dyn ValueTree<Value = Vec<PlanFault>>>,
        max_steps: u32,
        fails: &dyn Fn(&RunOutput) -> Option<String>,
    ) -> Result<(Vec<PlanFault>, String)> {
        let mut best = tree.current();
        let mut reason = self
            .run(seed, &best, fails)?
            .ok_or_else(|| anyhow!("the plan to shrink does not fail"))?;
        for _ in 0..max_steps {
            let candidate = tree.current();
            let outcome = if candidate == best {
                Some(reason.clone())
            } else {
                self.run(seed, &candidate, fails)?
            };
            let more = match outcome {
                Some(r) => {
                    best = candidate;
                    reason = r;
                    tree.simplify()
                }
                None => tree.complicate(),
            };
            if !more {
                break;
            }
        }
        Ok((best, reason))
    }

    /// Write the scenario with the plan appended next to the original; the command
    /// that replays it.
    pub fn write_replay(&self, seed: u64, plan: &[PlanFault]) -> Result<(PathBuf, String)> {
        let path = &self.prepared.scenario.path;
        let original = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let stem = path
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        let file = path.with_file_name(format!("{stem}.seed-{seed}.replay.toml"));
        let body = format!(
            "{original}\n# A shrunk fault plan found for seed {seed}.\n{}",
            to_toml(plan)
        );
        std::fs::write(&file, body).with_context(|| format!("cannot write {}", file.display()))?;
        let command = format!("simnet run {} --seed {seed}", file.display());
        Ok((file, command))
    }
}

/// Run `config.cases` random fault plans over the seeds and check `property` on each;
/// the first failure is shrunk and returned with a replay file and command.
pub fn check(
    scenario: &Path,
    config: &CheckConfig,
    property: impl Fn(&RunOutput) -> Result<(), String>,
) -> Result<Passed, Box<Failure>> {
    let runner = FaultRunner::new(scenario, config.space.clone(), None)
        .unwrap_or_else(|e| panic!("cannot prepare {}: {e:#}", scenario.display()));
    let fails = |out: &RunOutput| property(out).err();
    for case in 0..config.cases {
        let seed = config.seeds[case as usize % config.seeds.len().max(1)];
        let tree = runner.draw(seed, case);
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
            .write_replay(seed, &plan)
            .unwrap_or_else(|e| panic!("{e:#}"));
        return Err(Box::new(Failure {
            seed,
            plan,
            reason,
            replay_file,
            command,
        }));
    }
    Ok(Passed {
        cases: config.cases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_selections() {
        assert_eq!(parse_seeds("3").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_seeds("5..8").unwrap(), vec![5, 6, 7]);
        assert_eq!(parse_seeds("5..=6").unwrap(), vec![5, 6]);
        assert!(parse_seeds("x").is_err());
    }
}
