//! Seeds for `#[test]`s: which seeds a test runs (its own default, or what
//! `SIMNET_SEED` / `SIMNET_SEEDS` say), and on a failure, the seed, the reason and the
//! command that reruns that seed alone.

use std::fmt::Display;
use std::ops::{Range, RangeInclusive};
use std::panic::AssertUnwindSafe;

use crate::rerun::{TestName, rerun_command};
use crate::run::{Failure, Summary};

pub use crate::rerun::SEED_VAR;
/// Seeds to run, overriding every test's default: `A..B`, `A..=B`, or a count `N`
/// (seeds `0..N`).
pub const SEEDS_VAR: &str = "SIMNET_SEEDS";

/// The seeds a test runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds {
    /// Inclusive, so that the last seed, `u64::MAX`, can be run too.
    seeds: RangeInclusive<u64>,
    /// Run each seed twice and fail it if the runs differ (see [`crate::verdict`]).
    check_determinism: bool,
}

/// `A..B` or `A..=B`, not empty, as the seeds it holds (`A..=B` may end at
/// `u64::MAX`).
pub fn parse_range(s: &str) -> Result<RangeInclusive<u64>, String> {
    let bad = || format!("expected a seed range like 0..100 or 0..=99, got {s:?}");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let last = match b.strip_prefix('=') {
        Some(b) => b.trim().parse::<u64>().map_err(|_| bad())?,
        None => {
            let end: u64 = b.trim().parse().map_err(|_| bad())?;
            end.checked_sub(1)
                .filter(|&last| last >= start)
                .ok_or_else(|| format!("the seed range {s:?} is empty"))?
        }
    };
    if last < start {
        return Err(format!("the seed range {s:?} is empty"));
    }
    Ok(start..=last)
}

/// The seeds of `a..b` as an inclusive range (empty when `b <= a`).
fn inclusive(range: Range<u64>) -> RangeInclusive<u64> {
    match range.end.checked_sub(1) {
        Some(last) if last >= range.start => range.start..=last,
        // No seed: an inclusive range that holds nothing.
        _ => RangeInclusive::new(1, 0),
    }
}

impl Seeds {
    /// `seeds`, checked for determinism if `SIMNET_CHECK_DETERMINISM` says so.
    fn new(seeds: RangeInclusive<u64>) -> Seeds {
        Seeds {
            seeds,
            check_determinism: crate::verdict::determinism_from_env(),
        }
    }

    /// Run each seed twice and fail it where the runs its body judged with
    /// [`crate::ensure_success`] differ (their traces and output), or where its two
    /// verdicts do; the first difference is named.
    pub fn check_determinism(mut self, check: bool) -> Seeds {
        self.check_determinism = check;
        self
    }

    /// Run one seed's `run`, twice if determinism is checked.
    pub(crate) fn run_seed(
        &self,
        mut run: impl FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        match self.check_determinism {
            true => crate::verdict::twice(run),
            false => run(),
        }
    }

    /// `default`, unless `SIMNET_SEED` or `SIMNET_SEEDS` is set (see [`SEEDS_VAR`]).
    pub fn from_env(default: Range<u64>) -> Result<Seeds, String> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(one) = var(SEED_VAR) {
            let seed: u64 = one
                .trim()
                .parse()
                .map_err(|_| format!("{SEED_VAR} must be a seed (a number), got {one:?}"))?;
            return Ok(Seeds::new(seed..=seed));
        }
        if let Some(many) = var(SEEDS_VAR) {
            let seeds = match many.trim().parse::<u64>() {
                Ok(0) => return Err(format!("{SEEDS_VAR}=0 runs no seed")),
                Ok(n) => 0..=n - 1,
                Err(_) => parse_range(&many).map_err(|e| format!("{SEEDS_VAR}: {e}"))?,
            };
            return Ok(Seeds::new(seeds));
        }
        Ok(Seeds::new(inclusive(default)))
    }

    /// These seeds; only `SIMNET_SEED` (the rerun of one seed a failure prints)
    /// overrides them.
    pub fn range(seeds: Range<u64>) -> Seeds {
        let one = std::env::var(SEED_VAR).ok();
        Seeds::range_or_one(seeds, one.as_deref())
    }

    /// `seeds`, or the one seed `one` names (`SIMNET_SEED`'s value).
    fn range_or_one(seeds: Range<u64>, one: Option<&str>) -> Seeds {
        match one.and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(seed) => Seeds::new(seed..=seed),
            None => Seeds::new(inclusive(seeds)),
        }
    }

    /// The seeds, in order.
    pub fn iter(&self) -> RangeInclusive<u64> {
        self.seeds.clone()
    }

    /// A test that runs no seed tests nothing: say so rather than pass.
    #[track_caller]
    pub(crate) fn assert_not_empty(&self) {
        assert!(
            !self.seeds.is_empty(),
            "no seed to run: the seed range is empty"
        );
    }

    /// Run `body` once per seed, in order. If any fails (returns `Err` or panics),
    /// this then panics with every failing seed (those failing for the same reason
    /// together), the count, and the command that reruns a seed alone.
    #[track_caller]
    pub fn run<E: Display>(&self, body: impl FnMut(u64) -> Result<(), E>) {
        self.run_as(&TestName::caller(), body)
    }

    /// [`Seeds::run`] for the test `test` (its rerun commands).
    pub fn run_as<E: Display>(&self, test: &TestName, mut body: impl FnMut(u64) -> Result<(), E>) {
        self.assert_not_empty();
        let start = std::time::Instant::now();
        let mut failures = Vec::new();
        let mut ran = 0u64;
        crate::verdict::as_test(test, || {
            for seed in self.iter() {
                ran += 1;
                crate::verdict::take_artifacts();
                if let Err(reason) = self.run_seed(|| run_one(seed, &mut body)) {
                    failures.push(Failure {
                        seed,
                        reason,
                        plan: Vec::new(),
                        drawn: 0,
                        shrink_path: None,
                        replayed: false,
                        replay: None,
                        artifacts: crate::verdict::take_artifacts(),
                    });
                }
            }
        });
        if !failures.is_empty() {
            panic!("{}", report(test, ran, failures, start));
        }
    }
}

/// The report of a test's failing seeds (the same as the explorer's), each
/// failure also left with its artifacts as `failure.txt`.
pub(crate) fn report(
    test: &TestName,
    ran: u64,
    failures: Vec<Failure>,
    start: std::time::Instant,
) -> String {
    let rerun = |f: &Failure| rerun_in_test(f, test);
    for f in &failures {
        if let Some(dir) = &f.artifacts {
            let text = crate::run::render_failure(f, &[f.seed], &rerun);
            crate::verdict::leave_failure_note(dir, &text);
        }
    }
    let summary = Summary {
        shard_text: String::new(),
        seeds: ran,
        passed: ran - failures.len() as u64,
        failed: failures.len() as u64,
        failures,
        errors: Vec::new(),
        errors_total: 0,
        virtual_time: simnet_core::SimTime::ZERO,
        wall: start.elapsed(),
    };
    summary.render(&rerun)
}

/// The command that reruns failure `f` of `test` alone, checking determinism again
/// if that is what failed.
fn rerun_in_test(f: &Failure, test: &TestName) -> String {
    let check = match f.reason.starts_with("not deterministic") {
        true => format!("{}=1 ", crate::verdict::CHECK_DETERMINISM_VAR),
        false => String::new(),
    };
    format!(
        "{check}{}",
        rerun_command(f.seed, f.shrink_path.as_ref(), test)
    )
}

/// Run `body` over the test's seeds: `default`, unless `SIMNET_SEED` or
/// `SIMNET_SEEDS` is set. A failure panics with the seed, the reason, and the command
/// that reruns that seed alone.
///
/// ```no_run
/// simnet::check_seeds(0..20, |seed| {
///     let mut sim = simnet::Builder::new(seed).build()?;
///     let report = sim.run();
///     anyhow::ensure!(report.is_success(), "{:?}", report.failures());
///     Ok(())
/// });
/// ```
#[track_caller]
pub fn check_seeds<E: Display>(default: Range<u64>, body: impl FnMut(u64) -> Result<(), E>) {
    let test = TestName::caller();
    match Seeds::from_env(default) {
        Ok(seeds) => seeds.run_as(&test, body),
        Err(e) => panic!("{e}"),
    }
}

/// What a test function returns: nothing (it fails by panicking) or a `Result`
/// whose error says why it failed.
pub trait TestResult {
    fn into_result(self) -> Result<(), String>;
}

impl TestResult for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> TestResult for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:#}"))
    }
}

/// Run `body` for `seed`, turning a panic into a failure with the panic's message.
pub(crate) fn run_one<T, E: Display>(
    seed: u64,
    body: &mut impl FnMut(u64) -> Result<T, E>,
) -> Result<T, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| body(seed))) {
        Ok(Ok(v)) => Ok(v),
        // The alternate form keeps an error's causes (anyhow's `{:#}`).
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(panic) => Err(panic_text(panic.as_ref())),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => format!("panicked: {s}"),
        (_, Some(s)) => format!("panicked: {s}"),
        _ => "panicked".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_bad_ones_say_why() {
        assert_eq!(parse_range("3..7"), Ok(3..=6));
        assert_eq!(parse_range("3..=7"), Ok(3..=7));
        assert!(parse_range("7..3").unwrap_err().contains("empty"));
        assert!(parse_range("7..7").unwrap_err().contains("empty"));
        assert!(parse_range("0..0").unwrap_err().contains("empty"));
        assert!(parse_range("x").unwrap_err().contains("0..100"));
        // The last seed can be run, alone or at the end of a range.
        let max = u64::MAX;
        assert_eq!(parse_range(&format!("{max}..={max}")), Ok(max..=max));
        assert_eq!(parse_range(&format!("0..={max}")), Ok(0..=max));
    }

    #[test]
    fn a_range_gives_way_to_the_one_seed_a_rerun_names() {
        assert_eq!(Seeds::range_or_one(0..10, Some("7")).iter(), 7..=7);
        assert_eq!(Seeds::range_or_one(0..10, None).iter(), 0..=9);
        assert_eq!(Seeds::range_or_one(0..10, Some("x")).iter(), 0..=9);
    }

    #[test]
    fn an_empty_seed_range_is_refused_not_passed() {
        let failure = std::panic::catch_unwind(|| Seeds::range(3..3).run(|_| Ok::<(), String>(())))
            .expect_err("no seed is a failure");
        assert!(panic_text(failure.as_ref()).contains("no seed to run"));
    }

    #[test]
    fn a_failing_seed_is_reported_with_its_rerun_command() {
        let failure = std::panic::catch_unwind(|| {
            Seeds::range(0..10).run(|seed| match seed {
                4 => Err(format!("bad luck at {seed}")),
                _ => Ok(()),
            })
        })
        .expect_err("seed 4 fails");
        let text = panic_text(failure.as_ref());
        assert!(text.contains("10 seeds: 9 passed, 1 failed"), "{text}");
        assert!(text.contains("seed 4 failed: bad luck at 4"), "{text}");
        assert!(text.contains("SIMNET_SEED=4 cargo test"), "{text}");
        assert!(text.contains("--lib"), "{text}");
    }

    #[test]
    fn a_panicking_body_is_a_failure_of_its_seed() {
        let mut seen = Vec::new();
        let result = run_one(3, &mut |seed| -> Result<(), String> {
            seen.push(seed);
            panic!("boom {seed}")
        });
        assert_eq!(result, Err("panicked: boom 3".to_string()));
        assert_eq!(seen, [3]);
    }
}
