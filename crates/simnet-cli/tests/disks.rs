//! Simulated disks from the command line: scenario mounts, the durable store and its
//! buggy variant found and shrunk by `explore`, the replay that reproduces the loss,
//! `exec --disk`, and bad disk entries.

mod common;

use common::*;

#[test]
fn the_durable_store_survives_random_crashes() {
    let out = simnet(&["run", "examples/durable-store.toml"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.contains("all 10 keys survived"), "{stdout}");
    let out = simnet(&[
        "explore",
        "examples/durable-store.toml",
        "--seeds",
        "0..40",
        "--faults",
        "random",
        "--out-dir",
        tmp("durable.replays").to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("40 seeds: 40 passed"), "{stdout}");
}

#[test]
fn explore_shrinks_an_ack_before_sync_bug_to_one_crash_and_the_replay_loses_again() {
    let out_dir = tmp("ack.replays");
    let out = simnet(&[
        "explore",
        "examples/ack-before-sync.toml",
        "--seeds",
        "0..30",
        "--faults",
        "random",
        "--shrink",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}{stderr}");
    assert!(stdout.contains("LOST key"), "{stdout}");
    // The smallest plan is one crash (and the restart that goes with it).
    assert!(stdout.contains("fault plan (1 fault, "), "{stdout}");
    let replay = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: simnet "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let args: Vec<&str> = replay.split(' ').collect();
    let out = simnet(&args);
    let (stdout, _) = text(&out);
    assert_eq!(code(&out), 1, "the replay fails again:\n{stdout}");
    assert!(stdout.contains("LOST key"), "{stdout}");
    assert!(
        stdout.contains("server: crash lost 1 unsynced write to /data/log,"),
        "{stdout}"
    );
}

#[test]
fn exec_mounts_copies_of_directories_and_never_writes_them() {
    let dir = tmp("exec-disk");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("input.txt"), "from the host\n").unwrap();
    let mount = format!("{}::/data", dir.display());
    let out = simnet(&["exec", "--disk", &mount, PROBE, "files", "/data"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("input.txt: \"from the host\\n\""),
        "{stdout}"
    );
    assert!(stdout.contains("output.txt: 21 bytes"), "{stdout}");
    // The host directory is as it was.
    assert!(!dir.join("output.txt").exists());
    // A read-only mount can be read and not written.
    let mount = format!("{}::/data", dir.display());
    let out = simnet(&["exec", "--disk-ro", &mount, PROBE, "files", "/data"]);
    let (stdout, stderr) = text(&out);
    assert_ne!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("input.txt: \"from the host\\n\""),
        "{stdout}"
    );
    for (flag, value, error) in [
        (
            "--disk",
            "/nonexistent::/data",
            "--disk /nonexistent::/data: cannot read /nonexistent",
        ),
        (
            "--disk",
            "/tmp",
            "--disk /tmp: expected HOST_DIR::GUEST_DIR",
        ),
        (
            "--disk-ro",
            "/tmp::",
            "--disk-ro /tmp::: name the directory the guest sees",
        ),
    ] {
        let out = simnet(&["exec", flag, value, PROBE, "exit", "0"]);
        let (_, stderr) = text(&out);
        assert_eq!(code(&out), 2, "{stderr}");
        assert!(stderr.contains(error), "{stderr}");
    }
}

const PROBE: &str = simnet_guests::PROBE.path;

#[test]
fn bad_disk_entries_are_located() {
    let e = scenario_error(
        "disk-missing.toml",
        &format!("{HOST}disk = [\"nope::/data\"]\n"),
    );
    assert!(
        e.starts_with("disk-missing.toml:5:8: disk: ")
            && e.contains("nope is not a directory (it does not exist)"),
        "{e}"
    );
    let e = scenario_error("disk-form.toml", &format!("{HOST}disk = [\"/data\"]\n"));
    assert!(e.contains("expected \"HOST_DIR::GUEST_PATH\""), "{e}");
    let e = scenario_error(
        "disk-twice.toml",
        &format!("{HOST}disk = [\"::/data\"]\ndisk_ro = [\"::/data\"]\n"),
    );
    assert!(e.contains("\"/data\" is mounted twice"), "{e}");
    let e = scenario_error("crash-loss.toml", &format!("{HOST}crash_loss = \"some\"\n"));
    assert!(
        e.starts_with("crash-loss.toml:5:14: crash_loss: expected"),
        "{e}"
    );
}

/// Disk faults from a scenario: each fault, heal and effect in the timeline and the
/// JSON trace, in order, with what it did to the program.
#[test]
fn disk_faults_are_applied_and_shown() {
    let path = tmp("disk-faults.toml");
    std::fs::write(
        &path,
        r#"until = "2s"
[network]
latency = "2ms"
[[host]]
name = "server"
ip = "10.0.0.1"
component = "builtin:durable-store"
args = ["serve", "10.0.0.1:7", "/data"]
disk = ["::/data"]
expect = "running"
[[host]]
name = "client"
ip = "10.0.0.2"
component = "builtin:durable-store"
args = ["client", "10.0.0.1:7", "10"]
start = "1ms"
[[fault]]
at = "100ms"
kind = "disk-slow"
host = "server"
extra = "50ms"
lasting = "200ms"
[[fault]]
at = "400ms"
kind = "disk-error"
host = "server"
op = "sync"
path = "/data/log"
"#,
    )
    .unwrap();
    let trace = tmp("disk-faults.jsonl");
    let out = simnet(&[
        "run",
        path.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}{stderr}");
    let at = |line: &str| {
        stdout
            .lines()
            .position(|l| l.contains(line))
            .unwrap_or_else(|| panic!("no {line:?} in\n{stdout}"))
    };
    let slow =
        at("[   0.100000s] network         | fault: server: disk slow: every operation 50ms more");
    let healed = at("[   0.300000s] network         | fault: server: disk healed");
    let error = at("fault: server: sync of /data/log fails with io");
    let trapped = at("server          | trapped");
    assert!(
        slow < healed && healed < error && error < trapped,
        "{stdout}"
    );
    let body = std::fs::read_to_string(&trace).unwrap();
    assert!(
        body.contains(r#""fault":"server: syncs under /data/log fail with io""#),
        "{body}"
    );
    assert!(
        body.contains(r#""fault":"server: sync of /data/log fails with io""#),
        "{body}"
    );
}

#[test]
fn file_calls_take_api_faults_from_a_scenario() {
    let base = std::fs::read_to_string(format!("{ROOT}/examples/durable-store.toml"))
        .unwrap()
        .replace("[explore]", "[[api_fault]]\nhost = \"server\"\nmethod = \"file-write\"\nnth = 3\nerror = \"io\"\n\n[explore]");
    let path = tmp("file-api-fault.toml");
    std::fs::write(&path, &base).unwrap();
    let out = simnet(&["run", path.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("fault: server: file-write fails with io"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  file-write         io                         0 + 1"),
        "{stdout}"
    );
    let bad = base.replace("error = \"io\"", "error = \"connection-reset\"");
    let e = scenario_error("file-api-bad.toml", &bad);
    assert!(
        e.contains("unknown filesystem error code \"connection-reset\""),
        "{e}"
    );
    let bad = base.replace("error = \"io\"", "error = \"no-entry\"");
    let e = scenario_error("file-api-bad2.toml", &bad);
    assert!(
        e.contains(
            "file-write cannot fail with no-entry: its injectable errors are io, insufficient-space"
        ),
        "{e}"
    );
}

#[test]
fn run_writes_each_hosts_disk_as_the_run_left_it() {
    let out_dir = tmp("disk-out");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = simnet(&[
        "run",
        "examples/durable-store.toml",
        "--disk-out",
        out_dir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    let log = std::fs::read_to_string(out_dir.join("server/data/log")).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.starts_with("SET key")).count(),
        10,
        "{log}"
    );
    let file = tmp("disk-out-file");
    std::fs::write(&file, "x").unwrap();
    let out = simnet(&[
        "run",
        "examples/durable-store.toml",
        "--disk-out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("not a directory"), "{:?}", text(&out));
}

#[test]
fn exec_tells_the_guest_its_initial_directory_as_wasmtime_does() {
    let out = simnet(&["exec", "-S", "cwd=/data", PROBE, "env"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.contains(r#"initial cwd: Some("/data")"#), "{stdout}");
    let out = simnet(&["exec", PROBE, "env"]);
    assert!(
        text(&out).0.contains("initial cwd: None"),
        "{:?}",
        text(&out)
    );
    let out = simnet(&["exec", "-S", "cwd", PROBE, "env"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).1.contains("-S cwd: give the directory"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn a_disk_fault_can_wait_for_what_a_program_prints() {
    let body = std::fs::read_to_string(format!("{ROOT}/examples/durable-store.toml"))
        .unwrap()
        .replace(
            "[[fault]]\nat = \"230ms\"\nkind = \"crash\"\nhost = \"server\"\nmode = \"silent\"\nrestart_after = \"1s\"\n",
            "[[fault]]\non_output = \"listening\"\nkind = \"disk-full\"\nhost = \"server\"\n",
        );
    assert!(body.contains("disk-full"), "{body}");
    let path = tmp("disk-trigger.toml");
    std::fs::write(&path, body).unwrap();
    let out = simnet(&["run", path.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}{stderr}");
    let listening = stdout.find("server          | listening").expect(&stdout);
    let full = stdout.find("fault: server: disk full").expect(&stdout);
    let refused = stdout
        .find("fault: server: write to /data/log fails with insufficient-space")
        .expect(&stdout);
    assert!(listening < full && full < refused, "{stdout}");
}
