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

    /// The path as a failure printed it: a version digit, then the steps, each `S`
    /// (the candidate failed: simplify on) or `C` (it passed: complicate), a step
    /// followed by a count standing for that many (`1CS3` is `1CSSS`).
    pub fn parse(text: &str) -> Result<ShrinkPath, String> {
        let bad = || format!("{PLAN_VAR}={text:?}: expected what a failure printed, like 1S3CS");
        let mut chars = text.chars().peekable();
        let mut steps = String::new();
        match chars.next() {
            Some(v @ ('0' | '1')) => steps.push(v),
            _ => return Err(bad()),
        }
        while let Some(step) = chars.next() {
            if step != 'S' && step != 'C' {
                return Err(bad());
            }
            let mut count = String::new();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                count.push(d);
            }
            let n: usize = match count.is_empty() {
                true => 1,
                false => count
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_STEPS).contains(n))
                    .ok_or_else(bad)?,
            };
            if steps.len() + n > MAX_STEPS + 1 {
                return Err(bad());
            }
            steps.extend(std::iter::repeat_n(step, n));
        }
        Ok(ShrinkPath::new(steps))
    }

    /// `steps` without the ones after the last `S`: they change nothing a replay
    /// keeps, so paths that differ only there are the same.
    fn new(mut steps: String) -> ShrinkPath {
        while steps.len() > 1 && steps.ends_with('C') {
            steps.pop();
        }
        ShrinkPath(steps)
    }
}

/// The most steps a path may hold (far more than any shrink takes).
const MAX_STEPS: usize = 100_000;

impl Display for ShrinkPath {
    /// Runs of one step written once with their count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (version, steps) = self.0.split_at(self.0.len().min(1));
        f.write_str(version)?;
        let mut chars = steps.chars().peekable();
        while let Some(step) = chars.next() {
            let mut n = 1;
            while chars.next_if_eq(&step).is_some() {
                n += 1;
            }
            match n {
                1 => write!(f, "{step}")?,
                _ => write!(f, "{step}{n}")?,
            }
        }
        Ok(())
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
        return Ok((best, reason, ShrinkPath::new(path)));
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
    Ok((best, reason, ShrinkPath::new(path)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_short_and_read_back() {
        let long = format!("1C{}CS{}CC", "S".repeat(21), "C".repeat(3));
        let path = ShrinkPath::parse(&long).unwrap();
        assert_eq!(path.to_string(), "1CS21CS");
        assert_eq!(ShrinkPath::parse(&path.to_string()).unwrap(), path);
        // What earlier failures printed still reads.
        assert_eq!(ShrinkPath::parse("1SCS").unwrap().to_string(), "1SCS");
        for bad in ["", "2S", "1X", "1S0", "1S999999999", "S1"] {
            assert!(ShrinkPath::parse(bad).is_err(), "{bad}");
        }
    }
}
