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
use crate::seeds::{Seeds, TestName, failure_message, run_one};
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

/// One failing seed of a plan check.
struct PlanFailure {
    seed: u64,
    reason: String,
    drawn: usize,
    /// The shrunk plan and its path (`None`: past the seeds that are shrunk).
    shrunk: Option<(Vec<PlanFault>, ShrinkPath)>,
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
        let strategy = plan_strategy(space);
        let replay = ShrinkPath::from_env().unwrap_or_else(|e| panic!("{e}"));
        let mut failures: Vec<PlanFailure> = Vec::new();
        let mut ran = 0u64;
        for seed in self.iter() {
            ran += 1;
            let tree = draw(&strategy, seed);
            let drawn = tree.current();
            if let Some(path) = &replay {
                let plan = replay_shrink(tree, path).unwrap_or_else(|e| panic!("{e}"));
                if let Err(reason) = run_one(seed, &mut |seed| body(seed, &plan)) {
                    failures.push(PlanFailure {
                        seed,
                        reason,
                        drawn: drawn.len(),
                        shrunk: Some((plan, path.clone())),
                    });
                }
                continue;
            }
            let first = || self.run_seed(|| run_one(seed, &mut |seed| body(seed, &drawn)));
            let Err(reason) = quietly(first) else {
                continue;
            };
            let mut failure = PlanFailure {
                seed,
                reason: reason.clone(),
                drawn: drawn.len(),
                shrunk: None,
            };
            if failures.len() < SHRUNK_SEEDS {
                let fails = |plan: &[PlanFault]| -> Result<Option<String>, Infallible> {
                    Ok(run_one(seed, &mut |seed| body(seed, plan)).err())
                };
                let Ok((plan, why, path)) = shrink(tree, reason, DEFAULT_SHRINK_STEPS, fails);
                failure.reason = why;
                failure.shrunk = Some((plan, path));
            }
            failures.push(failure);
        }
        if failures.is_empty() {
            return;
        }
        panic!("{}", plan_report(test, ran, &failures));
    }
}

/// The report of a plan check's failures: counted, grouped by shrunk plan and
/// reason, each group with the command that replays it.
fn plan_report(test: &TestName, ran: u64, failures: &[PlanFailure]) -> String {
    let mut text = format!("{} of {ran} seeds failed\n", failures.len());
    let mut groups: indexmap::IndexMap<(Vec<String>, &str), Vec<&PlanFailure>> =
        indexmap::IndexMap::new();
    for f in failures.iter().filter(|f| f.shrunk.is_some()) {
        let mut key: Vec<String> = f
            .shrunk
            .iter()
            .flat_map(|(plan, _)| plan.iter().map(|p| p.normalized().to_string()))
            .collect();
        key.sort();
        groups.entry((key, f.reason.as_str())).or_default().push(f);
    }
    for group in groups.values() {
        let first = group[0];
        let Some((plan, path)) = &first.shrunk else {
            continue;
        };
        let mut plan_text = format!(
            "fault plan ({} fault(s) drawn, {} after shrinking):\n",
            first.drawn,
            plan.len()
        );
        for fault in plan {
            plan_text.push_str(&format!("    {fault}\n"));
        }
        if plan.is_empty() {
            plan_text.push_str("    (none: the run fails without faults)\n");
        }
        if group.len() > 1 {
            let seeds: Vec<String> = group.iter().map(|f| f.seed.to_string()).collect();
            plan_text.push_str(&format!(
                "the same plan and reason at {} seeds: {}\n",
                group.len(),
                seeds.join(", ")
            ));
        }
        text.push_str(&failure_message(
            first.seed,
            &first.reason,
            Some(&plan_text),
            Some(path),
            test,
        ));
    }
    let unshrunk: Vec<String> = failures
        .iter()
        .filter(|f| f.shrunk.is_none())
        .map(|f| f.seed.to_string())
        .collect();
    if !unshrunk.is_empty() {
        text.push_str(&format!(
            "{} more failing seeds, not shrunk: {}\n",
            unshrunk.len(),
            unshrunk.join(", ")
        ));
    }
    text
}
