//! `simnet explore SCENARIO.toml --seeds A..B`: the scenario under many seeds with
//! the library's explorer, a progress bar while it runs, and the report after.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use simnet::World;
use simnet::run::{Failure, SeedSet};
use simnet::space::FaultSpace;

use crate::args::ExploreArgs;

pub fn run(args: &ExploreArgs) -> Result<ExitCode> {
    if SeedSet::new(args.seeds.clone(), args.shard).is_empty() {
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
    let mut world = World::from_file(&args.scenario)?;
    if let Some(w) = args.watchdog {
        world.watchdog = w.0;
    }
    let space = fault_space(args, &world)?;
    let mut explore = world
        .explore()?
        .seeds(args.seeds.clone())
        .jobs(args.jobs)
        .check_determinism(args.check_determinism)
        .until(args.until.map(|d| d.0))
        .shrink(args.shrink)
        .replay_dir(Some(args.out_dir.clone().unwrap_or_else(|| {
            simnet::report::default_replay_dir(&args.scenario)
        })));
    if let Some((k, n)) = args.shard {
        explore = explore.shard(k, n);
    }
    if let Some(dir) = &args.artifacts {
        explore = explore.artifacts(dir);
    }
    if args.faults == "random" {
        explore = explore.fault_space(space);
    }
    let guests = explore.prepared().world().guests().count();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let fit = simnet::run::fitting_jobs(jobs, guests);
    if fit < jobs {
        eprintln!(
            "note: running {fit} world(s) at once instead of {jobs}: {jobs} worlds of \
             {guests} guests would not fit in one process's memory mappings"
        );
    }
    let total = SeedSet::new(args.seeds.clone(), args.shard).len();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = explore.run(&|p| {
        bar.set_position(p.done);
        bar.set_message(format!("{} failed", p.failed));
    })?;
    bar.finish_and_clear();
    let scenario = args.scenario.display().to_string();
    let rerun = |f: &Failure| {
        f.replay.clone().unwrap_or_else(|| {
            format!(
                "simnet run {} --seed {}",
                simnet::run::shell_word(&scenario),
                f.seed
            )
        })
    };
    out!("{}", summary.render(&rerun));
    Ok(match summary.is_success() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    })
}

/// The scenario's fault space with the command line's changes.
fn fault_space(args: &ExploreArgs, world: &World) -> Result<FaultSpace> {
    let mut space = world.explore.clone();
    if let Some(families) = &args.families {
        space
            .set_families(families.split(','))
            .map_err(|why| anyhow!("--families: {why}"))?;
    }
    if let Some(hosts) = &args.crash_hosts {
        space
            .set_crash_hosts(hosts.split(','))
            .map_err(|why| anyhow!("--crash-hosts: {why}"))?;
    }
    if args.no_restart {
        space.restart_crashes = false;
    }
    if let Some(n) = args.max_faults {
        space
            .set_max_faults(n)
            .map_err(|why| anyhow!("--max-faults: {why}"))?;
    }
    if let Some(h) = args.horizon {
        space.set_horizon(h.0);
    }
    if let Some(sw) = &args.swarm {
        space.swarm = sw == "on";
    }
    Ok(space)
}
