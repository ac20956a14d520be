//! `simnet explore SCENARIO.toml --seeds A..B`: the scenario under many seeds, in
//! parallel threads (each simulation single-threaded), with the command that replays
//! each failing seed.

use std::ops::RangeInclusive;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use simnet_core::SimTime;

use crate::ExploreArgs;
use crate::check::{FaultRunner, RunOutput};
use crate::run::run_once;
use crate::units::secs;

pub use simnet::seeds::parse_range as parse_seeds;

pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected K/N with 1 <= K <= N, like 2/8, got {s:?}");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The seeds of `range` that shard `k` of `n` runs: every n-th, starting at the
/// (k-1)-th. Shards are disjoint and together cover the range. Seeds are computed
/// when asked for, so a range of any size costs no memory.
#[derive(Clone, Copy, Debug)]
pub struct Seeds {
    start: u64,
    last: u64,
    first: u64,
    step: u64,
}

impl Seeds {
    pub fn new(range: RangeInclusive<u64>, shard: Option<(u64, u64)>) -> Seeds {
        let (k, n) = shard.unwrap_or((1, 1));
        Seeds {
            start: *range.start(),
            last: *range.end(),
            first: k - 1,
            step: n,
        }
    }

    /// How many seeds the shard holds (`u64::MAX` stands for the one more that
    /// `0..=u64::MAX` holds).
    pub fn len(&self) -> u64 {
        if self.start > self.last {
            return 0;
        }
        let span = u128::from(self.last - self.start) + 1;
        let count = span
            .saturating_sub(u128::from(self.first))
            .div_ceil(u128::from(self.step));
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th seed of the shard.
    pub fn get(&self, i: u64) -> Option<u64> {
        let offset = u128::from(self.first) + u128::from(i) * u128::from(self.step);
        let seed = u128::from(self.start) + offset;
        (i < self.len() && seed <= u128::from(self.last)).then_some(seed as u64)
    }
}

/// Failures (and errors) kept for the report: the ones with the smallest seeds, so
/// the report is the same however the threads interleave; the rest are counted.
const KEPT_FAILURES: usize = 100;

struct Kept<T> {
    by_seed: std::collections::BTreeMap<u64, T>,
    total: u64,
}

impl<T> Kept<T> {
    fn new() -> Self {
        Kept {
            by_seed: std::collections::BTreeMap::new(),
            total: 0,
        }
    }

    fn add(&mut self, seed: u64, item: T) {
        self.total += 1;
        self.by_seed.insert(seed, item);
        if self.by_seed.len() > KEPT_FAILURES {
            self.by_seed.pop_last();
        }
    }

    fn more(&self) -> u64 {
        self.total - self.by_seed.len() as u64
    }
}

struct SeedResult {
    seed: u64,
    passed: bool,
    end: SimTime,
    why: String,
    /// The command that replays a failure, when it is not a plain `simnet run --seed`.
    replay: Option<String>,
    /// The (shrunk) fault plan of a failure under random faults, in words: failures
    /// with the same plan are reported together.
    plan: Option<String>,
}

fn check_seed(runner: &FaultRunner, seed: u64, args: &ExploreArgs) -> Result<SeedResult> {
    let (rt, prepared) = (runner.runtime(), runner.prepared());
    let until = args.until.map(|d| d.0);
    let first = run_once(rt, prepared, seed, until, None)?;
    let mut why = prepared
        .scenario
        .first_unmet(&first.report)
        .unwrap_or_default();
    let mut passed = first.passed;
    if args.check_determinism {
        let second = run_once(rt, prepared, seed, until, None)?;
        if let Some(diff) = first_difference(&first.sim, &second.sim) {
            passed = false;
            why = format!("not deterministic: {diff}");
        }
    }
    Ok(SeedResult {
        seed,
        passed,
        end: first.report.end,
        why,
        replay: None,
        plan: None,
    })
}

/// A seed under a random fault plan (shrunk if asked and it fails).
fn check_seed_with_faults(
    runner: &FaultRunner,
    seed: u64,
    args: &ExploreArgs,
) -> Result<SeedResult> {
    let tree = runner.draw(seed);
    let plan = tree.current();
    let (end, unmet) = runner.run(seed, &plan, |out: &RunOutput| (out.report.end, out.unmet()))?;
    let Some(mut why) = unmet else {
        return Ok(SeedResult {
            seed,
            passed: true,
            end,
            why: String::new(),
            replay: None,
            plan: None,
        });
    };
    let plan = if args.shrink {
        let (plan, reason) = runner.shrink(seed, tree, 300, &|out: &RunOutput| out.unmet())?;
        why = reason;
        plan
    } else {
        plan
    };
    // A replay file that cannot be written loses nothing else: the failure, its plan
    // and the write error are all reported.
    let replay = match runner.write_replay(seed, &plan, args.out_dir.as_deref()) {
        Ok((_, command)) => command,
        Err(e) => format!("none: the replay file was not written: {e:#}"),
    };
    let faults: Vec<String> = plan.iter().map(|f| format!("\n    - {f}")).collect();
    Ok(SeedResult {
        seed,
        passed: false,
        end,
        why,
        replay: Some(replay),
        plan: Some(format!(
            "fault plan ({} faults):{}",
            plan.len(),
            faults.concat()
        )),
    })
}

fn first_difference(a: &simnet_wasi::Sim, b: &simnet_wasi::Sim) -> Option<String> {
    a.with_net(|na| {
        b.with_net(|nb| {
            let (ra, rb) = (na.trace().records(), nb.trace().records());
            match ra.iter().zip(rb).position(|(x, y)| x != y) {
                Some(i) => Some(format!("event {i} differs: {:?} vs {:?}", ra[i], rb[i])),
                None if ra.len() != rb.len() => Some(format!(
                    "one trace has {} events, the other {}",
                    ra.len(),
                    rb.len()
                )),
                None => None,
            }
        })
    })
}

/// The scenario's fault space with the command line's changes, if any.
fn fault_space(args: &ExploreArgs) -> Result<Option<crate::space::FaultSpace>> {
    let changed = args.families.is_some()
        || args.crash_hosts.is_some()
        || args.no_restart
        || args.max_faults.is_some()
        || args.horizon.is_some()
        || args.swarm.is_some();
    if !changed {
        return Ok(None);
    }
    let scenario = crate::scenario::Scenario::load(&args.scenario)?;
    let mut space = scenario.explore.clone();
    if let Some(families) = &args.families {
        space
            .set_families(families.split(','))
            .map_err(|why| anyhow::anyhow!("--families: {why}"))?;
    }
    if let Some(hosts) = &args.crash_hosts {
        space
            .set_crash_hosts(hosts.split(','))
            .map_err(|why| anyhow::anyhow!("--crash-hosts: {why}"))?;
    }
    if args.no_restart {
        space.restart_crashes = false;
    }
    if let Some(n) = args.max_faults {
        space
            .set_max_faults(n)
            .map_err(|why| anyhow::anyhow!("--max-faults: {why}"))?;
    }
    if let Some(h) = args.horizon {
        space.horizon = h.0;
    }
    if let Some(sw) = &args.swarm {
        space.swarm = sw == "on";
    }
    Ok(Some(space))
}

/// What the seeds run so far came to.
struct Tally {
    passed: u64,
    virtual_ns: u128,
    failures: Kept<SeedResult>,
    errors: Kept<String>,
}

/// At most as many parallel worlds of `hosts` guests as fit in one process under
/// the memory layout those worlds get, with a note when `jobs` is lowered.
fn fitting_jobs(jobs: usize, hosts: usize) -> usize {
    let layout = simnet_wasi::MemoryLayout::for_guests(hosts);
    let fit = (layout.guests_per_process() / hosts.max(1)).max(1);
    if jobs > fit {
        eprintln!(
            "note: running {fit} world(s) at once instead of {jobs}: {jobs} worlds of \
             {hosts} guests would not fit in one process's memory mappings"
        );
    }
    jobs.min(fit)
}

pub fn run(args: &ExploreArgs) -> Result<ExitCode> {
    let seeds = Seeds::new(args.seeds.clone(), args.shard);
    if seeds.is_empty() {
        let (k, n) = args.shard.unwrap_or((1, 1));
        anyhow::bail!(
            "shard {k}/{n} of the seed range {}..={} holds no seed",
            args.seeds.start(),
            args.seeds.end()
        );
    }
    if args.jobs == Some(0) {
        anyhow::bail!("--jobs 0: at least one job must run");
    }
    if let Some(dir) = &args.out_dir
        && dir.exists()
        && !dir.is_dir()
    {
        anyhow::bail!("--out-dir {}: not a directory", dir.display());
    }
    // One runtime and one compilation of the components, with or without faults.
    let space = fault_space(args)?;
    let mut runner = FaultRunner::new(&args.scenario, space, args.until.map(|d| d.0))?;
    runner.set_watchdog(args.watchdog.0);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, usize::try_from(seeds.len()).unwrap_or(usize::MAX));
    let jobs = fitting_jobs(jobs, runner.prepared().scenario.hosts.len());
    let bar = ProgressBar::new(seeds.len());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let next = AtomicU64::new(0);
    let tally = Mutex::new(Tally {
        passed: 0,
        virtual_ns: 0,
        failures: Kept::new(),
        errors: Kept::new(),
    });
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while let Some(seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = if args.faults == "random" {
                        check_seed_with_faults(&runner, seed, args)
                    } else {
                        check_seed(&runner, seed, args)
                    };
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    match result {
                        Ok(r) => {
                            t.virtual_ns += u128::from(r.end.as_nanos());
                            if r.passed {
                                t.passed += 1;
                            } else {
                                t.failures.add(seed, r);
                            }
                        }
                        Err(e) => t.errors.add(seed, format!("seed {seed}: {e:#}")),
                    }
                    bar.set_message(format!("{} failed", t.failures.total));
                    drop(t);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let wall = start.elapsed();
    let tally = tally.into_inner().unwrap_or_else(|e| e.into_inner());
    print_summary(args, &tally, seeds.len(), wall);
    let all_passed = tally.errors.total == 0 && tally.failures.total == 0;
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_summary(args: &ExploreArgs, tally: &Tally, seeds: u64, wall: Duration) {
    let shard = args
        .shard
        .map_or(String::new(), |(k, n)| format!(" (shard {k}/{n})"));
    let virtual_ns = u64::try_from(tally.virtual_ns).unwrap_or(u64::MAX);
    outln!(
        "{seeds} seeds{shard}: {} passed, {} failed; {} of virtual time in {:.2}s of wall time",
        tally.passed,
        tally.failures.total,
        secs(SimTime::from_nanos(virtual_ns)),
        wall.as_secs_f64()
    );
    // Failures with the same plan and reason are one bug: reported once, with every
    // seed that found it.
    let mut groups: indexmap::IndexMap<(Option<&str>, &str), Vec<&SeedResult>> =
        indexmap::IndexMap::new();
    for r in tally.failures.by_seed.values() {
        groups
            .entry((r.plan.as_deref(), r.why.as_str()))
            .or_default()
            .push(r);
    }
    for ((plan, why), seeds) in &groups {
        let first = seeds[0];
        if seeds.len() == 1 {
            outln!("seed {} failed: {why}", first.seed);
        } else {
            let list: Vec<String> = seeds.iter().map(|r| r.seed.to_string()).collect();
            outln!("{} seeds failed ({}): {why}", seeds.len(), list.join(", "));
        }
        if let Some(plan) = plan {
            outln!("  {plan}");
        }
        match &first.replay {
            Some(command) => outln!("  replay: {command}"),
            None => outln!(
                "  replay: simnet run {} --seed {}",
                shell_word(&args.scenario.display().to_string()),
                first.seed
            ),
        }
    }
    if tally.failures.more() > 0 {
        outln!(
            "... and {} more failing seeds (the {KEPT_FAILURES} smallest are listed)",
            tally.failures.more()
        );
    }
    for e in tally.errors.by_seed.values() {
        outln!("error: {e}");
    }
    if tally.errors.more() > 0 {
        outln!("... and {} more errors", tally.errors.more());
    }
}

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_range() {
        let seeds = |k, n| {
            let s = Seeds::new(10..=19, Some((k, n)));
            (0..s.len()).map(|i| s.get(i).unwrap()).collect::<Vec<_>>()
        };
        let mut all: Vec<u64> = (1..=3).flat_map(|k| seeds(k, 3)).collect();
        all.sort();
        assert_eq!(all, (10..20).collect::<Vec<_>>());
        assert_eq!(seeds(2, 3), vec![11, 14, 17]);
        assert!(Seeds::new(10..=10, Some((2, 3))).is_empty());
        assert!(parse_shard("0/3").is_err());
        assert!(parse_shard("4/3").is_err());
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
    }

    #[test]
    fn a_huge_seed_range_costs_no_memory() {
        let s = Seeds::new(0..=u64::MAX - 1, Some((3, 7)));
        assert_eq!(s.get(0), Some(2));
        assert_eq!(s.get(1), Some(9));
        assert_eq!(s.len(), (u64::MAX - 2).div_ceil(7));
        // The last seed is a seed like any other.
        let max = u64::MAX;
        let last = Seeds::new(max..=max, None);
        assert_eq!((last.len(), last.get(0), last.get(1)), (1, Some(max), None));
        let last_shard = Seeds::new(max..=max, Some((max, max)));
        assert!(last_shard.is_empty());
        let all = Seeds::new(0..=max, Some((2, 2)));
        assert_eq!(all.len(), 1 << 63);
        assert_eq!(all.get((1 << 63) - 1), Some(max));
    }

    #[test]
    fn kept_failures_are_the_smallest_seeds_whatever_the_order() {
        let mut kept = Kept::new();
        for seed in (0..1000).rev() {
            kept.add(seed, ());
        }
        assert_eq!(kept.total, 1000);
        assert_eq!(
            kept.by_seed.keys().copied().collect::<Vec<_>>(),
            (0..100).collect::<Vec<_>>()
        );
        assert_eq!(kept.more(), 900);
    }

    #[test]
    fn parallel_worlds_are_limited_to_what_fits() {
        assert_eq!(fitting_jobs(8, 10), 8);
        // 1,500 fast guests a world: five worlds fit.
        assert_eq!(fitting_jobs(8, 1_500), 5);
        // 6,000 compact guests a world: two fit.
        assert_eq!(fitting_jobs(8, 6_000), 2);
        // A world too big for any company still runs, alone.
        assert_eq!(fitting_jobs(8, 20_000), 1);
        assert_eq!(fitting_jobs(1, 0), 1);
    }
}
