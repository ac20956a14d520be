//! How many runs random fault exploration needs to find each planted bug, with and
//! without swarm testing: for every example whose bug only faults expose, trials
//! start at different seeds and count the runs up to the first failing one.
//!
//! `cargo run --release -p simnet-bench --bin explore -- [--trials N] [--limit N]`

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::strategy::{SBoxedStrategy, ValueTree};
use simnet::run::RunOptions;
use simnet::{PlanFault, Prepared, World};

const EXAMPLES: &[&str] = &[
    "naive-client.toml",
    "no-connect-timeout.toml",
    "dead-peer.toml",
    "eager-retry.toml",
];

struct Trial {
    runs: Option<u64>,
    wall: Duration,
}

/// Runs from `first` on until the scenario's expectations fail, at most `limit`.
fn trial(
    prepared: &Prepared,
    strategy: &SBoxedStrategy<Vec<PlanFault>>,
    first: u64,
    limit: u64,
) -> Trial {
    let start = Instant::now();
    for i in 0..limit {
        let seed = first + i;
        let plan = simnet::shrink::draw(strategy, seed).current();
        let failed = prepared
            .run(seed, &plan, RunOptions::default())
            .map(|run| run.unmet().is_some())
            .unwrap_or_else(|e| panic!("seed {seed}: {e:#}"));
        if failed {
            return Trial {
                runs: Some(i + 1),
                wall: start.elapsed(),
            };
        }
    }
    Trial {
        runs: None,
        wall: start.elapsed(),
    }
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut trials, mut limit) = (20u64, 200u64);
    while let Some(a) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (a.as_str(), value) {
            ("--trials", Some(n)) => trials = n,
            ("--limit", Some(n)) => limit = n,
            _ => {
                eprintln!("usage: explore [--trials N] [--limit N]");
                std::process::exit(2);
            }
        }
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    println!(
        "{trials} trials per example, each from its own seed (1000 x trial), at most {limit} runs"
    );
    println!(
        "{:<26} {:<8} {:>7} {:>13} {:>13}",
        "example", "swarm", "found", "median runs", "mean wall"
    );
    for name in EXAMPLES {
        let path = examples.join(name);
        for swarm in [false, true] {
            let world = World::from_file(&path).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let prepared = world.prepare().unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let mut space = world.explore.clone();
            space.swarm = swarm;
            simnet::run::fit_space(&prepared, &mut space, None)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let strategy = simnet::plan::plan_strategy(&space);
            let results: Vec<Trial> = (0..trials)
                .map(|t| trial(&prepared, &strategy, 1000 * t, limit))
                .collect();
            // A trial that found nothing counts as needing more than the limit.
            let runs: Vec<u64> = results
                .iter()
                .map(|r| r.runs.unwrap_or(limit + 1))
                .collect();
            let found = results.iter().filter(|r| r.runs.is_some()).count();
            let wall: Duration = results.iter().map(|r| r.wall).sum();
            let median = median(runs).map_or("-".into(), |m| {
                if m > limit {
                    format!(">{limit}")
                } else {
                    m.to_string()
                }
            });
            println!(
                "{:<26} {:<8} {:>3}/{:<3} {:>13} {:>11.0}ms",
                name,
                if swarm { "on" } else { "off" },
                found,
                trials,
                median,
                wall.as_secs_f64() * 1000.0 / trials as f64
            );
        }
    }
}
