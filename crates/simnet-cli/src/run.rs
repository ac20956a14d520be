//! `simnet run SCENARIO.toml`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use std::sync::{Arc, Mutex};

use simnet_core::{CaptureSink, TraceMode};
use simnet_wasi::{Report, Runtime, Sim};

use crate::pcap::PcapStream;
use crate::scenario::{Prepared, Scenario};
use crate::{RunArgs, logging, report, trace_file};

/// One run of a prepared scenario, with its seed.
pub struct Done {
    pub sim: Sim,
    pub report: Report,
    pub passed: bool,
    pub summary: String,
}

pub fn run_once(
    rt: &Runtime,
    prepared: &Prepared,
    seed: u64,
    until: Option<std::time::Duration>,
    capture: Option<CaptureSink>,
) -> Result<Done> {
    let mut sim = prepared.build(rt, seed, until, TraceMode::Full)?;
    if let Some(sink) = capture {
        sim.with_net(|net| net.stream_capture(sink));
    }
    logging::set_clock(sim.clock());
    let report = sim.run();
    sim.with_net(|net| net.end_capture());
    machine_held(&report)?;
    let (summary, passed) = report::summary(&sim, &prepared.scenario, &report);
    Ok(Done {
        sim,
        report,
        passed,
        summary,
    })
}

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let mut scenario = Scenario::load(&args.scenario)?;
    scenario.watchdog = args.watchdog.0;
    // Output files are created first: a bad path is reported before the run.
    let create = |path: &std::path::PathBuf| {
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))
    };
    let trace_file = args.trace.as_ref().map(create).transpose()?;
    let pcap = match &args.pcap {
        Some(path) => Some(Arc::new(Mutex::new(PcapStream::create(path)?))),
        None => None,
    };
    if let Some(dir) = &args.disk_out {
        crate::disk_out::check(dir)?;
    }
    let rt = crate::runtime(scenario.hosts.len())?;
    let prepared = Prepared::new(&rt, scenario)?;
    let seed = args.seed.unwrap_or(prepared.scenario.seed);
    let done = run_once(
        &rt,
        &prepared,
        seed,
        args.until.map(|d| d.0),
        pcap.clone().map(PcapStream::sink),
    )?;
    let mut lines = report::guest_lines(&done.sim, &done.report);
    lines.extend(report::network_lines(
        &done.sim,
        report::NetworkDetail::Faults,
    ));
    report::sort_timeline(&mut lines);
    report::print_timeline(&lines);
    outln!();
    outln!(
        "seed {seed}: {} at {} of virtual time, trace hash {:016x}",
        stop_word(&done.report),
        crate::units::secs(done.report.end),
        done.report.trace_hash
    );
    out!("{}", done.summary);
    out!("{}", report::api_errors(&done.report));
    if let (Some(path), Some(file)) = (&args.trace, trace_file) {
        trace_file::write(file, path, &done.sim, &done.report)?;
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
    Ok(if done.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A run the machine could not carry through (resources ran out, the real-time
/// watchdog fired) is an error of simnet's, never a simulated outcome.
pub fn machine_held(report: &Report) -> Result<()> {
    match report.stop {
        simnet_wasi::StopReason::HostFailure => anyhow::bail!(
            "the machine ran out of resources at {} of virtual time: {} (this is not an outcome \
             of the simulation; see docs/limits.md for how many guests fit)",
            crate::units::secs(report.end),
            report.host_failure.as_deref().unwrap_or("unknown failure")
        ),
        simnet_wasi::StopReason::Watchdog => anyhow::bail!(
            "the run took longer in real time than its watchdog allows (stopped at {} of \
             virtual time); raise it with --watchdog, or turn it off with --watchdog off",
            crate::units::secs(report.end)
        ),
        _ => Ok(()),
    }
}

pub fn stop_word(report: &Report) -> &'static str {
    match report.stop {
        simnet_wasi::StopReason::AllFinished => "finished",
        simnet_wasi::StopReason::Idle => "nothing left to run",
        simnet_wasi::StopReason::TimeLimit => "stopped at the time limit",
        simnet_wasi::StopReason::Watchdog => "stopped by the real-time watchdog",
        simnet_wasi::StopReason::HostFailure => "stopped: the machine ran out of resources",
    }
}
