//! Shared set-up for the guest tests: one runtime per test binary (components compile
//! once, cached on disk under the target directory) and small scenario builders.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use simnet_core::{HostId, LinkConfig};
use simnet_wasi::{GuestSpec, Program, Report, Runtime, Sim, SimConfig};

pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache");
        Runtime::with_cache_dir(Some(dir)).expect("runtime")
    })
}

/// A runtime with memories laid out for huge worlds.
pub fn compact_runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache");
        Runtime::with_layout(simnet_wasi::MemoryLayout::Compact, Some(dir)).expect("runtime")
    })
}

pub fn program(name: &str) -> Program {
    program_in(runtime(), name)
}

pub fn program_in(rt: &Runtime, name: &str) -> Program {
    let guest = simnet_guests::get(name).unwrap_or_else(|| panic!("no guest {name}"));
    rt.load_bytes(guest.name, guest.bytes)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A simulation with hosts `server` (10.0.0.1) and `client` (10.0.0.2) over a link of
/// `latency` one way.
pub fn two_hosts(seed: u64, latency: Duration) -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(runtime(), SimConfig::new(seed));
    let server = sim
        .add_host("server", &["10.0.0.1".parse().unwrap()])
        .unwrap();
    let client = sim
        .add_host("client", &["10.0.0.2".parse().unwrap()])
        .unwrap();
    sim.with_net(|net| net.set_link(server, client, LinkConfig::with_latency(latency)))
        .unwrap();
    (sim, server, client)
}

pub fn guest(name: &str, host: HostId, program: &str, args: &[&str]) -> GuestSpec {
    GuestSpec::new(name, host, self::program(program)).args(args.iter().copied())
}

/// Describe every guest's outcome and output, for assertion messages.
pub fn describe(sim: &Sim, report: &Report) -> String {
    let mut s = String::new();
    for g in &report.guests {
        let id = sim.guest_id(&g.name).unwrap();
        let out = sim.output(id);
        s.push_str(&format!(
            "--- {} on {}: {} at {}\nstdout:\n{}stderr:\n{}",
            g.name,
            g.host,
            g.outcome,
            g.end,
            out.stdout(),
            out.stderr()
        ));
        if let simnet_wasi::Outcome::Trapped {
            backtrace: Some(bt),
            ..
        } = &g.outcome
        {
            s.push_str(&format!("backtrace:\n{bt}\n"));
        }
    }
    s
}
