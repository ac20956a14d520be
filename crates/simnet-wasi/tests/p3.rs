//! WASI 0.3 guests (the `p3-net` guest, built with the `wasip3` bindings) on the
//! simulated network, alone and beside WASI 0.2 guests.

mod common;

use std::time::Duration;

use common::{describe, guest, two_hosts};
use simnet_core::LinkConfig;
use simnet_wasi::{Outcome, Report, Sim};

fn exited(report: &Report, name: &str) -> bool {
    report.guest(name).map(|g| &g.outcome) == Some(&Outcome::Exited(0))
}

fn stdout(sim: &Sim, name: &str) -> String {
    sim.output(sim.guest_id(name).unwrap()).stdout()
}

/// A third host, `other` (10.0.0.3), linked to both.
fn add_other(sim: &mut Sim) -> simnet_core::HostId {
    let other = sim
        .add_host("other", &["10.0.0.3".parse().unwrap()])
        .unwrap();
    let link = LinkConfig::with_latency(Duration::from_millis(5));
    sim.with_net(|net| {
        let server = net.host("server").unwrap();
        let client = net.host("client").unwrap();
        net.set_link(other, server, link)?;
        net.set_link(other, client, link)
    })
    .unwrap();
    other
}

#[test]
fn a_0_3_server_serves_0_3_and_0_2_clients() {
    let (mut sim, server, client) = two_hosts(1, Duration::from_millis(5));
    let other = add_other(&mut sim);
    sim.spawn(guest("server", server, "p3-net", &["echo-server", "7000"]).daemon());
    sim.spawn(
        guest(
            "p3-client",
            client,
            "p3-net",
            &["echo-client", "10.0.0.1:7000", "3", "hello"],
        )
        .start_at(Duration::from_millis(1)),
    );
    sim.spawn(
        guest(
            "p2-client",
            other,
            "echo-client",
            &["10.0.0.1:7000", "10", "3000"],
        )
        .start_at(Duration::from_millis(1)),
    );
    // The server is a daemon: a run ends as the last client does, before that
    // client's FIN reaches the server, so time is let pass first.
    sim.run_for(Duration::from_millis(300)).unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(exited(&report, "p3-client"), "{all}");
    assert!(exited(&report, "p2-client"), "{all}");
    let client_out = stdout(&sim, "p3-client");
    // Each round trip is two one-way latencies of 5 ms.
    assert!(
        client_out.contains("round 2: hello in 10000000 ns"),
        "{all}"
    );
    assert!(client_out.contains("after close: Dropped 0 bytes"), "{all}");
    let server_out = stdout(&sim, "server");
    assert!(server_out.contains("15 bytes, Ok(()), Ok(())"), "{all}");
    assert!(server_out.contains("30000 bytes, Ok(()), Ok(())"), "{all}");
}

#[test]
fn a_0_2_server_serves_a_0_3_client_in_bulk() {
    let (mut sim, server, client) = two_hosts(2, Duration::from_millis(2));
    sim.spawn(guest(
        "server",
        server,
        "echo-server",
        &["10.0.0.1:7000", "1"],
    ));
    sim.spawn(
        guest(
            "client",
            client,
            "p3-net",
            &["bulk", "10.0.0.1:7000", "1000000"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(exited(&report, "client"), "{all}");
    assert!(exited(&report, "server"), "{all}");
    // The checksum real wasmtime's run of the same guest prints.
    assert!(
        stdout(&sim, "client")
            .contains("echoed 1000000 of 1000000 bytes, checksum ee533af0e952326b"),
        "{all}"
    );
}

#[test]
fn udp_between_0_3_and_0_2_guests() {
    let (mut sim, server, client) = two_hosts(3, Duration::from_millis(4));
    let other = add_other(&mut sim);
    sim.spawn(guest(
        "p3-server",
        server,
        "p3-net",
        &["udp-server", "53", "2"],
    ));
    sim.spawn(guest("p2-server", other, "probe", &["udp-serve", "10.0.0.3:53"]).daemon());
    sim.spawn(
        guest(
            "to-p3",
            client,
            "p3-net",
            &["udp-client", "10.0.0.1:53", "2", "ping"],
        )
        .start_at(Duration::from_millis(1)),
    );
    sim.spawn(
        guest(
            "to-p2",
            client,
            "p3-net",
            &["udp-client", "10.0.0.3:53", "2", "ping"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let all = describe(&sim, &report);
    for name in ["p3-server", "to-p3", "to-p2"] {
        assert!(exited(&report, name), "{name}: {all}");
    }
    assert!(stdout(&sim, "to-p3").contains("udp round 1: ping"), "{all}");
    assert!(
        stdout(&sim, "to-p2").contains("udp round 1: answer: ping"),
        "{all}"
    );
}

#[test]
fn a_0_3_sleep_takes_virtual_time_only() {
    let (mut sim, server, _) = two_hosts(4, Duration::from_millis(1));
    sim.spawn(guest("sleeper", server, "p3-net", &["sleep", "90000"]));
    let started = std::time::Instant::now();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(exited(&report, "sleeper"), "{all}");
    assert!(
        stdout(&sim, "sleeper").contains("slept 90000000000 ns"),
        "{all}"
    );
    assert_eq!(
        report.guest("sleeper").unwrap().end.as_nanos(),
        90_000_000_000
    );
    assert!(started.elapsed() < Duration::from_secs(60), "{all}");
}

#[test]
fn a_0_3_guest_resolves_names_and_connects_refused() {
    let (mut sim, server, client) = two_hosts(5, Duration::from_millis(1));
    sim.spawn(guest("resolver", server, "p3-net", &["resolve", "client"]));
    sim.spawn(guest(
        "refused",
        client,
        "p3-net",
        &["echo-client", "10.0.0.1:9", "1", "x"],
    ));
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(exited(&report, "resolver"), "{all}");
    assert!(
        stdout(&sim, "resolver").contains("address IpAddress::Ipv4((10, 0, 0, 2))"),
        "{all}"
    );
    // As on wasmtime: `connect` reports the refusal and the program exits 1.
    assert_eq!(
        report.guest("refused").unwrap().outcome,
        Outcome::Exited(1),
        "{all}"
    );
    let err = sim.output(sim.guest_id("refused").unwrap()).stderr();
    assert!(err.contains("ConnectionRefused"), "{all}");
}

/// Two runs of a 0.3 world under loss and jitter, with the same seed, are identical.
#[test]
fn a_0_3_world_replays_exactly() {
    let run = |seed: u64| {
        let (mut sim, server, client) = two_hosts(seed, Duration::from_millis(3));
        sim.with_net(|net| {
            let mut link = LinkConfig::with_latency(Duration::from_millis(3));
            link.loss = 0.05;
            link.jitter = Duration::from_millis(2);
            net.set_link(server, client, link)
        })
        .unwrap();
        sim.spawn(guest("server", server, "p3-net", &["echo-server", "7000"]).daemon());
        sim.spawn(
            guest(
                "bulk",
                client,
                "p3-net",
                &["bulk", "10.0.0.1:7000", "200000"],
            )
            .start_at(Duration::from_millis(1)),
        );
        sim.spawn(
            guest(
                "chat",
                client,
                "p3-net",
                &["echo-client", "10.0.0.1:7000", "20", "hi"],
            )
            .start_at(Duration::from_millis(1)),
        );
        let report = sim.run();
        let all = describe(&sim, &report);
        assert!(exited(&report, "bulk") && exited(&report, "chat"), "{all}");
        (report.trace_hash, report.end, all)
    };
    let a = run(11);
    let b = run(11);
    assert_eq!(a, b);
    let c = run(12);
    assert_ne!(a.0, c.0, "another seed draws other losses");
}

/// A 0.3 guest that computes is preempted by its fuel slices as a 0.2 guest is: its
/// computation costs virtual time, and a runaway one meets the busy limit.
#[test]
fn a_0_3_guest_computing_is_preempted_and_limited() {
    let (mut sim, server, _) = two_hosts(6, Duration::from_millis(1));
    sim.spawn(guest("a", server, "p3-net", &["spin", "20"]));
    sim.spawn(guest("b", server, "p3-net", &["spin", "20"]));
    let runaway = simnet_wasi::Limits {
        busy: Some(Duration::from_millis(20)),
        ..Default::default()
    };
    sim.spawn(guest("runaway", server, "p3-net", &["spin", "100000"]).limits(runaway));
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(exited(&report, "a") && exited(&report, "b"), "{all}");
    // Each took many slices, interleaved with the other's.
    let (a, b) = (report.guest("a").unwrap(), report.guest("b").unwrap());
    assert!(a.end.as_nanos() > 10_000_000, "{all}");
    assert!(
        a.end.as_nanos().abs_diff(b.end.as_nanos()) < 5_000_000,
        "{all}"
    );
    assert!(
        matches!(
            report.guest("runaway").unwrap().outcome,
            Outcome::LimitExceeded {
                limit: simnet_wasi::Limit::Busy,
                ..
            }
        ),
        "{all}"
    );
}

/// A crash ends a 0.3 server with its host (its peers see resets), and a restart
/// starts it afresh on the same port.
#[test]
fn a_0_3_server_crashes_and_restarts() {
    let (mut sim, server, client) = two_hosts(7, Duration::from_millis(2));
    sim.spawn(guest("server", server, "p3-net", &["echo-server", "7000"]).daemon());
    sim.spawn(
        guest(
            "first",
            client,
            "p3-net",
            &["echo-client", "10.0.0.1:7000", "1000", "ping"],
        )
        .start_at(Duration::from_millis(1)),
    );
    sim.run_until(|s| s.printed("first", "round 5:"))
        .expect("the first client gets going");
    sim.crash("server", simnet_core::CrashMode::Reset).unwrap();
    sim.run_for(Duration::from_millis(10)).unwrap();
    sim.restart("server").unwrap();
    sim.spawn(
        guest(
            "second",
            client,
            "p3-net",
            &["echo-client", "10.0.0.1:7000", "2", "again"],
        )
        .start_at(Duration::from_nanos(sim.now().as_nanos()) + Duration::from_millis(5)),
    );
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(exited(&report, "second"), "{all}");
    // The first client's connection was reset under it.
    assert_eq!(
        report.guest("first").unwrap().outcome,
        Outcome::Exited(1),
        "{all}"
    );
    assert!(stdout(&sim, "first").contains(": connection lost"), "{all}");
    assert!(stdout(&sim, "second").contains("round 1: again"), "{all}");
    assert_eq!(
        stdout(&sim, "server").matches("listening on 7000").count(),
        2,
        "{all}"
    );
}

/// A resource limit (wasmtime's `-S max-resources`) ends a 0.3 guest that holds
/// more handles than it allows, as on wasmtime, and others run on.
#[test]
fn a_0_3_guest_over_its_resource_limit_fails_as_on_wasmtime() {
    let (mut sim, server, client) = two_hosts(8, Duration::from_millis(1));
    sim.spawn(guest("server", server, "p3-net", &["echo-server", "7000"]).daemon());
    let few = simnet_wasi::Limits {
        resources: Some(20),
        ..Default::default()
    };
    sim.spawn(
        guest(
            "greedy",
            client,
            "p3-net",
            &["clients", "10.0.0.1:7000", "50", "1", "8"],
        )
        .limits(few)
        .start_at(Duration::from_millis(1)),
    );
    sim.spawn(
        guest(
            "modest",
            client,
            "p3-net",
            &["clients", "10.0.0.1:7000", "50", "1", "8"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let all = describe(&sim, &report);
    match &report.guest("greedy").unwrap().outcome {
        Outcome::Trapped { message, .. } => {
            assert!(message.contains("resource table has no free keys"), "{all}")
        }
        other => panic!("greedy: {other}\n{all}"),
    }
    assert!(exited(&report, "modest"), "{all}");
    assert!(
        stdout(&sim, "modest").contains("50 of 50 connections made 1 round trips"),
        "{all}"
    );
}

/// A 0.3 guest waiting on a socket that never becomes ready is reported deadlocked,
/// naming what it waits for, at once (not after waiting for host I/O).
#[test]
fn a_stuck_0_3_guest_is_reported_with_what_it_waits_for() {
    let (mut sim, server, client) = two_hosts(9, Duration::from_millis(1));
    // The sink reads until the end of the stream; the client waits for an echo.
    sim.spawn(guest("sink", server, "p3-net", &["sink", "7000"]));
    sim.spawn(
        guest(
            "client",
            client,
            "p3-net",
            &["echo-client", "10.0.0.1:7000", "1", "anyone?"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let started = std::time::Instant::now();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(started.elapsed() < Duration::from_secs(30), "{all}");
    assert_eq!(report.stop, simnet_wasi::StopReason::Idle, "{all}");
    match &report.guest("client").unwrap().outcome {
        Outcome::Deadlocked { waiting } => {
            assert!(
                waiting.iter().any(|w| w.starts_with("read on socket")),
                "{all}"
            )
        }
        other => panic!("client: {other}\n{all}"),
    }
    match &report.guest("sink").unwrap().outcome {
        Outcome::Deadlocked { waiting } => {
            assert!(
                waiting.iter().any(|w| w.starts_with("read on socket")),
                "{all}"
            )
        }
        other => panic!("sink: {other}\n{all}"),
    }
}

/// A power loss (a silent crash) ends a 0.3 guest with its host; its peer finds
/// out only through its own timeout, as with 0.2 guests.
#[test]
fn a_silent_crash_ends_a_0_3_guest_and_leaves_its_peer_waiting() {
    let (mut sim, server, client) = two_hosts(10, Duration::from_millis(1));
    sim.spawn(guest("server", server, "p3-net", &["echo-server", "7000"]).daemon());
    sim.spawn(
        guest(
            "client",
            client,
            "p3-net",
            &["echo-client", "10.0.0.1:7000", "100000", "x"],
        )
        .start_at(Duration::from_millis(1)),
    );
    sim.run_until(|s| s.printed("client", "round 3:")).unwrap();
    sim.crash("server", simnet_core::CrashMode::Silent).unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(
        matches!(
            report.guest("server").unwrap().outcome,
            Outcome::Crashed { .. }
        ),
        "{all}"
    );
    // Nothing tells the client: it retransmits until TCP gives up, then its
    // stream ends.
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Exited(1),
        "{all}"
    );
    assert!(stdout(&sim, "client").contains("connection lost"), "{all}");
    assert!(report.end.as_nanos() > 60_000_000_000, "{all}");
}

/// A 0.3 guest awaiting the result of a stream it never reads (which only the
/// stream's end brings) is reported deadlocked, saying so.
#[test]
fn a_0_3_guest_awaiting_a_result_that_cannot_come_is_reported() {
    let (mut sim, server, client) = two_hosts(11, Duration::from_millis(1));
    sim.spawn(guest("server", server, "p3-net", &["echo-server", "7000"]).daemon());
    sim.spawn(
        guest(
            "client",
            client,
            "p3-net",
            &["await-result", "10.0.0.1:7000"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let started = std::time::Instant::now();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(started.elapsed() < Duration::from_secs(30), "{all}");
    match &report.guest("client").unwrap().outcome {
        Outcome::Deadlocked { waiting } => assert!(
            waiting.iter().any(|w| w.contains("the result of a stream")),
            "{all}"
        ),
        other => panic!("client: {other}\n{all}"),
    }
}

/// A failed accept hands a 0.3 server a socket that reports the error on every
/// call, as wasmtime-wasi's does; the server takes the next connection after it.
#[test]
fn a_failed_accept_hands_out_a_socket_that_reports_it() {
    use simnet_core::ErrorCode;
    use simnet_wasi::{ApiFault, Effect, Method, Trigger};
    let (mut sim, server, client) = two_hosts(12, Duration::from_millis(1));
    sim.spawn(guest(
        "server",
        server,
        "p3-net",
        &["echo-server", "7000", "2"],
    ));
    sim.spawn(
        guest(
            "client",
            client,
            "p3-net",
            &["echo-client", "10.0.0.1:7000", "2", "hi"],
        )
        .start_at(Duration::from_millis(1)),
    );
    sim.inject(ApiFault {
        host: Some(server),
        method: Method::Accept,
        trigger: Trigger::Nth(1),
        effect: Effect::Error(ErrorCode::ConnectionAborted),
    })
    .unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    let out = stdout(&sim, "server");
    assert!(
        out.contains(
            "connection 1 done: 0 bytes, Err(ErrorCode::ConnectionAborted), \
             Err(ErrorCode::ConnectionAborted)"
        ),
        "{all}"
    );
    assert!(
        out.contains("connection 2 done: 4 bytes, Ok(()), Ok(())"),
        "{all}"
    );
    assert!(
        exited(&report, "client") && exited(&report, "server"),
        "{all}"
    );
}

/// A 0.3 program that talks over Rust std's sockets (WASI 0.2's, called from its
/// 0.3 `run`) is woken when its socket is ready, as a 0.2 guest is.
#[test]
fn a_0_3_guest_using_0_2_sockets_runs() {
    let (mut sim, server, client) = two_hosts(13, Duration::from_millis(2));
    sim.spawn(guest("server", server, "p3-net", &["echo-server", "7000"]).daemon());
    sim.spawn(
        guest(
            "client",
            client,
            "p3-net",
            &["std-client", "10.0.0.1:7000", "3"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(exited(&report, "client"), "{all}");
    assert!(
        stdout(&sim, "client").contains("std round 2: hello"),
        "{all}"
    );
}

/// The baseline compiler runs 0.3 guests too.
#[test]
fn winch_runs_a_0_3_guest() {
    use simnet_wasi::{Compiler, GuestSpec, Runtime, Sim, SimConfig};
    let config = Compiler::Winch
        .config()
        .expect("winch is built in for the tests");
    let rt = Runtime::with_config(&config, None).expect("a winch runtime");
    let p3 = simnet_guests::P3_NET;
    let program = rt
        .load_bytes(p3.name, p3.bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sim = Sim::new(&rt, SimConfig::new(1));
    let host = sim.add_host("a", &["10.0.0.1".parse().unwrap()]).unwrap();
    sim.spawn(GuestSpec::new("sleeper", host, program).args(["sleep", "20"]));
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(exited(&report, "sleeper"), "{all}");
    assert!(
        stdout(&sim, "sleeper").contains("slept 20000000 ns"),
        "{all}"
    );
}

/// A sleep that lost its race (a timeout) is taken back: the clock does not move
/// on to it, so a guest stuck afterwards is reported at once, not an hour later.
#[test]
fn a_timeout_that_lost_its_race_does_not_move_the_clock() {
    let (mut sim, server, client) = two_hosts(14, Duration::from_millis(1));
    sim.spawn(guest("server", server, "p3-net", &["echo-server", "7000"]).daemon());
    sim.spawn(
        guest(
            "client",
            client,
            "p3-net",
            &["race-then-hang", "10.0.0.1:7000"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(stdout(&sim, "client").contains("the echo won"), "{all}");
    assert!(
        matches!(
            report.guest("client").unwrap().outcome,
            Outcome::Deadlocked { .. }
        ),
        "{all}"
    );
    // Well before the hour (the network's own timers still run a while).
    assert!(report.end.as_nanos() < 60_000_000_000, "{all}");
}
