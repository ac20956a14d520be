//! API-level faults: injected results at the wasi:sockets surface, short reads and
//! writes, stalls, chaos, and the report of the errors guests met.

mod common;

use std::time::Duration;

use common::{describe, guest, two_hosts};
use simnet_core::ErrorCode;
use simnet_wasi::{ApiErrorCount, ApiFault, Effect, Method, Outcome, Report, Trigger};

fn met(report: &Report, method: Method, error: ErrorCode) -> Option<&ApiErrorCount> {
    report
        .api_errors
        .iter()
        .find(|c| c.method == method && c.result == simnet_wasi::ApiResult::Error(error))
}

#[test]
fn short_reads_expose_a_client_that_expects_whole_messages() {
    let run = |short: bool| {
        let (mut sim, server, client) = two_hosts(1, Duration::from_millis(1));
        sim.spawn(guest("server", server, "echo-server", &["10.0.0.1:7"]).daemon());
        sim.spawn(
            guest(
                "client",
                client,
                "probe",
                &["naive-request", "10.0.0.1:7", "64"],
            )
            .start_at(Duration::from_millis(1)),
        );
        if short {
            let fault = ApiFault {
                host: Some(client),
                method: Method::Read,
                trigger: Trigger::Probability(1.0),
                effect: Effect::ShortRead,
            };
            sim.inject(fault).unwrap();
        }
        let report = sim.run();
        let out = sim.output(sim.guest_id("client").unwrap()).stdout();
        (report.guest("client").unwrap().outcome.clone(), out)
    };
    assert_eq!(
        run(false),
        (Outcome::Exited(0), "got the whole 64-byte reply\n".into())
    );
    assert_eq!(
        run(true),
        (
            Outcome::Exited(1),
            "BUG: expected a 64-byte reply, got 1 bytes\n".into()
        )
    );
}

#[test]
fn an_injected_accept_error_reaches_the_guest_and_is_reported() {
    let (mut sim, server, client) = two_hosts(2, Duration::from_millis(1));
    sim.spawn(guest("server", server, "echo-server", &["10.0.0.1:7", "1"]));
    sim.spawn(
        guest("client", client, "echo-client", &["10.0.0.1:7", "1", "8"])
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
    // The server sees the error, as Linux reports a connection reset before it was
    // accepted, and takes the next connection: the one still queued.
    assert_eq!(
        report.guest("server").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    assert!(
        all.contains("accept failed: Connection aborted") && all.contains("closed after 8 bytes"),
        "{all}"
    );
    let c = met(&report, Method::Accept, ErrorCode::ConnectionAborted).expect("reported");
    assert_eq!((c.natural, c.injected), (0, 1));
}

/// A client whose `nth` finish-connect gets an injected timeout: its output, how
/// many injected timeouts the report counts, and the whole run described.
fn connect_with_injected_timeout(nth: u64) -> (String, u64, String) {
    let (mut sim, _, client) = two_hosts(3, Duration::from_millis(1));
    sim.spawn(guest("server", client, "echo-server", &["10.0.0.2:7"]).daemon());
    sim.spawn(
        guest("client", client, "probe", &["refused", "10.0.0.2:7"])
            .start_at(Duration::from_millis(1)),
    );
    sim.inject(ApiFault {
        host: None,
        method: Method::FinishConnect,
        trigger: Trigger::Nth(nth),
        effect: Effect::Error(ErrorCode::Timeout),
    })
    .unwrap();
    let report = sim.run();
    let out = sim.output(sim.guest_id("client").unwrap()).stdout();
    let injected =
        met(&report, Method::FinishConnect, ErrorCode::Timeout).map_or(0, |c| c.injected);
    (out, injected, describe(&sim, &report))
}

#[test]
fn an_injected_connect_timeout_fails_the_connect() {
    let (out, injected, run) = connect_with_injected_timeout(1);
    assert!(out.contains("(TimedOut)"), "{run}");
    assert_eq!(injected, 1);
}

/// wasi-libc's connect calls finish-connect once (would-block), waits on the
/// socket's pollable, then calls it again: the second call comes after the pollable
/// saw the handshake succeed (and took the outcome, as wasmtime-wasi's does). The
/// fault still fails it.
#[test]
fn an_injected_connect_timeout_fails_a_connect_the_pollable_saw_succeed() {
    let (out, injected, run) = connect_with_injected_timeout(2);
    assert!(out.contains("(TimedOut)"), "{run}");
    assert_eq!(injected, 1);
}

#[test]
fn natural_errors_are_counted_too() {
    let (mut sim, _, client) = two_hosts(4, Duration::from_millis(1));
    sim.spawn(guest("client", client, "probe", &["refused", "10.0.0.1:9"]));
    let report = sim.run();
    let c = met(&report, Method::FinishConnect, ErrorCode::ConnectionRefused).expect("counted");
    assert_eq!((c.natural, c.injected), (1, 0));
}

#[test]
fn short_writes_do_not_corrupt_a_correct_transfer() {
    let (mut sim, server, client) = two_hosts(5, Duration::from_millis(1));
    sim.spawn(guest(
        "server",
        server,
        "probe",
        &["bulk-recv", "10.0.0.1:80"],
    ));
    sim.spawn(
        guest(
            "client",
            client,
            "probe",
            &["bulk-send", "10.0.0.1:80", "200000"],
        )
        .start_at(Duration::from_millis(1)),
    );
    for (host, method, effect) in [
        (client, Method::Write, Effect::ShortWrite),
        (server, Method::Read, Effect::ShortRead),
    ] {
        sim.inject(ApiFault {
            host: Some(host),
            method,
            trigger: Trigger::Probability(0.3),
            effect,
        })
        .unwrap();
    }
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    assert_eq!(
        report.guest("server").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
}

#[test]
fn a_stalled_read_trips_a_tight_timeout() {
    let (mut sim, server, client) = two_hosts(6, Duration::from_millis(5));
    sim.spawn(guest("server", server, "echo-server", &["10.0.0.1:7"]).daemon());
    sim.spawn(
        guest(
            "client",
            client,
            "probe",
            &["ping", "10.0.0.1:7", "3", "200"],
        )
        .start_at(Duration::from_millis(1)),
    );
    sim.inject(ApiFault {
        host: Some(client),
        method: Method::Read,
        trigger: Trigger::Nth(2),
        effect: Effect::Stall(Duration::from_secs(1)),
    })
    .unwrap();
    let report = sim.run();
    let out = sim.output(sim.guest_id("client").unwrap()).stdout();
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Exited(1),
        "{out}"
    );
    assert!(out.contains("no reply within 200 ms"), "{out}");
}

#[test]
fn chaos_is_seeded_and_reported() {
    let run = |seed| {
        let (mut sim, server, client) = two_hosts(seed, Duration::from_millis(1));
        sim.spawn(guest("server", server, "many", &["serve", "10.0.0.1:7"]).daemon());
        sim.spawn(
            guest(
                "clients",
                client,
                "many",
                &["clients", "10.0.0.1:7", "6", "5000"],
            )
            .start_at(Duration::from_millis(1)),
        );
        sim.set_chaos(0.05).unwrap();
        let report = sim.run();
        let out = sim.output(sim.guest_id("clients").unwrap()).stdout();
        (report, out)
    };
    let (a, out_a) = run(7);
    let (b, out_b) = run(7);
    assert_eq!(a, b);
    assert_eq!(out_a, out_b);
    let injected: u64 = a.api_errors.iter().map(|c| c.injected).sum();
    assert!(injected > 0, "{:?}", a.api_errors);
}

#[test]
fn faults_a_method_cannot_have_are_refused() {
    let (mut sim, server, _) = two_hosts(8, Duration::from_millis(1));
    let bad = ApiFault {
        host: Some(server),
        method: Method::Accept,
        trigger: Trigger::Nth(1),
        effect: Effect::Error(ErrorCode::AddressInUse),
    };
    let e = sim.inject(bad).unwrap_err();
    assert!(e.starts_with("accept cannot fail with address-in-use: its injectable errors are connection-aborted, new-socket-limit"), "{e}");
    let bad = ApiFault {
        host: None,
        method: Method::StartBind,
        trigger: Trigger::Nth(1),
        effect: Effect::ShortRead,
    };
    assert!(sim.inject(bad).is_err());
    let bad = ApiFault {
        host: None,
        method: Method::Read,
        trigger: Trigger::Probability(2.0),
        effect: Effect::ShortRead,
    };
    assert!(sim.inject(bad).unwrap_err().contains("probability"));
    assert!(sim.set_chaos(-0.1).is_err());
}

#[test]
fn udp_calls_can_be_failed_and_their_natural_errors_are_counted() {
    let run = |fault: Option<(Method, Effect)>| {
        let (mut sim, server, _) = two_hosts(1, Duration::from_millis(1));
        sim.spawn(guest("udp", server, "conformance-udp", &[]));
        if let Some((method, effect)) = fault {
            let f = ApiFault {
                host: Some(server),
                method,
                trigger: Trigger::Nth(1),
                effect,
            };
            sim.inject(f).unwrap();
        }
        let report = sim.run();
        let out = sim.output(sim.guest_id("udp").unwrap()).stdout();
        (report, out)
    };
    let (report, out) = run(None);
    assert!(out.contains("send one: ok 1\n"), "{out}");
    // The run's own refusals (a closed port) are counted as met, not injected.
    let refused = met(&report, Method::Receive, ErrorCode::ConnectionRefused).unwrap();
    assert!(refused.natural >= 1 && refused.injected == 0, "{refused:?}");
    let failing = (Method::Send, Effect::Error(ErrorCode::RemoteUnreachable));
    let (report, out) = run(Some(failing));
    assert!(
        out.contains("send one: error remote-unreachable\n"),
        "{out}"
    );
    let injected = met(&report, Method::Send, ErrorCode::RemoteUnreachable).unwrap();
    assert_eq!(injected.injected, 1);
    let bad = ApiFault {
        host: None,
        method: Method::Send,
        trigger: Trigger::Nth(1),
        effect: Effect::ShortWrite,
    };
    let (mut sim, _, _) = two_hosts(1, Duration::from_millis(1));
    assert!(sim.inject(bad).is_err());
}

/// A stalled `receive` finds nothing for the stall's duration even for a guest that
/// never polls (a non-blocking socket read in a loop), so a stall counted as met has
/// an effect: here the client's retries run out before the stall ends.
#[test]
fn a_stalled_receive_finds_nothing_even_without_polling() {
    let run = |stall: Option<Duration>| {
        let (mut sim, server, client) = two_hosts(3, Duration::from_millis(5));
        sim.spawn(guest("server", server, "probe", &["udp-serve", "10.0.0.1:53"]).daemon());
        sim.spawn(
            guest(
                "client",
                client,
                "probe",
                &["udp-request", "10.0.0.1:53", "5", "50", "10"],
            )
            .start_at(Duration::from_millis(5)),
        );
        if let Some(d) = stall {
            let fault = ApiFault {
                host: Some(client),
                method: Method::Receive,
                trigger: Trigger::Nth(1),
                effect: Effect::Stall(d),
            };
            sim.inject(fault).unwrap();
        }
        let report = sim.run();
        let all = describe(&sim, &report);
        (report.guest("client").unwrap().outcome.clone(), all)
    };
    let (outcome, all) = run(None);
    assert_eq!(outcome, Outcome::Exited(0), "{all}");
    let (outcome, all) = run(Some(Duration::from_secs(10)));
    assert_eq!(outcome, Outcome::Exited(1), "{all}");
    assert!(all.contains("request 0: no answer after 10 tries"), "{all}");
    // A stall shorter than the retries is waited out.
    let (outcome, all) = run(Some(Duration::from_millis(120)));
    assert_eq!(outcome, Outcome::Exited(0), "{all}");
    assert!(!all.contains("(0 resent)"), "{all}");
}
