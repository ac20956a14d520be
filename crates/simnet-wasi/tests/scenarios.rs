//! The project's guests on simnet: each scenario checks the guest's outcome and what
//! it printed.

mod common;

use std::time::Duration;

use common::{describe, guest, two_hosts};
use simnet_core::LinkConfig;
use simnet_wasi::{Capabilities, Outcome, Report, Sim};

fn stdout(sim: &Sim, name: &str) -> String {
    sim.output(sim.guest_id(name).unwrap()).stdout()
}

fn assert_exited(sim: &Sim, report: &Report, name: &str, code: i32) {
    assert_eq!(
        report.guest(name).unwrap().outcome,
        Outcome::Exited(code),
        "{}",
        describe(sim, report)
    );
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let (mut sim, _, client) = two_hosts(1, Duration::from_millis(2));
    sim.spawn(guest(
        "client",
        client,
        "probe",
        &["refused", "10.0.0.1:9999"],
    ));
    let report = sim.run();
    assert_exited(&sim, &report, "client", 0);
    assert_eq!(
        stdout(&sim, "client"),
        "connect to 10.0.0.1:9999: refused\n"
    );
    // One round trip: SYN out, RST back.
    assert_eq!(report.guest("client").unwrap().end.as_nanos(), 4_000_000);
}

#[test]
fn half_close_lets_the_server_answer_after_end_of_stream() {
    let (mut sim, server, client) = two_hosts(2, Duration::from_millis(3));
    sim.spawn(guest(
        "server",
        server,
        "probe",
        &["half-close-server", "10.0.0.1:80"],
    ));
    sim.spawn(
        guest(
            "client",
            client,
            "probe",
            &["half-close-client", "10.0.0.1:80"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    assert_exited(&sim, &report, "client", 0);
    assert_exited(&sim, &report, "server", 0);
    assert_eq!(
        stdout(&sim, "client"),
        "reply: 24 bytes: HELLO, HALF-CLOSED WORLD\n"
    );
    assert_eq!(stdout(&sim, "server"), "answered after end of stream\n");
}

#[test]
fn long_sleeps_cost_virtual_time_only() {
    let (mut sim, _, client) = two_hosts(3, Duration::from_millis(1));
    // Ten minutes in 600 one-second sleeps.
    sim.spawn(guest("sleeper", client, "probe", &["sleep", "600", "600"]));
    let report = sim.run();
    assert_exited(&sim, &report, "sleeper", 0);
    // The wall clock starts at 2025-01-01T00:00:00Z and moves with virtual time.
    assert_eq!(
        stdout(&sim, "sleeper"),
        "slept 600s; wall clock 1735690200s\n"
    );
    assert_eq!(report.end.as_nanos(), 600_000_000_000);
}

#[test]
fn read_timeout_fires_on_virtual_time() {
    let (mut sim, server, client) = two_hosts(4, Duration::from_millis(5));
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
        guest(
            "client",
            client,
            "probe",
            &["read-timeout", "10.0.0.1:80", "1500"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    assert_exited(&sim, &report, "client", 0);
    assert_eq!(stdout(&sim, "client"), "read timed out after 1.5s\n");
    assert!(matches!(
        report.guest("server").unwrap().outcome,
        Outcome::Running { .. }
    ));
}

#[test]
fn multi_megabyte_transfer_survives_loss_under_many_seeds() {
    for seed in 0..6 {
        let (mut sim, server, client) = two_hosts(seed, Duration::from_millis(2));
        sim.with_net(|net| {
            net.set_link(
                server,
                client,
                LinkConfig {
                    loss: 0.02,
                    ..LinkConfig::with_latency(Duration::from_millis(2))
                },
            )
        })
        .unwrap();
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
                &["bulk-send", "10.0.0.1:80", "4194304"],
            )
            .start_at(Duration::from_millis(1)),
        );
        let report = sim.run();
        assert_exited(&sim, &report, "client", 0);
        assert_exited(&sim, &report, "server", 0);
        assert_eq!(
            stdout(&sim, "server"),
            "received 4194304 bytes\n",
            "seed {seed}"
        );
    }
}

#[test]
fn many_concurrent_connections_polled_together() {
    for seed in 0..4 {
        let (mut sim, server, client) = two_hosts(seed, Duration::from_millis(1));
        sim.with_net(|net| {
            net.set_link(
                server,
                client,
                LinkConfig {
                    jitter: Duration::from_micros(500),
                    loss: 0.01,
                    ..LinkConfig::with_latency(Duration::from_millis(1))
                },
            )
        })
        .unwrap();
        sim.spawn(guest("server", server, "many", &["serve", "10.0.0.1:80"]).daemon());
        sim.spawn(
            guest(
                "clients",
                client,
                "many",
                &["clients", "10.0.0.1:80", "40", "20000"],
            )
            .start_at(Duration::from_millis(1)),
        );
        let report = sim.run();
        assert_exited(&sim, &report, "clients", 0);
        assert_eq!(
            stdout(&sim, "clients"),
            "40 of 40 clients echoed 20000 bytes\n",
            "seed {seed}"
        );
        // The run ends when the clients do; the server (a daemon) is still serving.
        assert!(matches!(
            report.guest("server").unwrap().outcome,
            Outcome::Running { .. }
        ));
    }
}

#[test]
fn a_full_backlog_leaves_later_connections_pending() {
    let (mut sim, server, client) = two_hosts(5, Duration::from_millis(1));
    let late = sim
        .add_host("late", &["10.0.0.3".parse().unwrap()])
        .unwrap();
    sim.spawn(guest(
        "server",
        server,
        "many",
        &["listen", "10.0.0.1:80", "2", "10"],
    ));
    sim.spawn(
        guest(
            "client",
            client,
            "many",
            &["connect-all", "10.0.0.1:80", "6", "500"],
        )
        .start_at(Duration::from_millis(1)),
    );
    sim.spawn(
        guest(
            "late",
            late,
            "many",
            &["connect-all", "10.0.0.1:80", "3", "500"],
        )
        .start_at(Duration::from_millis(100)),
    );
    let report = sim.run();
    assert_exited(&sim, &report, "client", 0);
    assert_exited(&sim, &report, "late", 0);
    // Six SYNs arriving together all find the accept queue empty, so Linux answers
    // them all (three from its SYN queue, three with SYN cookies) and every client
    // handshake completes; the server queues backlog + 1 of them. Later SYNs find
    // the accept queue full and are dropped, so those connects stay pending.
    let all = describe(&sim, &report);
    assert_eq!(
        stdout(&sim, "client"),
        "6 of 6 connections established within 500 ms\n",
        "{all}"
    );
    assert_eq!(
        stdout(&sim, "late"),
        "0 of 3 connections established within 500 ms\n",
        "{all}"
    );
}

#[test]
fn names_resolve_to_simulated_hosts() {
    let (mut sim, _, client) = two_hosts(6, Duration::from_millis(1));
    sim.spawn(guest(
        "resolver",
        client,
        "probe",
        &[
            "resolve",
            "server",
            "CLIENT",
            "localhost",
            "10.9.8.7",
            "nosuch",
        ],
    ));
    let report = sim.run();
    assert_exited(&sim, &report, "resolver", 0);
    let out = stdout(&sim, "resolver");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "server: 10.0.0.1");
    assert_eq!(lines[1], "CLIENT: 10.0.0.2");
    assert_eq!(lines[2], "localhost: 127.0.0.1 ::1");
    assert_eq!(lines[3], "10.9.8.7: 10.9.8.7");
    assert!(lines[4].starts_with("nosuch: error"), "{out}");
}

#[test]
fn capability_switches_deny_sockets_and_lookups() {
    let (mut sim, server, client) = two_hosts(7, Duration::from_millis(1));
    let none = Capabilities {
        tcp: false,
        udp: false,
        ip_name_lookup: false,
    };
    sim.spawn(guest("server", server, "echo-server", &["10.0.0.1:80"]).daemon());
    sim.spawn(guest("no-tcp", client, "probe", &["refused", "10.0.0.1:80"]).capabilities(none));
    sim.spawn(guest("no-lookup", client, "probe", &["resolve", "server"]).capabilities(none));
    let udp_args = ["udp-request", "10.0.0.1:53", "1", "10", "1"];
    sim.spawn(guest("no-udp", client, "probe", &udp_args).capabilities(none));
    let report = sim.run();
    let no_udp = sim.output(sim.guest_id("no-udp").unwrap()).stderr();
    assert!(
        matches!(
            report.guest("no-udp").unwrap().outcome,
            Outcome::Trapped { .. }
        ) && no_udp.contains("PermissionDenied"),
        "{no_udp}"
    );
    assert_exited(&sim, &report, "no-tcp", 1);
    let denied = stdout(&sim, "no-tcp");
    assert!(denied.contains("PermissionDenied"), "{denied}");
    let lookup = stdout(&sim, "no-lookup");
    assert!(lookup.starts_with("server: error"), "{lookup}");
}

#[test]
fn args_env_random_and_clock_are_per_guest_and_seeded() {
    let run = |seed| {
        let (mut sim, server, _) = two_hosts(seed, Duration::from_millis(1));
        sim.spawn(
            guest("env", server, "probe", &["env"])
                .env("ROLE", "primary")
                .env("LEVEL", "3"),
        );
        let report = sim.run();
        assert_exited(&sim, &report, "env", 0);
        stdout(&sim, "env")
    };
    let a = run(11);
    assert!(a.contains(r#"args: ["probe", "env"]"#), "{a}");
    assert!(
        a.contains(r#"env: [("LEVEL", "3"), ("ROLE", "primary")]"#),
        "{a}"
    );
    assert!(a.contains("wall clock: 1735689600"), "{a}");
    assert!(a.contains("filesystem root readable: false"), "{a}");
    assert_eq!(run(11), a, "same seed, same output");
}

#[test]
fn a_crashed_guest_closes_its_connections() {
    // With nothing unread the crash closes gracefully: the peer reads end of stream.
    let (mut sim, server, client) = two_hosts(8, Duration::from_millis(2));
    sim.spawn(guest(
        "server",
        server,
        "probe",
        &["accept-then-trap", "10.0.0.1:80"],
    ));
    sim.spawn(
        guest("client", client, "probe", &["connect-hold", "10.0.0.1:80"])
            .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    assert!(matches!(
        report.guest("server").unwrap().outcome,
        Outcome::Trapped { .. }
    ));
    assert_exited(&sim, &report, "client", 0);
    assert_eq!(stdout(&sim, "client"), "read 0 bytes\n");

    // With unread data the kernel resets the connection after the FIN.
    let (mut sim, server, client) = two_hosts(8, Duration::from_millis(2));
    sim.spawn(guest(
        "server",
        server,
        "probe",
        &["accept-then-trap", "10.0.0.1:80", "50"],
    ));
    sim.spawn(
        guest(
            "client",
            client,
            "probe",
            &["send-then-hold", "10.0.0.1:80"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let server_report = &report.guest("server").unwrap().outcome;
    let Outcome::Trapped {
        message, backtrace, ..
    } = server_report
    else {
        panic!("{}", describe(&sim, &report))
    };
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        backtrace
            .as_deref()
            .is_some_and(|b| b.contains("rust_panic")),
        "{backtrace:?}"
    );
    let stderr = sim.output(sim.guest_id("server").unwrap()).stderr();
    assert!(
        stderr.contains("crashing while holding a connection"),
        "{stderr}"
    );
    // wasmtime-wasi shuts a socket's sending half down before closing it, so even
    // with unread data the peer gets a FIN before the RST, and reads end of stream
    // (the reset then fails its writes), as on wasmtime over Linux.
    assert_eq!(stdout(&sim, "client"), "read 0 bytes\n");
}

#[test]
fn exit_codes_are_reported() {
    let (mut sim, server, _) = two_hosts(9, Duration::from_millis(1));
    sim.spawn(guest("three", server, "probe", &["exit", "3"]));
    sim.spawn(guest("zero", server, "probe", &["exit", "0"]));
    sim.spawn(guest("bad-mode", server, "probe", &["no-such-mode"]));
    let report = sim.run();
    // WASI 0.2's stable `exit` carries success or failure only (`exit-with-code` is
    // unstable), so std's `exit(3)` ends as 1, as on wasmtime.
    assert_exited(&sim, &report, "three", 1);
    assert_exited(&sim, &report, "zero", 0);
    assert_exited(&sim, &report, "bad-mode", 1);
}

#[test]
fn echo_passes_under_many_seeds_and_link_settings() {
    for seed in 0..16u64 {
        let (mut sim, server, client) = two_hosts(seed, Duration::from_millis(1));
        let link = LinkConfig {
            jitter: Duration::from_micros(100 * seed),
            loss: (seed % 4) as f64 * 0.03,
            ..LinkConfig::with_latency(Duration::from_micros(200 + 500 * seed))
        };
        sim.with_net(|net| net.set_link(server, client, link))
            .unwrap();
        sim.spawn(guest("server", server, "echo-server", &["10.0.0.1:7", "1"]));
        sim.spawn(
            guest(
                "client",
                client,
                "echo-client",
                &["10.0.0.1:7", "50", "300"],
            )
            .start_at(Duration::from_micros(seed * 37)),
        );
        let report = sim.run();
        assert_exited(&sim, &report, "client", 0);
        assert!(
            stdout(&sim, "client").contains("50 round trips of 300 bytes"),
            "seed {seed}"
        );
    }
}

#[test]
fn a_tokio_connection_burst_far_beyond_the_backlog_completes_in_one_round_trip() {
    // 1,000 connects at once against a listener with Linux's default backlog of 128:
    // the SYN queue overflows into SYN cookies and the server accepts as connections
    // arrive, so none is dropped, none retransmitted, none times out.
    let (mut sim, server, client) = two_hosts(11, Duration::from_millis(5));
    sim.spawn(guest("server", server, "many", &["serve", "10.0.0.1:80"]).daemon());
    sim.spawn(
        guest(
            "client",
            client,
            "conformance-tokio",
            &["burst", "10.0.0.1:80", "50", "20"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    assert_exited(&sim, &report, "client", 0);
    assert_eq!(
        stdout(&sim, "client"),
        "1000 of 1000 connections echoed; failures: {}\n",
        "{}",
        describe(&sim, &report)
    );
    let end = report.guest("client").unwrap().end;
    assert!(
        end < simnet_core::SimTime::from_nanos(1_000_000_000),
        "the burst took until {end}: SYNs were retransmitted"
    );
}
