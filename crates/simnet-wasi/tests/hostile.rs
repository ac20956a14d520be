//! Hostile guests: each must end with a clear outcome within a bound of virtual time
//! (never by exhausting the machine or running for hours), and must not disturb the
//! simulation around it.

mod common;

use std::time::Duration;

use common::{describe, guest, runtime, two_hosts};
use simnet_core::SimTime;
use simnet_wasi::{Limit, Outcome, Report, Sim, SimConfig};

fn alone(seed: u64) -> (Sim, simnet_core::HostId) {
    let mut sim = Sim::new(runtime(), SimConfig::new(seed));
    let host = sim
        .add_host("host", &["10.0.0.1".parse().unwrap()])
        .unwrap();
    (sim, host)
}

fn run_probe(args: &[&str]) -> (Sim, Report) {
    run_probe_with(args, simnet_wasi::Limits::default())
}

fn run_probe_with(args: &[&str], limits: simnet_wasi::Limits) -> (Sim, Report) {
    let (mut sim, host) = alone(1);
    sim.spawn(guest("probe", host, "probe", args).limits(limits));
    let report = sim.run();
    (sim, report)
}

fn secs(s: u64) -> SimTime {
    SimTime::from_nanos(s * 1_000_000_000)
}

/// The guest ends at its busy limit: the default 60 s, or `limit`.
fn assert_busy(args: &[&str], limit: Option<u64>) {
    let busy = limit.map(Duration::from_secs);
    let (sim, report) = run_probe_with(
        args,
        simnet_wasi::Limits {
            busy,
            ..Default::default()
        },
    );
    let limit = limit.unwrap_or(60);
    let g = &report.guests[0];
    assert!(
        matches!(
            g.outcome,
            Outcome::LimitExceeded {
                limit: Limit::Busy,
                ..
            }
        ),
        "{args:?}: {}",
        describe(&sim, &report)
    );
    // The default busy limit is 60 s of virtual time, charged slice by slice (the
    // guest ends as its last slice would take it over the limit).
    assert!(
        g.end >= secs(limit - 1) && g.end <= secs(limit + 1),
        "{args:?}: ended at {}",
        g.end
    );
}

#[test]
fn an_infinite_loop_ends_at_the_busy_limit() {
    assert_busy(&["spin"], None);
}

#[test]
fn polling_a_zero_timeout_forever_ends_at_the_busy_limit() {
    assert_busy(&["poll-zero", "block"], None);
    for how in ["ready", "poll"] {
        assert_busy(&["poll-zero", how], Some(5));
    }
}

#[test]
fn a_busy_limit_can_be_raised_or_lowered_per_guest() {
    let (mut sim, host) = alone(1);
    let limits = simnet_wasi::Limits {
        busy: Some(Duration::from_secs(2)),
        ..Default::default()
    };
    sim.spawn(guest("probe", host, "probe", &["spin"]).limits(limits));
    let report = sim.run();
    let g = &report.guests[0];
    assert!(matches!(
        g.outcome,
        Outcome::LimitExceeded {
            limit: Limit::Busy,
            ..
        }
    ));
    assert!(g.end >= secs(1) && g.end < secs(3), "{}", g.end);
}

#[test]
fn an_allocation_bomb_stops_at_the_default_memory_limit() {
    let (sim, report) = run_probe(&["alloc-gradually", "2048"]);
    let Outcome::LimitExceeded { limit, detail } = &report.guests[0].outcome else {
        panic!("{}", describe(&sim, &report));
    };
    assert_eq!(*limit, Limit::Memory);
    assert!(detail.contains("the limit is 1073741824"), "{detail}");
    // Said once, not twice.
    let shown = report.guests[0].outcome.to_string();
    assert_eq!(shown.matches("memory limit exceeded").count(), 1, "{shown}");
}

#[test]
fn deep_recursion_traps() {
    let (sim, report) = run_probe(&["recurse"]);
    let Outcome::Trapped {
        message, backtrace, ..
    } = &report.guests[0].outcome
    else {
        panic!("{}", describe(&sim, &report));
    };
    // Rust keeps its frames' arrays on a stack in linear memory: running off its end
    // is an out-of-bounds access (as on wasmtime), or the wasm stack limit.
    assert!(
        message.contains("out of bounds memory access") || message.contains("call stack exhausted"),
        "{message}"
    );
    // The message is the reason alone; the backtrace comes separately.
    assert!(!message.contains("wasm backtrace"), "{message}");
    assert!(backtrace.is_some());
}

#[test]
fn a_ten_year_sleep_ends_at_the_time_limit_without_real_waiting() {
    let (sim, report) = run_probe(&["sleep-years"]);
    assert!(
        matches!(report.guests[0].outcome, Outcome::Running { .. }),
        "{}",
        describe(&sim, &report)
    );
    assert_eq!(report.end, secs(24 * 3600));
}

#[test]
fn exhausting_sockets_gets_an_error_the_guest_can_see() {
    let (sim, report) = run_probe(&["sockets"]);
    assert_eq!(
        report.guests[0].outcome,
        Outcome::Exited(0),
        "{}",
        describe(&sim, &report)
    );
    let out = sim.output(sim.guest_id("probe").unwrap()).stdout();
    assert!(out.starts_with("opened 1024 sockets, then:"), "{out}");
}

#[test]
fn binding_every_ephemeral_port_is_refused_cleanly_at_the_end() {
    let (mut sim, host) = alone(1);
    sim.with_net(|net| net.set_socket_limit(host, 100_000));
    sim.spawn(guest("probe", host, "probe", &["ports"]));
    let report = sim.run();
    let out = sim.output(sim.guest_id("probe").unwrap()).stdout();
    // Linux's ephemeral range, 32768..=60999, holds 28,232 ports.
    assert!(
        out.starts_with("bound 28232 listeners, then:"),
        "{out}\n{}",
        describe(&sim, &report)
    );
}

#[test]
fn an_output_flood_is_cut_with_a_notice_and_stderr_keeps_its_own_room() {
    let (sim, report) = run_probe(&["flood", "40000000"]);
    assert_eq!(report.guests[0].outcome, Outcome::Exited(0));
    let out = sim.output(sim.guest_id("probe").unwrap());
    assert!(out.truncated_stream(simnet_wasi::Stream::Stdout));
    assert!(!out.truncated_stream(simnet_wasi::Stream::Stderr));
    let stdout = out.stdout();
    assert!(stdout.len() <= (16 << 20) + 200, "{}", stdout.len());
    assert!(stdout.ends_with("the rest was dropped]\n"));
    assert_eq!(out.stderr(), "flooded 40000000 bytes\n");
}

#[test]
fn a_guest_trapping_mid_transfer_leaves_its_peer_a_clean_end() {
    let (mut sim, server, client) = two_hosts(3, Duration::from_millis(1));
    sim.spawn(guest(
        "receiver",
        server,
        "probe",
        &["bulk-recv", "10.0.0.1:9"],
    ));
    sim.spawn(
        guest("sender", client, "probe", &["trap-mid-write", "10.0.0.1:9"])
            .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    assert!(matches!(
        report.guest("sender").unwrap().outcome,
        Outcome::Trapped { .. }
    ));
    // The receiver saw the bytes that reached the sender's send buffer (what the
    // last write still had to hand over went with the guest, as wasmtime-wasi's
    // background write goes with its store), then the end of the stream.
    assert_eq!(
        report.guest("receiver").unwrap().outcome,
        Outcome::Exited(0),
        "{}",
        describe(&sim, &report)
    );
    let out = sim.output(sim.guest_id("receiver").unwrap()).stdout();
    let received: usize = out
        .trim()
        .strip_prefix("received ")
        .and_then(|r| r.strip_suffix(" bytes"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!((65_536..=100_000).contains(&received), "{out}");
}

/// As wasmtime-wasi aborts a write still being handed to the kernel when its guest
/// goes, the peer gets what reached the send buffer, then the end of the stream.
#[test]
fn a_guest_exiting_mid_write_abandons_what_was_not_handed_over() {
    let (mut sim, server, client) = two_hosts(3, Duration::from_millis(1));
    sim.spawn(guest(
        "receiver",
        server,
        "probe",
        &["bulk-recv", "10.0.0.1:9"],
    ));
    sim.spawn(
        guest("sender", client, "probe", &["exit-mid-write", "10.0.0.1:9"])
            .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("sender").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    assert_eq!(
        report.guest("receiver").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    let sent = sim.output(sim.guest_id("sender").unwrap()).stdout();
    assert_eq!(sent, "wrote 65536\n", "{all}");
    let out = sim.output(sim.guest_id("receiver").unwrap()).stdout();
    let received: usize = out
        .trim()
        .strip_prefix("received ")
        .and_then(|r| r.strip_suffix(" bytes"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{all}"));
    assert!(
        received > 0 && received < 65_536,
        "received {received}\n{all}"
    );
}

#[test]
fn host_calls_with_absurd_arguments_return() {
    let (sim, report) = run_probe(&["huge-calls"]);
    assert_eq!(
        report.guests[0].outcome,
        Outcome::Exited(0),
        "{}",
        describe(&sim, &report)
    );
    let out = sim.output(sim.guest_id("probe").unwrap()).stdout();
    assert!(out.contains("subscribe-duration max ready: false"), "{out}");
    assert!(out.contains("read into 16 MiB: Ok(5)"), "{out}");
    assert!(
        out.contains("stdin read u64::MAX: Err(StreamError::Closed)"),
        "{out}"
    );
    assert!(out.ends_with("done\n"), "{out}");
}

#[test]
fn the_watchdog_stops_a_run_in_real_time_and_says_so() {
    let mut config = SimConfig::new(1);
    config.watchdog = Some(Duration::from_millis(200));
    config.busy_limit = None;
    let mut sim = Sim::new(runtime(), config);
    let host = sim
        .add_host("host", &["10.0.0.1".parse().unwrap()])
        .unwrap();
    sim.spawn(guest("probe", host, "probe", &["spin"]));
    let report = sim.run();
    assert_eq!(report.stop, simnet_wasi::StopReason::Watchdog);
    assert!(matches!(report.guests[0].outcome, Outcome::Running { .. }));
}

#[test]
fn ten_thousand_guests_fit_in_one_world() {
    // With wasmtime's default memory settings (`MemoryLayout::Fast`), about 1,300 of
    // these guests failed to be created (`Cannot allocate memory`: the process ran
    // out of memory mappings); the compact layout is for worlds this size.
    let rt = common::compact_runtime();
    let mut sim = Sim::new(rt, SimConfig::new(5));
    let server = common::program_in(rt, "echo-server");
    let client = common::program_in(rt, "echo-client");
    for i in 0..5000u32 {
        let (a, b) = (i / 250, i % 250);
        let s_ip = format!("10.{a}.{b}.1");
        let s = sim
            .add_host(&format!("s{i}"), &[s_ip.parse().unwrap()])
            .unwrap();
        let c = sim
            .add_host(
                &format!("c{i}"),
                &[format!("10.{a}.{b}.2").parse().unwrap()],
            )
            .unwrap();
        let addr = format!("{s_ip}:7");
        sim.spawn(
            simnet_wasi::GuestSpec::new(format!("s{i}"), s, server.clone())
                .arg(&addr)
                .daemon(),
        );
        sim.spawn(
            simnet_wasi::GuestSpec::new(format!("c{i}"), c, client.clone())
                .args([addr.as_str(), "2", "16"])
                .start_at(Duration::from_millis(1)),
        );
    }
    let report = sim.run();
    assert_eq!(
        report.stop,
        simnet_wasi::StopReason::AllFinished,
        "{:?}",
        report.host_failure
    );
    let failed: Vec<_> = report
        .guests
        .iter()
        .filter(|g| g.name.starts_with('c') && g.outcome != Outcome::Exited(0))
        .take(3)
        .map(|g| format!("{}: {}", g.name, g.outcome))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}
