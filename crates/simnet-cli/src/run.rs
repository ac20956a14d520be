//! `simnet run SCENARIO.toml`: one run, its timeline and summary, and the files asked
//! for (trace, capture, disks).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use simnet::World;
use simnet::report::{self, PcapStream};
use simnet::run::RunOptions;

use crate::args::RunArgs;
use crate::logging;

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let mut world = World::from_file(&args.scenario)?;
    if let Some(w) = args.watchdog {
        world.watchdog = w.0;
    }
    // Output files are checked first: a bad path is reported before the run.
    if let Some(path) = &args.trace {
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    let pcap = match &args.pcap {
        Some(path) => Some(Arc::new(Mutex::new(PcapStream::create(path)?))),
        None => None,
    };
    if let Some(dir) = &args.disk_out {
        crate::disk_out::check(dir)?;
    }
    let seed = args.seed.unwrap_or(world.seed);
    let prepared = world.prepare()?;
    let options = RunOptions {
        until: args.until.map(|d| d.0),
        capture: pcap.clone().map(PcapStream::sink),
        observe: Some(Box::new(|sim| logging::set_clock(sim.clock()))),
        ..RunOptions::default()
    };
    let done = prepared.run(seed, &[], options)?;
    out!("{}", done.timeline());
    outln!();
    outln!("{}", done.headline());
    out!("{}", done.summary());
    out!("{}", report::api_errors(&done.report));
    if let Some(path) = &args.trace {
        done.write_trace(path)?;
    }
    if let Some(dir) = &args.disk_out {
        done.sim
            .with_net(|net| crate::disk_out::write(dir, net))
            .with_context(|| format!("--disk-out {}", dir.display()))?;
    }
    if let Some(pcap) = pcap {
        let stream = Arc::into_inner(pcap)
            .and_then(|m| m.into_inner().ok())
            .context("the capture sink outlived the run")?;
        stream.finish()?;
    }
    Ok(match done.passed() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    })
}
