//! Guests that spin, exhaust memory or block forever: the simulation reports each and
//! goes on.

mod common;

use std::time::Duration;

use common::{describe, guest, two_hosts};
use simnet_wasi::{Limit, Limits, Outcome, StopReason};

#[test]
fn a_spinning_guest_is_preempted_and_others_progress() {
    let (mut sim, server, client) = two_hosts(1, Duration::from_millis(1));
    let budget = Limits {
        virtual_time: Some(Duration::from_secs(2)),
        ..Limits::default()
    };
    sim.spawn(guest("spinner", server, "probe", &["spin"]).limits(budget));
    sim.spawn(guest("sleeper", client, "probe", &["sleep", "1"]));
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("sleeper").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    let spinner = report.guest("spinner").unwrap();
    assert!(
        matches!(
            spinner.outcome,
            Outcome::LimitExceeded {
                limit: Limit::VirtualTime,
                ..
            }
        ),
        "{all}"
    );
    // Computing costs virtual time: the spinner was stopped at its budget.
    assert!(spinner.end.as_nanos() >= 2_000_000_000, "{all}");
}

#[test]
fn busy_waiting_on_the_clock_terminates() {
    let (mut sim, server, _) = two_hosts(2, Duration::from_millis(1));
    sim.spawn(guest("spin-until", server, "probe", &["spin-until", "50"]));
    let report = sim.run();
    assert_eq!(
        report.guests[0].outcome,
        Outcome::Exited(0),
        "{}",
        describe(&sim, &report)
    );
}

#[test]
fn fuel_limit_stops_a_guest() {
    let (mut sim, server, _) = two_hosts(3, Duration::from_millis(1));
    let budget = Limits {
        fuel: Some(50_000_000),
        ..Limits::default()
    };
    sim.spawn(guest("spinner", server, "probe", &["spin"]).limits(budget));
    let report = sim.run();
    assert!(
        matches!(
            report.guests[0].outcome,
            Outcome::LimitExceeded {
                limit: Limit::Fuel,
                ..
            }
        ),
        "{}",
        describe(&sim, &report)
    );
}

#[test]
fn memory_limit_traps_the_guest_with_a_clear_message() {
    let (mut sim, server, _) = two_hosts(4, Duration::from_millis(1));
    let small = Limits {
        memory: Some(16 << 20),
        ..Limits::default()
    };
    sim.spawn(guest("hog", server, "probe", &["alloc", "64"]).limits(small.clone()));
    sim.spawn(guest("modest", server, "probe", &["alloc", "4"]).limits(small));
    let report = sim.run();
    let all = describe(&sim, &report);
    let Outcome::LimitExceeded {
        limit: Limit::Memory,
        detail,
    } = &report.guest("hog").unwrap().outcome
    else {
        panic!("{all}")
    };
    assert!(detail.contains("limit is 16777216"), "{detail}");
    assert_eq!(
        report.guest("modest").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
}

#[test]
fn a_deadlock_names_what_each_guest_waits_for() {
    let (mut sim, server, client) = two_hosts(5, Duration::from_millis(1));
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
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(report.stop, StopReason::Idle);
    let Outcome::Deadlocked { waiting } = &report.guest("client").unwrap().outcome else {
        panic!("{all}")
    };
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(
        waiting[0].starts_with("read on socket 10.0.0.2:"),
        "{waiting:?}"
    );
    assert!(
        waiting[0].ends_with("-> 10.0.0.1:80 (Connected)"),
        "{waiting:?}"
    );
    let Outcome::Running { waiting } = &report.guest("server").unwrap().outcome else {
        panic!("{all}")
    };
    assert_eq!(
        waiting,
        &["accept on socket 10.0.0.1:80 (Listening)".to_string()]
    );
}

#[test]
fn the_time_limit_stops_a_run_with_guests_still_running() {
    let mut config = simnet_wasi::SimConfig::new(6);
    config.time_limit = Some(Duration::from_secs(10));
    let mut sim = simnet_wasi::Sim::new(common::runtime(), config);
    let host = sim.add_host("h", &["10.1.0.1".parse().unwrap()]).unwrap();
    sim.spawn(guest("sleeper", host, "probe", &["sleep", "100"]));
    let report = sim.run();
    assert_eq!(report.stop, StopReason::TimeLimit);
    assert_eq!(report.end.as_nanos(), 10_000_000_000);
    assert!(matches!(report.guests[0].outcome, Outcome::Running { .. }));
}

#[test]
fn a_guest_that_starts_after_the_end_is_reported_not_started() {
    let (mut sim, server, client) = two_hosts(7, Duration::from_millis(1));
    sim.spawn(guest("quick", server, "probe", &["exit", "0"]));
    sim.spawn(
        guest("late", client, "probe", &["exit", "0"])
            .start_at(Duration::from_secs(5))
            .daemon(),
    );
    let report = sim.run();
    assert_eq!(report.guest("quick").unwrap().outcome, Outcome::Exited(0));
    assert_eq!(report.guest("late").unwrap().outcome, Outcome::NotStarted);
}
