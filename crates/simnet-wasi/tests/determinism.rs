//! Same seed, same run: the network trace, every guest's output and every outcome are
//! identical byte for byte.

mod common;

use std::time::Duration;

use common::{guest, runtime};
use simnet_core::{LinkConfig, TraceMode};
use simnet_wasi::{Report, Sim, SimConfig};

struct Run {
    report: Report,
    trace: Vec<String>,
    outputs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// An echo server and three clients (one of them with many connections at once)
/// over a lossy, jittery link.
fn run(seed: u64) -> Run {
    let mut config = SimConfig::new(seed);
    config.net.trace = TraceMode::Full;
    let mut sim = Sim::new(runtime(), config);
    let server = sim
        .add_host("server", &["10.0.0.1".parse().unwrap()])
        .unwrap();
    let link = LinkConfig {
        jitter: Duration::from_millis(3),
        loss: 0.05,
        ..LinkConfig::with_latency(Duration::from_millis(4))
    };
    sim.with_net(|net| net.set_default_link(link)).unwrap();
    sim.spawn(guest("server", server, "many", &["serve", "10.0.0.1:7"]).daemon());
    for i in 0..3 {
        let host = sim
            .add_host(
                &format!("client{i}"),
                &[format!("10.0.1.{i}").parse().unwrap()],
            )
            .unwrap();
        let spec = if i == 2 {
            guest(
                &format!("client{i}"),
                host,
                "many",
                &["clients", "10.0.0.1:7", "8", "3000"],
            )
        } else {
            guest(
                &format!("client{i}"),
                host,
                "echo-client",
                &["10.0.0.1:7", "30", "100"],
            )
        };
        sim.spawn(spec.start_at(Duration::from_millis(i)));
    }
    let report = sim.run();
    let trace = sim.with_net(|net| {
        net.trace()
            .records()
            .iter()
            .map(|r| format!("{r:?}"))
            .collect()
    });
    let outputs = report
        .guests
        .iter()
        .map(|g| {
            let out = sim.output(sim.guest_id(&g.name).unwrap());
            (
                out.bytes(simnet_wasi::Stream::Stdout),
                out.bytes(simnet_wasi::Stream::Stderr),
            )
        })
        .collect();
    Run {
        report,
        trace,
        outputs,
    }
}

#[test]
fn the_same_seed_reproduces_trace_output_and_outcomes() {
    let a = run(42);
    let b = run(42);
    for g in &a.report.guests {
        if g.name != "server" {
            assert!(g.outcome.is_success(), "{}: {}", g.name, g.outcome);
        }
    }
    assert!(
        a.trace.len() > 500,
        "a real workload: {} events",
        a.trace.len()
    );
    if let Some(i) = a.trace.iter().zip(&b.trace).position(|(x, y)| x != y) {
        panic!(
            "traces diverge at event {i}:\n{}\n{}",
            a.trace[i], b.trace[i]
        );
    }
    assert_eq!(a.trace.len(), b.trace.len());
    assert_eq!(a.outputs, b.outputs);
    assert_eq!(a.report, b.report);
}

#[test]
fn another_seed_gives_another_run() {
    let a = run(1);
    let b = run(2);
    assert_ne!(a.report.trace_hash, b.report.trace_hash);
}

/// An echo world (50 round trips of 64 B) on `rt` under `seed`: its trace hash and
/// the client's fuel.
fn echo_world(rt: &simnet_wasi::Runtime, seed: u64) -> (u64, u64) {
    let load = |name: &str| {
        let g = simnet_guests::get(name).expect("a guest");
        rt.load_bytes(g.name, g.bytes).expect("it compiles")
    };
    let (server, client) = (load("echo-server"), load("echo-client"));
    let mut sim = simnet_wasi::Sim::new(rt, simnet_wasi::SimConfig::new(seed));
    let s = sim
        .add_host("server", &["10.0.0.1".parse().unwrap()])
        .unwrap();
    let c = sim
        .add_host("client", &["10.0.0.2".parse().unwrap()])
        .unwrap();
    sim.spawn(
        simnet_wasi::GuestSpec::new("server", s, server)
            .arg("0.0.0.0:7000")
            .daemon(),
    );
    sim.spawn(
        simnet_wasi::GuestSpec::new("client", c, client)
            .args(["10.0.0.1:7000", "50", "64"])
            .start_at(std::time::Duration::from_millis(1)),
    );
    let report = sim.run();
    assert!(report.is_success(), "{}", sim.explain(&report));
    let fuel = report.guest("client").unwrap().fuel;
    assert!(fuel > 0, "fuel is counted");
    (report.trace_hash, fuel)
}

/// The baseline compiler: fuel and preemption work, the same seed gives the same
/// trace, and the run differs from Cranelift's only where fuel counts differ.
#[test]
fn winch_compiled_guests_run_deterministically() {
    use simnet_wasi::{Compiler, Runtime};
    let config = Compiler::Winch
        .config()
        .expect("winch is built in for the tests");
    let rt = Runtime::with_config(&config, None).expect("a winch runtime");
    assert_eq!(echo_world(&rt, 3), echo_world(&rt, 3));
}

#[test]
fn compilers_are_chosen_by_name() {
    use simnet_wasi::Compiler;
    assert_eq!(Compiler::parse("winch"), Ok(Compiler::Winch));
    assert_eq!(Compiler::parse(" cranelift "), Ok(Compiler::Cranelift));
    let err = Compiler::parse("llvm").unwrap_err();
    assert_eq!(err, "unknown compiler \"llvm\": cranelift or winch");
}

#[test]
fn memory_layouts_run_the_same_simulation() {
    use simnet_wasi::{MemoryLayout, Runtime};
    let run = |layout| echo_world(&Runtime::with_layout(layout, None).expect("a runtime"), 11);
    // Each layout replays exactly. Across layouts fuel is counted slightly
    // differently (as across compilers), so only the network's trace is compared,
    // on a world no preemption point can change.
    let (fast, compact) = (run(MemoryLayout::Fast), run(MemoryLayout::Compact));
    assert_eq!(fast, run(MemoryLayout::Fast));
    assert_eq!(compact, run(MemoryLayout::Compact));
    assert_eq!(fast.0, compact.0);
    assert_eq!(MemoryLayout::for_guests(2), MemoryLayout::Fast);
    assert_eq!(MemoryLayout::for_guests(10_000), MemoryLayout::Compact);
}

/// A server that appends what it reads to a file in a real directory, with a read
/// timeout on its socket: file work that wasmtime-wasi does on its own threads must
/// land at the same virtual instant every run, whatever the real timing, and never
/// leave the server asleep until its stale read timeout.
#[test]
fn a_guest_writing_files_in_a_real_directory_is_deterministic() {
    let run = |round: usize| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("real-dir-determinism-{round}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut sim, server, client) = common::two_hosts(9, Duration::from_millis(2));
        sim.spawn(
            common::guest(
                "logger",
                server,
                "probe",
                &["log-lines", "10.0.0.1:7", "/data/log", "2000"],
            )
            .dir(&dir, "/data"),
        );
        sim.spawn(
            common::guest(
                "sender",
                client,
                "probe",
                &["send-lines", "10.0.0.1:7", "40", "3"],
            )
            .start_at(Duration::from_millis(1)),
        );
        let report = sim.run();
        let all = common::describe(&sim, &report);
        let logged = std::fs::read_to_string(dir.join("log")).unwrap();
        assert_eq!(logged.lines().count(), 40, "{all}");
        (
            report.end,
            report.trace_hash,
            sim.output_of("logger").unwrap().stdout(),
            all,
        )
    };
    let first = run(0);
    // Each line reaches the log within milliseconds of its sending (Nagle and a
    // delayed ACK may hold one back), never at the server's 2 s read timeout.
    let slowest = first.2.trim().rsplit(' ').next().unwrap_or_default();
    assert!(
        slowest.ends_with("ms") || slowest.ends_with("µs"),
        "{}",
        first.3
    );
    for round in 1..6 {
        let again = run(round);
        assert_eq!(
            (again.0, again.1, &again.2),
            (first.0, first.1, &first.2),
            "run {round} differs:\n{}\nfirst:\n{}",
            again.3,
            first.3
        );
    }
}

/// Nothing of the host's filesystem reaches a guest through a real directory's
/// files: their metadata hashes (inode numbers, to a POSIX program) and times are
/// the run's own, the same in any fresh directory, and a file made after another
/// was removed is new even when the host reuses the removed file's inode.
#[test]
fn real_files_identities_do_not_depend_on_the_host() {
    let run = |round: usize| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("real-dir-identity-{round}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut sim, host, _) = common::two_hosts(3, Duration::from_millis(1));
        sim.spawn(common::guest("ids", host, "probe", &["file-ids", "/data"]).dir(&dir, "/data"));
        let report = sim.run();
        let out = sim.output_of("ids").unwrap().stdout();
        assert!(
            out.contains("not a's: true"),
            "{}",
            common::describe(&sim, &report)
        );
        out
    };
    let first = run(0);
    for round in 1..4 {
        assert_eq!(run(round), first, "round {round}");
    }
}
