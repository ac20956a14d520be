//! The explorer on guests with realistic bugs that only faults expose: each is found,
//! shrunk to one or two faults, and the written replay fails again under `simnet run`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use simnet::run::{Failure, Run, Summary};
use simnet::space::{Family, FaultSpace};
use simnet::{PlanFault, World};

/// The repository root: scenario examples and guests are found from there.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A private copy of an example (replay files are written next to the scenario, and
/// tests run in parallel).
fn example(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("property")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(name);
    let original = Path::new(ROOT).join("examples").join(name);
    std::fs::copy(original, &copy).unwrap();
    copy
}

fn space(hosts: &[&str], crash: &[&str], network: bool, api: bool) -> FaultSpace {
    let mut families = Vec::new();
    if network {
        families.extend([Family::Partition, Family::Clog, Family::Loss, Family::Crash]);
    }
    if api {
        families.extend([Family::ApiError, Family::ShortIo, Family::Stall]);
    }
    FaultSpace {
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        crash_hosts: crash.iter().map(|h| h.to_string()).collect(),
        disk_hosts: Vec::new(),
        restart_crashes: false,
        families,
        calls: None,
        horizon: Duration::from_secs(5),
        fit_horizon: false,
        max_faults: 3,
        swarm: false,
        outputs: Vec::new(),
    }
}

/// Explore `file` over `seeds` with plans from `space`, judging each run with
/// `property`; shrinking only the first failure (the one a test looks at).
fn explore(
    file: &str,
    space: FaultSpace,
    seeds: std::ops::Range<u64>,
    property: impl Fn(&Run) -> Result<(), String> + Send + Sync + 'static,
) -> Summary {
    let path = example(file);
    World::from_file(&path)
        .unwrap()
        .explore()
        .unwrap()
        .seeds(seeds.start..=seeds.end - 1)
        .replay_dir(Some(simnet::report::default_replay_dir(&path)))
        .fault_space(space)
        .max_shrunk(1)
        // The smallest failing seed is the one shrunk, whatever thread ran it.
        .jobs(Some(2))
        .property(property)
        .run(&|_| {})
        .unwrap()
}

/// The smallest failing seed's failure, which must exist.
fn first_failure(summary: &Summary) -> Failure {
    let report = summary.render(&|f| f.replay.clone().unwrap_or_default());
    println!("{report}");
    summary
        .failures
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("the bug is found: {report}"))
}

fn unmet(run: &Run) -> Result<(), String> {
    run.unmet().map_or(Ok(()), Err)
}

fn find_bug(file: &str, space: FaultSpace, seeds: u64) -> Failure {
    first_failure(&explore(file, space, 0..seeds, unmet))
}

fn replay_fails(failure: &Failure) {
    // The replay file carries the seed: `simnet run FILE` alone reproduces it.
    let command = failure.replay.clone().expect("a replay");
    let file = command
        .strip_prefix("simnet run ")
        .expect("a replay file to run")
        .to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args(["run", &file])
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the replay fails again:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn short_reads_find_a_client_that_expects_whole_messages() {
    let failure = find_bug(
        "naive-client.toml",
        space(&["server", "client"], &[], false, true),
        32,
    );
    assert!(failure.plan.len() <= 2, "{failure:?}");
    assert!(
        failure.plan.iter().any(|f| matches!(
            f,
            PlanFault::ShortReads { .. }
                | PlanFault::ShortWrites { .. }
                | PlanFault::ApiError { .. }
                | PlanFault::Stall { .. }
        )),
        "{failure:?}"
    );
    assert!(
        failure.reason.starts_with("client: expected exit 0"),
        "{failure:?}"
    );
    replay_fails(&failure);
}

#[test]
fn a_partition_finds_a_client_without_a_connect_timeout() {
    // Heavy loss also makes the client miss its deadline; the space leaves it out to
    // look at outages only.
    let mut outages = space(&["server", "client"], &[], true, false);
    outages.families.retain(|f| *f != Family::Loss);
    let failure = find_bug("no-connect-timeout.toml", outages, 64);
    assert!(failure.plan.len() <= 2, "{failure:?}");
    assert!(
        failure
            .plan
            .iter()
            .any(|f| matches!(f, PlanFault::Partition { .. } | PlanFault::Clog { .. })),
        "{failure:?}"
    );
    replay_fails(&failure);
}

#[test]
fn a_silent_crash_finds_a_server_that_never_notices_a_dead_peer() {
    // The property: once a client has connected, the server finishes. (A client that
    // crashes before connecting leaves a server rightly waiting in accept.)
    let space = space(&["server", "client"], &["client"], true, false);
    let summary = explore("dead-peer.toml", space, 0..64, |run| match run.unmet() {
        Some(why) if run.any_connection() => Err(why),
        _ => Ok(()),
    });
    let failure = first_failure(&summary);
    assert!(failure.plan.len() <= 2, "{failure:?}");
    assert!(
        failure.plan.iter().any(
            |f| matches!(f, PlanFault::Crash { host, mode: simnet_core::CrashMode::Silent, .. } if host == "client")
        ),
        "{failure:?}"
    );
    assert!(
        failure
            .reason
            .starts_with("server: expected exit 0, got: deadlocked"),
        "{failure:?}"
    );
    replay_fails(&failure);
}

#[test]
fn a_crash_and_restart_finds_a_retry_loop_without_back_off() {
    // The property concerns the client only: it must get its exchange done.
    let mut outages = space(&["server", "client"], &["server"], true, false);
    outages.restart_crashes = true;
    let summary = explore("eager-retry.toml", outages, 0..64, |run| {
        // A server that never comes back defeats any client: only outages that end
        // count against it.
        if run.plan.iter().any(|f| {
            matches!(
                f,
                PlanFault::Crash {
                    restart_after: None,
                    ..
                }
            )
        }) {
            return Ok(());
        }
        let client = run.report.guest("client").expect("a client");
        match &client.outcome {
            simnet_wasi::Outcome::Exited(0) => Ok(()),
            other => Err(format!("client: {other}")),
        }
    });
    let failure = first_failure(&summary);
    assert!(failure.plan.len() <= 2, "{failure:?}");
    assert!(
        failure
            .plan
            .iter()
            .any(|f| matches!(f, PlanFault::Crash { host, restart_after: Some(_), .. } if host == "server")),
        "{failure:?}"
    );
    assert!(
        failure.reason.starts_with("client: exited with code 1"),
        "{failure:?}"
    );
    replay_fails(&failure);
}

#[test]
fn a_robust_scenario_passes_its_check() {
    let space = space(&["server", "client1", "client2"], &[], true, false);
    let summary = explore("echo-under-loss.toml", space, 1..13, unmet);
    summary.assert_passed();
    assert_eq!((summary.seeds, summary.passed), (12, 12));
}

#[test]
fn explore_with_random_faults_shrinks_and_writes_replays() {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-replays");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args([
            "explore",
            "examples/naive-client.toml",
            "--seeds",
            "0..12",
            "--faults",
            "random",
            "--shrink",
            "--jobs",
            "2",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ])
        .current_dir(ROOT)
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let replays: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("replay: simnet run "))
        .collect();
    assert!(!replays.is_empty(), "{stdout}");
    for r in &replays {
        let file = r.split(' ').next().unwrap();
        assert!(file.ends_with(".replay.toml"), "{r}");
        assert!(Path::new(file).starts_with(&out_dir), "{r}");
        // The replay carries its seed and fails again on its own.
        let replay = Command::new(env!("CARGO_BIN_EXE_simnet"))
            .args(["run", file])
            .env(
                "SIMNET_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
            )
            .output()
            .unwrap();
        assert_eq!(replay.status.code(), Some(1), "{r}");
    }
    assert!(stdout.contains("fault plan (1 fault, "), "{stdout}");
    // Seeds that shrink to the same plan are one report, with the guest's last words.
    assert!(stdout.contains("seeds failed ("), "{stdout}");
    assert!(stdout.contains("last output of client:"), "{stdout}");
}

#[test]
fn a_failing_seed_reruns_alone_with_the_same_plan() {
    let space = space(&["server", "client"], &[], false, true);
    let failure = find_bug("naive-client.toml", space.clone(), 32);
    let seed = failure.seed;
    let again = first_failure(&explore("naive-client.toml", space, seed..seed + 1, unmet));
    assert_eq!(again.seed, failure.seed);
    assert_eq!(again.plan, failure.plan);
}
