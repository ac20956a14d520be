//! `simnet explore SCENARIO.toml --seeds A..B`: the scenario under many seeds, in
//! parallel threads (each simulation single-threaded), with the command that replays
//! each failing seed.

use std::ops::Range;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use simnet_core::SimTime;

use crate::ExploreArgs;
use crate::check::{FaultRunner, RunOutput};
use crate::run::run_once;
use crate::units::secs;

pub fn parse_seeds(s: &str) -> Result<Range<u64>, String> {
    let bad = || format!("expected a seed range like 0..100 or 0..=99, got {s:?}");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let end = match b.strip_prefix('=') {
        Some(b) => b
            .trim()
            .parse::<u64>()
            .map_err(|_| bad())?
            .checked_add(1)
            .ok_or_else(bad)?,
        None => b.trim().parse().map_err(|_| bad())?,
    };
    if end <= start {
        return Err(format!("the seed range {s:?} is empty"));
    }
    Ok(start..end)
}

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
/// (k-1)-th. Shards are disjoint and together cover the range.
pub fn shard_seeds(range: Range<u64>, shard: Option<(u64, u64)>) -> Vec<u64> {
    let (k, n) = shard.unwrap_or((1, 1));
    range
        .clone()
        .filter(|s| (s - range.start) % n == k - 1)
        .collect()
}

struct SeedResult {
    seed: u64,
    passed: bool,
    end: SimTime,
    why: String,
    /// The command that replays a failure, when it is not a plain `simnet run --seed`.
    replay: Option<String>,
}

fn check_seed(runner: &FaultRunner, seed: u64, args: &ExploreArgs) -> Result<SeedResult> {
    let (rt, prepared) = (runner.runtime(), runner.prepared());
    let until = args.until.map(|d| d.0);
    let first = run_once(rt, prepared, seed, until, false)?;
    let mut why = prepared
        .scenario
        .first_unmet(&first.report)
        .unwrap_or_default();
    let mut passed = first.passed;
    if args.check_determinism {
        let second = run_once(rt, prepared, seed, until, false)?;
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
    })
}

/// A seed under a random fault plan (shrunk if asked and it fails).
fn check_seed_with_faults(
    runner: &FaultRunner,
    seed: u64,
    args: &ExploreArgs,
) -> Result<SeedResult> {
    let tree = runner.draw(seed, 0);
    let plan = tree.current();
    let (end, unmet) = runner.run(seed, &plan, |out: &RunOutput| (out.report.end, out.unmet()))?;
    let Some(mut why) = unmet else {
        return Ok(SeedResult {
            seed,
            passed: true,
            end,
            why: String::new(),
            replay: None,
        });
    };
    let plan = if args.shrink {
        let (plan, reason) = runner.shrink(seed, tree, 300, &|out: &RunOutput| out.unmet())?;
        why = reason;
        plan
    } else {
        plan
    };
    let (_, command) = runner.write_replay(seed, &plan)?;
    let faults: Vec<String> = plan.iter().map(|f| format!("\n    - {f}")).collect();
    why = format!(
        "{why}\n  fault plan ({} faults):{}",
        plan.len(),
        faults.concat()
    );
    Ok(SeedResult {
        seed,
        passed: false,
        end,
        why,
        replay: Some(command),
    })
}

/// The first event at which two runs' traces differ, if they do.
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

pub fn run(args: &ExploreArgs) -> Result<ExitCode> {
    // One runtime and one compilation of the components, with or without faults.
    let runner = FaultRunner::new(&args.scenario, None, args.until.map(|d| d.0))?;
    let seeds = shard_seeds(args.seeds.clone(), args.shard);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, seeds.len().max(1));
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let failed_so_far = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let result = if args.faults == "random" {
                        check_seed_with_faults(&runner, seed, args)
                    } else {
                        check_seed(&runner, seed, args)
                    };
                    match result {
                        Ok(r) => {
                            if !r.passed {
                                failed_so_far.fetch_add(1, Ordering::Relaxed);
                            }
                            results.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                        }
                        Err(e) => errors
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(format!("seed {seed}: {e:#}")),
                    }
                    bar.set_message(format!("{} failed", failed_so_far.load(Ordering::Relaxed)));
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let wall = start.elapsed();
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|r| r.seed);
    let errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
    print_summary(args, &results, &seeds, wall);
    for e in &errors {
        println!("error: {e}");
    }
    let all_passed = errors.is_empty() && results.iter().all(|r| r.passed);
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_summary(args: &ExploreArgs, results: &[SeedResult], seeds: &[u64], wall: Duration) {
    let failed: Vec<&SeedResult> = results.iter().filter(|r| !r.passed).collect();
    let virtual_ns: u64 = results.iter().map(|r| r.end.as_nanos()).sum();
    let shard = args
        .shard
        .map_or(String::new(), |(k, n)| format!(" (shard {k}/{n})"));
    println!(
        "{} seeds{shard}: {} passed, {} failed; {} of virtual time in {:.2}s of wall time",
        seeds.len(),
        results.len() - failed.len(),
        failed.len(),
        secs(SimTime::from_nanos(virtual_ns)),
        wall.as_secs_f64()
    );
    for r in failed {
        println!("seed {} failed: {}", r.seed, r.why);
        match &r.replay {
            Some(command) => println!("  replay: {command}"),
            None => println!(
                "  replay: simnet run {} --seed {}",
                shell_word(&args.scenario.display().to_string()),
                r.seed
            ),
        }
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
    fn seed_ranges() {
        assert_eq!(parse_seeds("0..10").unwrap(), 0..10);
        assert_eq!(parse_seeds("5..=7").unwrap(), 5..8);
        assert!(parse_seeds("7..7").is_err());
        assert!(parse_seeds("a..b").is_err());
    }

    #[test]
    fn shards_partition_the_range() {
        let all: Vec<u64> = (1..=3)
            .flat_map(|k| shard_seeds(10..20, Some((k, 3))))
            .collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, (10..20).collect::<Vec<_>>());
        assert_eq!(shard_seeds(10..20, Some((2, 3))), vec![11, 14, 17]);
        assert!(parse_shard("0/3").is_err());
        assert!(parse_shard("4/3").is_err());
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
    }
}
