//! Shrinking a failing fault plan to a minimal one, and replaying a shrink: each seed
//! draws its plan from the fault space alone (so a seed always draws the same plan),
//! the shrink records its decisions, and the decisions lead back to the shrunk plan
//! without running anything (`SIMNET_PLAN`).

use std::cell::Cell;
use std::fmt::{self, Display};

use proptest::strategy::{SBoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::plan::PlanFault;

/// The variable that replays a shrunk plan: the shrink's decisions, printed with a
/// failure (`SIMNET_PLAN=1SSC...`), for the seed `SIMNET_SEED` names.
pub const PLAN_VAR: &str = "SIMNET_PLAN";

/// The decisions a shrink took, enough to reach its result again without running
/// anything: whether the first simplification applied, then for each candidate `S`
/// (it failed: kept, then simplified) or `C` (it passed: complicated back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShrinkPath(String);

impl ShrinkPath {
    /// The path `SIMNET_PLAN` holds, if set.
    pub fn from_env() -> Result<Option<ShrinkPath>, String> {
        match std::env::var(PLAN_VAR) {
            Ok(v) if !v.trim().is_empty() => ShrinkPath::parse(v.trim()).map(Some),
            _ => Ok(None),
        }
    }

    pub fn parse(text: &str) -> Result<ShrinkPath, String> {
        let ok = text.starts_with(['0', '1']) && text[1..].chars().all(|c| c == 'S' || c == 'C');
        match ok {
            true => Ok(ShrinkPath(text.to_string())),
            false => Err(format!(
                "{PLAN_VAR}={text:?}: expected what a failure printed, like 1SSCS"
            )),
        }
    }
}

impl Display for ShrinkPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
/// run fails, for at most `max_steps` runs. The smallest failing plan, its reason
/// (`first_reason` if nothing smaller fails), and the path to replay it. An `Err`
/// from `fails` stops at once. Panics of the runs are kept quiet: they are failures
/// being explored, reported once at the end.
pub fn shrink<E>(
    mut tree: Box<dyn ValueTree<Value = Vec<PlanFault>>>,
    first_reason: String,
    max_steps: u32,
    mut fails: impl FnMut(&[PlanFault]) -> Result<Option<String>, E>,
) -> Result<(Vec<PlanFault>, String, ShrinkPath), E> {
    let mut best = tree.current();
    let mut reason = first_reason;
    let simplified = tree.simplify();
    let mut path = String::from(if simplified { "1" } else { "0" });
    if !simplified {
        return Ok((best, reason, ShrinkPath(path)));
    }
    for _ in 0..max_steps {
        let candidate = tree.current();
        let more = match quietly(|| fails(&candidate))? {
            Some(why) => {
                best = candidate;
                reason = why;
                path.push('S');
                tree.simplify()
            }
            None => {
                path.push('C');
                tree.complicate()
            }
        };
        if !more {
            break;
        }
    }
    Ok((best, reason, ShrinkPath(path)))
}

/// The plan a shrink that took `path` ended with, from the tree it started from.
pub fn replay_shrink(
    mut tree: Box<dyn ValueTree<Value = Vec<PlanFault>>>,
    path: &ShrinkPath,
) -> Result<Vec<PlanFault>, String> {
    let mut best = tree.current();
    let mut steps = path.0.chars();
    if steps.next() != Some('1') || !tree.simplify() {
        return Ok(best);
    }
    for step in steps {
        let candidate = tree.current();
        let more = match step {
            'S' => {
                best = candidate;
                tree.simplify()
            }
            _ => tree.complicate(),
        };
        if !more {
            break;
        }
    }
    Ok(best)
}

thread_local! {
    /// Panics on this thread are expected and reported later: print nothing.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with this thread's panics kept quiet (other threads' are printed as
/// ever).
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = f();
    QUIET.with(|q| q.set(was));
    result
}
