//! The test harness as a user's test sees it: a world built by names, driven step by
//! step, faults applied from the test in the middle of a run, outputs read so far,
//! and reports that tell a healthy server from a failed one.

use std::time::Duration;

use simnet::{Builder, CrashMode, LinkConfig, Outcome, Program, StopReason};

fn guest(name: &str) -> Program {
    let g = simnet_guests::get(name).expect("a test guest");
    simnet::load(g.path).expect("the guest loads")
}

/// An echo server (a daemon) and a client doing `count` round trips of 64 bytes.
fn echo(seed: u64, count: u32) -> Builder {
    let count = count.to_string();
    Builder::new(seed)
        .default_link(LinkConfig::with_latency(Duration::from_millis(5)))
        .server("server", &guest("echo-server"), |g| g.arg("0.0.0.0:7000"))
        .client("client", &guest("echo-client"), move |g| {
            g.args(["server:7000", count.as_str(), "64"])
                .start_at(Duration::from_millis(1))
        })
}

#[test]
fn a_world_by_names_runs_and_a_running_server_is_a_success() {
    let mut sim = echo(1, 10).build().unwrap();
    let report = sim.run();
    assert!(report.is_success(), "{}", sim.explain(&report));
    assert_eq!(sim.explain(&report), "");
    let server = report.guest("server").unwrap();
    assert!(matches!(server.outcome, Outcome::Running { .. }));
    assert!(server.daemon && server.is_success());
    assert_eq!(server.outcome.exit_code(), None);
    assert!(!server.outcome.is_failure());
    assert!(sim.printed("client", "10 round trips"));
    // Undeclared hosts get addresses in order of first mention.
    let ip = sim.with_net(|net| net.resolve("client").unwrap());
    assert_eq!(ip, ["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]);
}

#[test]
fn run_until_stops_as_soon_as_the_condition_holds() {
    let mut sim = echo(2, 10).build().unwrap();
    sim.run_until(|sim| sim.printed("server", "listening"))
        .unwrap();
    assert!(sim.printed("server", "listening on"));
    assert!(
        !sim.printed("client", "connected"),
        "the client starts at 1 ms"
    );
    assert_eq!(sim.outcome_of("client"), None);
    sim.run_until(|sim| sim.outcome_of("client").is_some())
        .unwrap();
    assert!(sim.outcome_of("client").unwrap().is_success());
    // Nothing is left that must finish.
    let stopped = sim
        .run_until(|sim| sim.printed("server", "never printed"))
        .unwrap_err();
    assert_eq!(stopped.reason, StopReason::AllFinished);
    assert_eq!(stopped.failed, "", "nobody failed");
}

#[test]
fn run_for_moves_the_clock_exactly_and_step_makes_progress() {
    let mut sim = echo(3, 1).build().unwrap();
    sim.run_for(Duration::from_micros(500)).unwrap();
    assert_eq!(sim.now().as_nanos(), 500_000);
    assert!(
        sim.printed("server", "listening"),
        "the server started at 0"
    );
    let mut steps = 0;
    while sim.outcome_of("client").is_none() {
        sim.step().expect("something can happen");
        steps += 1;
    }
    assert!(steps > 3, "a round trip takes several steps: {steps}");
    // Past the end of all activity the clock still moves to where it was asked.
    sim.run_for(Duration::from_secs(10)).unwrap();
    assert!(sim.now().as_nanos() > 10_000_000_000);
}

#[test]
fn faults_applied_from_the_test_take_effect_at_once() {
    let mut sim = echo(4, 1_000).build().unwrap();
    sim.run_until(|sim| sim.printed("client", "connected"))
        .unwrap();
    sim.partition("client", "server").unwrap();
    let out = sim.output_of("client").unwrap().stdout();
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(sim.output_of("client").unwrap().stdout(), out);
    assert_eq!(sim.outcome_of("client"), None, "it waits, retransmitting");
    sim.heal("client", "server").unwrap();
    sim.crash("server", CrashMode::Reset).unwrap();
    assert!(matches!(
        sim.outcome_of("server"),
        Some(Outcome::Crashed { .. })
    ));
    let report = sim.run();
    let client = report.guest("client").unwrap();
    assert!(client.outcome.is_failure(), "{}", client.outcome);
    let why = sim.explain(&report);
    assert!(why.starts_with("client: trapped"), "{why}");
    assert!(why.contains("    | "), "the last lines are shown: {why}");
    assert!(!report.is_success());
    assert_eq!(report.failures().len(), 1, "{:?}", report.failures());
}

#[test]
fn a_restarted_server_serves_again() {
    let mut sim = echo(5, 1).build().unwrap();
    sim.run_for(Duration::from_micros(100)).unwrap();
    sim.crash("server", CrashMode::Silent).unwrap();
    sim.run_for(Duration::from_millis(100)).unwrap();
    sim.restart("server").unwrap();
    let report = sim.run();
    assert!(report.is_success(), "{}", sim.explain(&report));
    assert_eq!(report.guest("server").unwrap().restarts, 1);
}

#[test]
fn bad_names_and_addresses_are_clear_errors() {
    let mut sim = echo(6, 1).build().unwrap();
    let err = sim.crash("nobody", CrashMode::Silent).unwrap_err();
    assert_eq!(err.to_string(), "no host named `nobody`");
    assert!(sim.partition("client", "nobody").is_err());
    let err = Builder::new(1)
        .host("a", "10.0.0.300")
        .build()
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "host a: \"10.0.0.300\" is not an IP address"
    );
    let err = Builder::new(1)
        .link("a", "b", LinkConfig::default())
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("no host named `a`"), "{err:#}");
}

#[test]
fn the_same_seed_drives_the_same_run() {
    let run = |seed| {
        let lossy = LinkConfig {
            loss: 0.1,
            jitter: Duration::from_millis(2),
            ..LinkConfig::with_latency(Duration::from_millis(5))
        };
        let mut sim = echo(seed, 20).default_link(lossy).build().unwrap();
        sim.run_until(|sim| sim.printed("client", "connected"))
            .unwrap();
        sim.run_for(Duration::from_millis(30)).unwrap();
        sim.clog("client", "server").unwrap();
        sim.run_for(Duration::from_millis(200)).unwrap();
        sim.release("client", "server").unwrap();
        let report = sim.run();
        assert!(report.is_success(), "{}", sim.explain(&report));
        (report.trace_hash, report.end)
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}

#[test]
fn the_clock_never_runs_backwards_and_the_time_limit_holds() {
    let mut sim = echo(7, 1_000_000)
        .time_limit(Duration::from_secs(3))
        .build()
        .unwrap();
    sim.run_for(Duration::from_secs(2)).unwrap();
    let heal = simnet::Fault::Heal {
        from: vec![sim.host("client").unwrap()],
        to: vec![sim.host("server").unwrap()],
    };
    let err = sim
        .schedule_fault(Duration::from_secs(1), heal.clone())
        .unwrap_err();
    assert!(err.to_string().contains("is in the past"), "{err}");
    sim.schedule_fault_in(Duration::from_millis(10), heal)
        .unwrap();
    assert_eq!(
        sim.run_for(Duration::from_secs(5)),
        Err(StopReason::TimeLimit)
    );
    assert_eq!(sim.now().as_nanos(), 3_000_000_000);
    assert_eq!(sim.step(), Err(StopReason::TimeLimit));
}

#[test]
fn a_guest_restarted_before_its_start_time_keeps_it() {
    let mut sim = Builder::new(8)
        .client("client", &guest("echo-client"), |g| {
            g.args(["10.0.0.9:7000", "1", "1"])
                .start_at(Duration::from_secs(5))
        })
        .build()
        .unwrap();
    sim.crash("client", CrashMode::Silent).unwrap();
    sim.restart("client").unwrap();
    sim.run_for(Duration::from_secs(4)).unwrap();
    assert!(!sim.printed("client", "connected"));
    let report = sim.run();
    let client = report.guest("client").unwrap();
    assert!(client.end.as_nanos() >= 5_000_000_000, "{}", client.end);
}

#[test]
#[should_panic(expected = "no guest named `clinet` (the guests are: server, client)")]
fn a_misspelt_guest_name_panics_instead_of_waiting_forever() {
    let sim = echo(9, 1).build().unwrap();
    sim.printed("clinet", "connected");
}

#[test]
fn a_host_runs_several_named_guests_and_they_go_down_and_up_with_it() {
    // A server, a second server beside it, and a job that talks to the first over
    // the host's loopback: three guests of one host.
    let mut sim = Builder::new(10)
        .server("server", &guest("echo-server"), |g| g.arg("0.0.0.0:7000"))
        .guest("server", "helper", &guest("echo-server"), |g| {
            g.arg("0.0.0.0:7001").daemon()
        })
        .guest("server", "job", &guest("echo-client"), |g| {
            g.args(["127.0.0.1:7000", "3", "16"])
                .start_at(Duration::from_millis(2))
        })
        .build()
        .unwrap();
    sim.run_until(|sim| sim.outcome_of("job").is_some())
        .unwrap();
    assert!(sim.printed("job", "3 round trips"));
    assert!(sim.printed("helper", "listening"));
    // The running guests go down with their host and come back with it; the job
    // that had ended stays ended.
    sim.crash("server", CrashMode::Silent).unwrap();
    sim.restart("server").unwrap();
    let report = sim.run();
    assert!(report.is_success(), "{}", sim.explain(&report));
    assert_eq!(report.guest("server").unwrap().restarts, 1);
    assert_eq!(report.guest("helper").unwrap().restarts, 1);
    assert_eq!(report.guest("job").unwrap().restarts, 0);
    assert_eq!(report.guest("helper").unwrap().host, "server");
    assert_eq!(report.guests.len(), 3);
}

#[test]
fn two_guests_of_one_name_are_refused() {
    let err = echo(10, 1)
        .client("server", &guest("echo-client"), |g| g)
        .build()
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("two guests are named \"server\""),
        "{err}"
    );
}

/// A client with nobody to connect to: it fails at once.
fn refused(seed: u64) -> anyhow::Result<()> {
    let mut sim = Builder::new(seed)
        .host("server", "10.0.0.1")
        .client("client", &guest("echo-client"), |g| {
            g.args(["server:7000", "1", "64"])
        })
        .build()?;
    sim.with_net(|net| net.enable_capture());
    let report = sim.run();
    simnet::ensure_success(&sim, &report)
}

fn panic_text(failure: Box<dyn std::any::Any + Send>) -> String {
    failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn failing_seeds_are_grouped_and_leave_their_timeline_trace_and_capture() {
    let failure = std::panic::catch_unwind(|| simnet::Seeds::range(4..6).run(refused))
        .expect_err("the client fails");
    let text = panic_text(failure);
    // Both seeds fail the same way: one group, one artifacts line.
    assert!(text.starts_with("2 seeds: 0 passed, 2 failed\n"), "{text}");
    assert!(
        text.contains("2 seeds failed (4, 5): client: trapped"),
        "{text}"
    );
    assert_eq!(text.matches("artifacts: ").count(), 1, "{text}");
    let dir = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("artifacts: "))
        .unwrap_or_else(|| panic!("no artifacts named: {text}"));
    let dir = std::path::Path::new(dir);
    let test = "harness/failing_seeds_are_grouped_and_leave_their_timeline_trace_and_capture";
    assert!(dir.ends_with(format!("{test}/seed-4")), "{}", dir.display());
    for seed_dir in [dir.to_path_buf(), dir.with_file_name("seed-5")] {
        let read = |name: &str| std::fs::read(seed_dir.join(name)).unwrap_or_default();
        let timeline = String::from_utf8(read("timeline.txt")).unwrap();
        assert!(
            timeline.contains("client") && timeline.contains("trapped"),
            "{timeline}"
        );
        let summary = String::from_utf8(read("summary.txt")).unwrap();
        assert!(
            summary.contains("client: trapped") && summary.contains("Connection refused"),
            "{summary}"
        );
        let trace = String::from_utf8(read("trace.jsonl")).unwrap();
        assert!(
            trace.lines().count() > 2 && trace.contains("\"kind\""),
            "{trace}"
        );
        assert!(read("capture.pcap").len() > 24, "a capture with packets");
        // The failure as the runner reported it, with its own rerun command.
        let note = String::from_utf8(read("failure.txt")).unwrap();
        let seed = seed_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace("seed-", "");
        assert!(
            note.contains(&format!("SIMNET_SEED={seed} cargo test")),
            "{note}"
        );
    }
}

#[test]
fn a_verdict_outside_a_runner_names_its_test_in_the_artifacts_path() {
    let text = format!("{:#}", refused(9).unwrap_err());
    assert!(
        text.contains(
            "harness/a_verdict_outside_a_runner_names_its_test_in_the_artifacts_path/seed-9"
        ),
        "{text}"
    );
}

#[test]
fn a_successful_run_is_a_successful_verdict() {
    let mut sim = echo(6, 2).build().unwrap();
    let report = sim.run();
    simnet::ensure_success(&sim, &report).unwrap();
}

#[test]
fn a_determinism_check_runs_each_seed_twice_and_names_the_first_difference() {
    simnet::Seeds::range(1..3)
        .check_determinism(true)
        .run(|seed| -> anyhow::Result<()> {
            let mut sim = echo(seed, 3).build()?;
            let report = sim.run();
            simnet::ensure_success(&sim, &report)
        });
    // A world that changes between the two runs of a seed (as state leaking from one
    // run into the next would) is caught, with the first event that differs.
    let passes = std::sync::atomic::AtomicU32::new(0);
    let failure = std::panic::catch_unwind(|| {
        simnet::Seeds::range(1..2)
            .check_determinism(true)
            .run(|seed| -> anyhow::Result<()> {
                let extra = passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut sim = echo(seed, 2 + extra).build()?;
                let report = sim.run();
                simnet::ensure_success(&sim, &report)
            })
    })
    .expect_err("the two runs differ");
    let text = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.contains("not deterministic: run 1 of the seed: "),
        "{text}"
    );
    assert!(
        text.contains("SIMNET_CHECK_DETERMINISM=1 SIMNET_SEED=1 cargo test"),
        "the rerun checks determinism too: {text}"
    );
    assert!(
        text.contains("trace event") || text.contains("events"),
        "{text}"
    );
}

#[test]
fn a_run_that_stops_before_its_condition_names_the_guests_that_failed() {
    // Nobody listens: the client fails, and the condition never holds.
    let mut sim = Builder::new(3)
        .host("server", "10.0.0.1")
        .client("client", &guest("echo-client"), |g| {
            g.args(["server:7000", "1", "64"])
        })
        .build()
        .unwrap();
    let stopped = sim
        .run_until(|sim| sim.printed("client", "never printed"))
        .unwrap_err();
    assert_eq!(stopped.reason, StopReason::AllFinished);
    let text = stopped.to_string();
    assert!(
        text.starts_with("the run stopped before the condition held: "),
        "{text}"
    );
    assert!(text.contains("client: trapped"), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
}

#[test]
fn random_faults_fall_within_the_length_of_the_run() {
    // An echo of a few round trips lasts milliseconds: faults drawn over the default
    // 5 s would nearly all come after its end.
    let mut sim = echo(0, 3).build().unwrap();
    let length = Duration::from_nanos(sim.run().end.as_nanos());
    let mut space = simnet::FaultSpace::for_hosts(vec!["server".into(), "client".into()]);
    space.families = vec![
        simnet::space::Family::Partition,
        simnet::space::Family::Crash,
    ];
    let latest = std::sync::Mutex::new(Duration::ZERO);
    simnet::Seeds::range(0..30).check_plans(&space, |seed, plan| -> anyhow::Result<()> {
        for fault in plan {
            if let simnet::PlanFault::Partition { at, .. } | simnet::PlanFault::Crash { at, .. } =
                fault
            {
                let mut latest = latest.lock().unwrap();
                *latest = (*latest).max(*at);
            }
        }
        // The runs judged here tell the runner how long a run is.
        let mut sim = echo(seed, 3).faults(plan).build()?;
        let report = sim.run();
        let _ = simnet::ensure_success(&sim, &report);
        Ok(())
    });
    let latest = *latest.lock().unwrap();
    assert!(latest > Duration::ZERO, "faults were drawn");
    assert!(latest <= length, "{latest:?} after the run's {length:?}");
}

#[test]
fn the_builder_changes_the_simulations_settings() {
    let mut sim = echo(1, 1000)
        .config(|c| {
            c.output_limit = 16;
            c.time_limit = Some(Duration::from_millis(50));
        })
        .build()
        .unwrap();
    let report = sim.run();
    assert_eq!(report.stop, StopReason::TimeLimit);
    assert_eq!(report.end.as_nanos(), 50_000_000);
    let out = sim.output_of("server").unwrap().stdout();
    assert!(out.contains("exceeded its limit of 16 bytes"), "{out}");
}

#[test]
fn a_host_declared_twice_is_refused_and_a_host_without_an_address_is_no_panic() {
    let e = Builder::new(1)
        .host("a", "10.0.0.1")
        .host("a", "10.0.0.2")
        .world()
        .unwrap_err();
    assert!(e.to_string().contains("two hosts are named \"a\""), "{e}");
    let mut world = simnet::World::new(1);
    world.hosts.push(simnet::Host::new("bare", Vec::new()));
    let e = Builder::from_world(world.clone())
        .host("bare", "10.0.0.3")
        .world()
        .unwrap_err();
    assert!(
        e.to_string().contains("two hosts are named \"bare\""),
        "{e}"
    );
    // A guest on a new host gets an address no host of the world has.
    world.hosts.push(simnet::Host::new(
        "first",
        vec!["10.0.0.1".parse().unwrap()],
    ));
    let world = Builder::from_world(world)
        .client("other", &guest("echo-client"), |g| g)
        .world()
        .unwrap();
    assert_eq!(
        world.host("other").unwrap().ips,
        ["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]
    );
}

#[test]
fn a_runner_that_fails_leaves_no_test_context_behind() {
    // A plan check ends by panicking with its report; a verdict after it on the
    // same thread is a plain test's again, and names its own artifacts.
    let mut space = simnet::FaultSpace::for_hosts(vec!["server".into()]);
    space.families = vec![simnet::space::Family::Crash];
    let failed = std::panic::catch_unwind(|| {
        simnet::Seeds::range(1..2).check_plans(&space, |seed, _plan| refused(seed))
    });
    assert!(failed.is_err());
    let text = format!("{:#}", refused(3).unwrap_err());
    assert!(
        text.contains("harness/a_runner_that_fails_leaves_no_test_context_behind/seed-3"),
        "{text}"
    );
}

#[test]
fn addresses_given_with_host_ips_are_not_handed_out_again() {
    let world = Builder::new(1)
        .host("a", "10.0.0.5")
        .host_ips("a", &["10.0.0.1".parse().unwrap()])
        .client("b", &guest("echo-client"), |g| g)
        .world()
        .unwrap();
    assert_eq!(
        world.host("b").unwrap().ips,
        ["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]
    );
}
