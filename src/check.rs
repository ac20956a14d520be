//! Property checks over random fault plans: each seed draws one plan from a
//! [`FaultSpace`] (a function of the seed alone, so `SIMNET_SEED=N` reproduces seed N),
//! the test's body runs the world with it, and a failing plan is shrunk to a minimal
//! one (fewer, weaker faults) that still fails, before the failure is reported.

use std::convert::Infallible;
use std::fmt::Display;
use std::ops::Range;
use std::panic::Location;

use proptest::strategy::{SBoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::plan::{PlanFault, plan_strategy};
use crate::seeds::{Seeds, failure_message, run_one};
use crate::space::FaultSpace;

/// Simplification steps a shrink may take by default.
pub const DEFAULT_SHRINK_STEPS: u32 = 200;

/// The plan `seed` draws from `strategy`, with its shrinking tree.
pub fn draw(
    strategy: &SBoxedStrategy<Vec<PlanFault>>,
    seed: u64,
) -> Box<dyn ValueTree<Value = Vec<PlanFault>>> {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    match strategy.new_tree(&mut runner) {
        Ok(tree) => Box::new(tree),
        // Plan strategies filter nothing; an empty plan is the safe answer anyway.
        Err(_) => Box::new(proptest::strategy::Just(Vec::new())),
    }
}

/// Shrink a failing plan: remove and weaken faults while `fails` still says why the
/// run fails, for at most `max_steps` runs. The smallest failing plan and its reason
/// (`first_reason` if nothing smaller fails). An `Err` from `fails` stops at once.
pub fn shrink<E>(
    mut tree: Box<dyn ValueTree<Value = Vec<PlanFault>>>,
    first_reason: String,
    max_steps: u32,
    mut fails: impl FnMut(&[PlanFault]) -> Result<Option<String>, E>,
) -> Result<(Vec<PlanFault>, String), E> {
    let mut best = tree.current();
    let mut reason = first_reason;
    if !tree.simplify() {
        return Ok((best, reason));
    }
    for _ in 0..max_steps {
        let candidate = tree.current();
        let more = match fails(&candidate)? {
            Some(why) => {
                best = candidate;
                reason = why;
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

/// Check a property over random fault plans: for each seed (`default`, unless
/// `SIMNET_SEED` or `SIMNET_SEEDS` says otherwise), draw a plan from `space` and run
/// `body(seed, plan)`, which builds the world with the plan (see
/// [`crate::Builder::faults`]), runs it, and says whether the property held. On the
/// first failure, the plan is shrunk and this panics with the seed, the minimal plan,
/// the reason, and the command that reruns the seed alone.
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
    match Seeds::from_env(default) {
        Ok(seeds) => seeds.check_plans(space, body),
        Err(e) => panic!("{e}"),
    }
}

impl Seeds {
    /// [`check_plans`] over exactly these seeds.
    #[track_caller]
    pub fn check_plans<E: Display>(
        &self,
        space: &FaultSpace,
        mut body: impl FnMut(u64, &[PlanFault]) -> Result<(), E>,
    ) {
        let location = Location::caller();
        self.assert_not_empty();
        let strategy = plan_strategy(space);
        for seed in self.iter() {
            let tree = draw(&strategy, seed);
            let drawn = tree.current();
            let Err(reason) = run_one(seed, &mut |seed| body(seed, &drawn)) else {
                continue;
            };
            let fails = |plan: &[PlanFault]| -> Result<Option<String>, Infallible> {
                Ok(run_one(seed, &mut |seed| body(seed, plan)).err())
            };
            let Ok((plan, reason)) = shrink(tree, reason, DEFAULT_SHRINK_STEPS, fails);
            let mut text = format!(
                "fault plan ({} fault(s) drawn, {} after shrinking):\n",
                drawn.len(),
                plan.len()
            );
            for fault in &plan {
                text.push_str(&format!("    {fault}\n"));
            }
            if plan.is_empty() {
                text.push_str("    (none: the run fails without faults)\n");
            }
            panic!("{}", failure_message(seed, &reason, Some(&text), location));
        }
    }
}
