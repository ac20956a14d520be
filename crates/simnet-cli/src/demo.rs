//! The built-in demo: an echo server and three clients over a lossy, jittery link,
//! all guests embedded in the binary, with a readable timeline.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use simnet::report;
use simnet::run::RunOptions;

use crate::args::DemoArgs;
use crate::logging;

/// The demo scenario (also a template for your own: see docs/scenario.md).
pub const SCENARIO: &str = r#"
[network]
latency = "20ms"
jitter = "10ms"
loss = 0.03

[[host]]
name = "server"
ip = "10.0.0.1"
component = "builtin:many"
args = ["serve", "10.0.0.1:7"]
expect = "running"

[[host]]
name = "alice"
ip = "10.0.1.1"
component = "builtin:echo-client"
args = ["10.0.0.1:7", "5", "64"]
start = "10ms"

[[host]]
name = "bob"
ip = "10.0.1.2"
component = "builtin:echo-client"
args = ["10.0.0.1:7", "3", "4000"]
start = "50ms"

[[host]]
name = "carol"
ip = ["10.0.1.3", "fd00::3"]
component = "builtin:many"
args = ["clients", "10.0.0.1:7", "4", "20000"]
start = "120ms"

[[link]]
between = ["server", "carol"]
latency = "60ms"
jitter = "20ms"
"#;

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    let world = simnet::world::scenario::parse(Path::new("demo.toml"), SCENARIO)?;
    let prepared = world.prepare()?;
    outln!(
        "simnet demo, seed {}: an echo server and three clients (alice, bob, carol)",
        args.seed
    );
    outln!("over links with 20 ms +-10 ms latency and 3% loss (60 ms +-20 ms to carol).");
    outln!("Each line: [virtual time] who | what. Other seeds: simnet demo --seed N\n");
    let options = RunOptions {
        observe: Some(Box::new(|sim| logging::set_clock(sim.clock()))),
        ..RunOptions::default()
    };
    let done = prepared.run(args.seed, &[], options)?;
    let mut lines = report::guest_lines(&done.sim, &done.report);
    lines.extend(report::network_lines(
        &done.sim,
        report::NetworkDetail::Connections,
    ));
    report::sort_timeline(&mut lines);
    out!("{}", report::render_timeline(&lines));
    outln!();
    outln!(
        "{} at {} of virtual time; trace hash {:016x} (the same seed gives the same hash)",
        simnet::run::stop_word(&done.report),
        simnet::units::secs(done.report.end),
        done.report.trace_hash
    );
    out!("{}", done.summary());
    Ok(match done.passed() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    })
}
