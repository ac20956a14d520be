//! Faults scheduled on a simulation of guests: crashes end the guests on a host (their
//! peers see resets or nothing), restarts start them afresh, partitions cut links.

mod common;

use std::time::Duration;

use common::{describe, guest, two_hosts};
use simnet_core::{CrashMode, Fault};
use simnet_wasi::{Outcome, When};

#[test]
fn a_reset_crash_ends_the_guests_on_the_host_and_resets_their_peers() {
    let (mut sim, server, client) = two_hosts(1, Duration::from_millis(5));
    sim.spawn(
        guest(
            "server",
            server,
            "probe",
            &["accept-forever", "10.0.0.1:80"],
        )
        .daemon(),
    );
    sim.spawn(
        guest("client", client, "probe", &["connect-hold", "10.0.0.1:80"])
            .start_at(Duration::from_millis(1)),
    );
    sim.schedule_fault(
        Duration::from_millis(100),
        Fault::Crash {
            host: server,
            mode: CrashMode::Reset,
        },
    )
    .unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("server").unwrap().outcome,
        Outcome::Crashed {
            mode: CrashMode::Reset
        },
        "{all}"
    );
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    let out = sim.output(sim.guest_id("client").unwrap()).stdout();
    assert!(out.starts_with("read failed:"), "{out}");
    // The reset reached the client one link latency after the crash.
    assert_eq!(report.guest("client").unwrap().end.as_nanos(), 105_000_000);
}

#[test]
fn after_a_silent_crash_and_restart_a_reader_without_keep_alive_never_notices() {
    let (mut sim, server, client) = two_hosts(2, Duration::from_millis(5));
    sim.spawn(
        guest(
            "server",
            server,
            "probe",
            &["accept-forever", "10.0.0.1:80"],
        )
        .daemon(),
    );
    sim.spawn(
        guest("client", client, "probe", &["connect-hold", "10.0.0.1:80"])
            .start_at(Duration::from_millis(1)),
    );
    sim.schedule_fault(
        Duration::from_millis(100),
        Fault::Crash {
            host: server,
            mode: CrashMode::Silent,
        },
    )
    .unwrap();
    sim.schedule_fault(Duration::from_secs(1), Fault::Restart { host: server })
        .unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    let server_report = report.guest("server").unwrap();
    assert!(
        matches!(server_report.outcome, Outcome::Running { .. }),
        "{all}"
    );
    assert_eq!(server_report.restarts, 1);
    // The restarted server listens again; the client, which only reads, waits forever
    // on a connection that no longer exists anywhere but on its side.
    let Outcome::Deadlocked { waiting } = &report.guest("client").unwrap().outcome else {
        panic!("{all}")
    };
    assert!(waiting[0].starts_with("read on socket"), "{waiting:?}");
    let server_out = sim.output(sim.guest_id("server").unwrap()).stdout();
    assert_eq!(
        server_out.matches("holding connection").count(),
        1,
        "{server_out}"
    );
}

/// A daemon crashed with a restart due after every other guest has finished is
/// waited for: the run ends once it runs again, not with it crashed or unstarted.
#[test]
fn the_run_waits_for_a_crashed_daemon_that_is_due_to_restart() {
    for (crash_ms, restart_ms) in [(9_500, 10_500), (9_500, 10_000), (3_000, 40_000)] {
        let (mut sim, server, client) = two_hosts(4, Duration::from_millis(5));
        sim.spawn(guest("server", server, "echo-server", &["10.0.0.1:7"]).daemon());
        sim.spawn(
            guest("late", client, "probe", &["say", "boom"]).start_at(Duration::from_secs(10)),
        );
        let crash = Fault::Crash {
            host: server,
            mode: CrashMode::Silent,
        };
        sim.schedule_fault(Duration::from_millis(crash_ms), crash)
            .unwrap();
        sim.schedule_fault(
            Duration::from_millis(restart_ms),
            Fault::Restart { host: server },
        )
        .unwrap();
        let report = sim.run();
        let all = describe(&sim, &report);
        let server = report.guest("server").unwrap();
        assert!(
            matches!(server.outcome, Outcome::Running { .. }),
            "restart at {restart_ms} ms: {all}"
        );
        assert_eq!(server.restarts, 1, "{all}");
        assert_eq!(
            sim.output_of("server")
                .unwrap()
                .stdout()
                .matches("listening")
                .count(),
            2,
            "{all}"
        );
        assert!(report.end.as_nanos() >= restart_ms * 1_000_000, "{all}");
    }
}

#[test]
fn a_partition_makes_connects_time_out_and_healing_restores_them() {
    let (mut sim, server, client) = two_hosts(3, Duration::from_millis(5));
    sim.spawn(guest("server", server, "echo-server", &["10.0.0.1:7"]).daemon());
    sim.spawn(
        guest("cut-off", client, "probe", &["refused", "10.0.0.1:7"])
            .start_at(Duration::from_millis(1)),
    );
    sim.spawn(
        guest("later", client, "echo-client", &["10.0.0.1:7", "3", "10"])
            .start_at(Duration::from_secs(200)),
    );
    sim.schedule_fault(
        Duration::ZERO,
        Fault::Partition {
            from: vec![client],
            to: vec![server],
            one_way: false,
        },
    )
    .unwrap();
    sim.schedule_fault(
        Duration::from_secs(150),
        Fault::Heal {
            from: vec![client],
            to: vec![server],
        },
    )
    .unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    // Linux gives up on a SYN after 6 retries: about 127 s.
    assert_eq!(
        report.guest("cut-off").unwrap().outcome,
        Outcome::Exited(1),
        "{all}"
    );
    let out = sim.output(sim.guest_id("cut-off").unwrap()).stdout();
    assert!(out.contains("TimedOut"), "{out}");
    assert_eq!(
        report.guest("later").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
}

#[test]
fn faulty_runs_are_reproducible() {
    let run = || {
        let (mut sim, server, client) = two_hosts(4, Duration::from_millis(2));
        sim.spawn(guest("server", server, "many", &["serve", "10.0.0.1:7"]).daemon());
        sim.spawn(guest(
            "clients",
            client,
            "many",
            &["clients", "10.0.0.1:7", "5", "30000"],
        ));
        sim.schedule_fault(
            Duration::from_millis(3),
            Fault::Clog {
                from: client,
                to: server,
                one_way: false,
            },
        )
        .unwrap();
        sim.schedule_fault(
            Duration::from_millis(400),
            Fault::Release {
                from: client,
                to: server,
            },
        )
        .unwrap();
        sim.schedule_fault(
            Duration::from_millis(500),
            Fault::ResetRandomConnection { between: vec![] },
        )
        .unwrap();
        let report = sim.run();
        (
            report.trace_hash,
            sim.output(sim.guest_id("clients").unwrap()).stdout(),
            report.guests[1].outcome.clone(),
        )
    };
    let a = run();
    assert_eq!(a, run());
}

/// A client pinging an echo server, ten times with a one-second timeout.
fn pinging(seed: u64) -> (simnet_wasi::Sim, simnet_core::HostId, simnet_core::HostId) {
    let (mut sim, server, client) = two_hosts(seed, Duration::from_millis(5));
    sim.spawn(guest("server", server, "echo-server", &["10.0.0.1:7"]).daemon());
    sim.spawn(
        guest(
            "client",
            client,
            "probe",
            &["ping", "10.0.0.1:7", "10", "1000"],
        )
        .start_at(Duration::from_millis(1)),
    );
    (sim, server, client)
}

#[test]
fn a_crash_triggered_by_a_write_stops_the_program_before_its_next_instruction() {
    let (mut sim, _, client) = pinging(4);
    sim.schedule_fault_when(
        client,
        When::Writes(2),
        Duration::ZERO,
        Fault::Crash {
            host: client,
            mode: CrashMode::Silent,
        },
    )
    .unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Crashed {
            mode: CrashMode::Silent
        },
        "{all}"
    );
    // Its second write returned, and nothing it did after that happened.
    let out = sim.output(sim.guest_id("client").unwrap()).stdout();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("ping 0: reply"), "{out}");
    // The crash came at the second write: one round trip (10 ms) after the first,
    // which followed the handshake (1 ms start + 10 ms).
    assert_eq!(
        report.guest("client").unwrap().end.as_nanos(),
        21_000_000,
        "{all}"
    );
}

#[test]
fn a_fault_can_wait_for_output_on_another_host_and_a_delay() {
    let (mut sim, server, client) = pinging(5);
    sim.schedule_fault_when(
        client,
        When::Output("ping 1:".into()),
        Duration::from_millis(3),
        Fault::Crash {
            host: server,
            mode: CrashMode::Reset,
        },
    )
    .unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("server").unwrap().outcome,
        Outcome::Crashed {
            mode: CrashMode::Reset
        },
        "{all}"
    );
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Exited(1),
        "{all}"
    );
    let out = sim.output(sim.guest_id("client").unwrap()).stdout();
    assert!(out.contains("ping 1: reply"), "{out}");
    assert!(out.contains("ping 2: no reply"), "{out}");
    // Ping 1's reply came at 31 ms; the crash 3 ms later.
    assert_eq!(
        report.guest("server").unwrap().end.as_nanos(),
        34_000_000,
        "{all}"
    );
}

#[test]
fn a_trigger_that_never_holds_fires_nothing_and_bad_triggers_are_refused() {
    let (mut sim, server, _) = pinging(6);
    let crash = Fault::Crash {
        host: server,
        mode: CrashMode::Reset,
    };
    sim.schedule_fault_when(server, When::Accepts(2), Duration::ZERO, crash.clone())
        .unwrap();
    for when in [
        When::Accepts(0),
        When::Writes(0),
        When::Output(String::new()),
    ] {
        assert!(
            sim.schedule_fault_when(server, when.clone(), Duration::ZERO, crash.clone())
                .is_err(),
            "{when:?}"
        );
    }
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    assert!(
        matches!(
            report.guest("server").unwrap().outcome,
            Outcome::Running { .. }
        ),
        "{all}"
    );
}
