//! `simnet exec COMPONENT.wasm [ARGS]...`: one guest on one simulated host, its
//! stdout and stderr passed through, its exit code returned.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use simnet_wasi::{Capabilities, GuestSpec, Outcome, Sim, SimConfig, Stream};

use crate::{ExecArgs, logging};

pub fn run(args: &ExecArgs) -> Result<ExitCode> {
    let rt = crate::runtime()?;
    let program = rt.load(&args.component).map_err(|e| anyhow!("{e}"))?;
    let mut sim = Sim::new(&rt, SimConfig::new(args.seed));
    let host = sim
        .add_host("host", &[args.ip])
        .map_err(|e| anyhow!("--ip {}: {e}", args.ip))?;
    let caps = Capabilities {
        tcp: !args.no_tcp,
        udp: !args.no_udp,
        ip_name_lookup: !args.no_ip_name_lookup,
    };
    let mut spec = GuestSpec::new("guest", host, program)
        .args(args.args.iter().cloned())
        .capabilities(caps);
    spec.env = args.env.clone();
    let id = sim.spawn(spec);
    logging::set_clock(sim.clock());
    let report = sim.run();
    let out = sim.output(id);
    // Output is captured while the simulation runs (virtual time, no real I/O) and
    // passed through once it ends.
    std::io::stdout().write_all(&out.bytes(Stream::Stdout))?;
    std::io::stdout().flush()?;
    std::io::stderr().write_all(&out.bytes(Stream::Stderr))?;
    let outcome = &report.guests[0].outcome;
    Ok(match outcome {
        Outcome::Exited(code) => ExitCode::from(u8::try_from(*code).unwrap_or(1)),
        other => {
            eprintln!("simnet: {}: {other}", args.component.display());
            if let Outcome::Trapped {
                backtrace: Some(bt),
                ..
            } = other
            {
                eprintln!("{bt}");
            }
            ExitCode::from(1)
        }
    })
}
