//! Property checks over random fault plans for tests that build their worlds
//! themselves: each seed draws one plan from a [`FaultSpace`] (a function of the seed
//! alone, so `SIMNET_SEED=N` reproduces seed N), the test's body runs the world with
//! it, and a failing plan is shrunk to a minimal one (fewer, weaker faults) that still
//! fails (`crate::shrink`). The shrink's decisions are printed with the failure:
//! `SIMNET_PLAN=...` replays them, running only the shrunk plan.

use std::convert::Infallible;
use std::fmt::Display;
use std::ops::Range;

use crate::plan::{PlanFault, plan_strategy};
use crate::rerun::TestName;
use crate::run::Failure;
use crate::seeds::{Seeds, run_one};
use crate::shrink::{ShrinkPath, draw, quietly, replay_shrink, shrink};
use crate::space::FaultSpace;

/// Simplification steps a shrink may take by default.
pub const DEFAULT_SHRINK_STEPS: u32 = 200;

/// Failing seeds of one check whose plans are shrunk; the rest are counted.
const SHRUNK_SEEDS: usize = 10;

/// Check a property over random fault plans: for each seed (`default`, unless
/// `SIMNET_SEED` or `SIMNET_SEEDS` says otherwise), draw a plan from `space` and run
/// `body(seed, plan)`, which builds the world with the plan (see
/// [`crate::Builder::faults`]), runs it, and says whether the property held. Every
/// seed runs; failing plans are shrunk, and this panics with each failure (grouped
/// by shrunk plan and reason), the count, and the command that replays each shrunk
/// plan alone (`SIMNET_SEED=N SIMNET_PLAN=...`).
///
/// ```no_run
/// use simnet::{Builder, FaultSpace};
///
/// let server = simnet::build_component("guests", "kv-server").unwrap();
/// let client = simnet::build_component("guests", "kv-client").unwrap();
/// let mut space = FaultSpace::for_hosts(vec!["server".into(), "client".into()]);
/// space.crash_hosts = vec!["server".into()];
/// simnet::check_plans(&space, 0..50, |seed, plan| {
///     let mut sim = Builder::new(seed)
///         .server("server", &server, |g| g)
///         .client("client", &client, |g| g.arg("server"))
///         .faults(plan)
///         .build()?;
///     let report = sim.run();
///     anyhow::ensure!(report.is_success(), "{:?}", report.failures());
///     Ok(())
/// });
/// ```
#[track_caller]
pub fn check_plans<E: Display>(
    space: &FaultSpace,
    default: Range<u64>,
    body: impl FnMut(u64, &[PlanFault]) -> Result<(), E>,
) {
    let test = TestName::caller();
    match Seeds::from_env(default) {
        Ok(seeds) => seeds.check_plans_as(&test, space, body),
        Err(e) => panic!("{e}"),
    }
}

impl Seeds {
    /// [`check_plans`] over exactly these seeds.
    #[track_caller]
    pub fn check_plans<E: Display>(
        &self,
        space: &FaultSpace,
        body: impl FnMut(u64, &[PlanFault]) -> Result<(), E>,
    ) {
        self.check_plans_as(&TestName::caller(), space, body)
    }

    /// [`check_plans`] over these seeds, for the test `test` (its rerun commands).
    pub fn check_plans_as<E: Display>(
        &self,
        test: &TestName,
        space: &FaultSpace,
        mut body: impl FnMut(u64, &[PlanFault]) -> Result<(), E>,
    ) {
        crate::verdict::as_test(test, || self.check_plans_in(test, space, &mut body))
    }

    fn check_plans_in<E: Display>(
        &self,
        test: &TestName,
        space: &FaultSpace,
        body: &mut impl FnMut(u64, &[PlanFault]) -> Result<(), E>,
    ) {
        self.assert_not_empty();
        let replay = ShrinkPath::from_env().unwrap_or_else(|e| panic!("{e}"));
        if replay.is_some() && self.iter().count() != 1 {
            panic!(
                "{} replays the shrunk plan of one seed: set {} to that seed too (the \
                 failure's rerun command does)",
                crate::shrink::PLAN_VAR,
                crate::seeds::SEED_VAR
            );
        }
        let strategy = plan_strategy(&fitted(space, body));
        let start = std::time::Instant::now();
        let mut failures: Vec<Failure> = Vec::new();
        let mut shrunk = 0;
        let mut ran = 0u64;
        for seed in self.iter() {
            ran += 1;
            let tree = draw(&strategy, seed);
            let drawn = tree.current();
            crate::verdict::take_artifacts();
            if let Some(path) = &replay {
                let plan = replay_shrink(tree, path).unwrap_or_else(|e| panic!("{e}"));
                if let Err(reason) = self.run_seed(|| run_one(seed, &mut |seed| body(seed, &plan)))
                {
                    failures.push(Failure {
                        seed,
                        reason,
                        plan,
                        drawn: drawn.len(),
                        shrink_path: Some(path.clone()),
                        replayed: true,
                        replay: None,
                        artifacts: crate::verdict::take_artifacts(),
                    });
                }
                continue;
            }
            let first = || self.run_seed(|| run_one(seed, &mut |seed| body(seed, &drawn)));
            let Err(reason) = quietly(first) else {
                continue;
            };
            let mut failure = Failure {
                seed,
                reason: reason.clone(),
                plan: drawn.clone(),
                drawn: drawn.len(),
                shrink_path: None,
                replayed: false,
                replay: None,
                artifacts: None,
            };
            // A difference between two runs shows only when each plan runs twice.
            if shrunk < SHRUNK_SEEDS && !reason.starts_with("not deterministic") {
                shrunk += 1;
                let fails = |plan: &[PlanFault]| -> Result<Option<String>, Infallible> {
                    Ok(run_one(seed, &mut |seed| body(seed, plan)).err())
                };
                let Ok((plan, why, path)) = shrink(tree, reason, DEFAULT_SHRINK_STEPS, fails);
                failure.reason = why;
                failure.plan = plan;
                failure.shrink_path = Some(path);
            }
            // The artifacts of the plan reported: run it once more if it was shrunk
            // (the last failing candidate may have failed another way).
            if failure.shrink_path.is_some() {
                crate::verdict::take_artifacts();
                let plan = failure.plan.clone();
                let _ = quietly(|| run_one(seed, &mut |seed| body(seed, &plan)));
            }
            failure.artifacts = crate::verdict::take_artifacts();
            failures.push(failure);
        }
        if failures.is_empty() {
            return;
        }
        panic!("{}", crate::seeds::report(test, ran, failures, start));
    }
}

/// The space with its horizon fitted to the test's runs, unless the space fixes it:
/// faults start within the length of seed 0's run without faults (as the runs
/// judged with [`crate::ensure_success`] tell it), so that short runs do not draw
/// faults that come after their end. Seed 0, whatever the seeds, so that a rerun of
/// one seed draws the plan it drew.
fn fitted<E: Display>(
    space: &FaultSpace,
    body: &mut impl FnMut(u64, &[PlanFault]) -> Result<(), E>,
) -> FaultSpace {
    let mut space = space.clone();
    if !space.fit_horizon {
        return space;
    }
    let length = quietly(|| {
        crate::verdict::judged_length(|| {
            let _ = run_one(0, &mut |seed| body(seed, &[]));
        })
    });
    if let Some(length) = length {
        space.horizon = length.max(std::time::Duration::from_millis(1));
    }
    space
}
