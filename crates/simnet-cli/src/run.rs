//! `simnet run SCENARIO.toml`.

use std::process::ExitCode;

use anyhow::Result;
use simnet_core::TraceMode;
use simnet_wasi::{Report, Runtime, Sim};

use crate::scenario::{Prepared, Scenario};
use crate::{RunArgs, logging, pcap, report, trace_file};

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
    capture: bool,
) -> Result<Done> {
    let mut sim = prepared.build(rt, seed, until, TraceMode::Full)?;
    if capture {
        sim.with_net(|net| net.enable_capture());
    }
    logging::set_clock(sim.clock());
    let report = sim.run();
    let (summary, passed) = report::summary(&sim, &prepared.scenario, &report);
    Ok(Done {
        sim,
        report,
        passed,
        summary,
    })
}

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let scenario = Scenario::load(&args.scenario)?;
    let rt = crate::runtime()?;
    let prepared = Prepared::new(&rt, scenario)?;
    let seed = args.seed.unwrap_or(prepared.scenario.seed);
    let done = run_once(
        &rt,
        &prepared,
        seed,
        args.until.map(|d| d.0),
        args.pcap.is_some(),
    )?;
    let mut lines = report::guest_lines(&done.sim, &done.report);
    lines.extend(report::network_lines(
        &done.sim,
        report::NetworkDetail::Faults,
    ));
    lines.sort_by_key(|l| l.at);
    report::print_timeline(&lines);
    println!();
    println!(
        "seed {seed}: {} at {} of virtual time, trace hash {:016x}",
        stop_word(&done.report),
        crate::units::secs(done.report.end),
        done.report.trace_hash
    );
    print!("{}", done.summary);
    print!("{}", report::api_errors(&done.report));
    if let Some(path) = &args.trace {
        trace_file::write(path, &done.sim, &done.report)?;
    }
    if let Some(path) = &args.pcap {
        let captured = done.sim.with_net(|net| net.captured().to_vec());
        pcap::write(path, &captured)?;
    }
    Ok(if done.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn stop_word(report: &Report) -> &'static str {
    match report.stop {
        simnet_wasi::StopReason::AllFinished => "finished",
        simnet_wasi::StopReason::Idle => "nothing left to run",
        simnet_wasi::StopReason::TimeLimit => "stopped at the time limit",
    }
}
