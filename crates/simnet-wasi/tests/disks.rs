//! Guests on simulated disks: files live as long as their host, every seed starts
//! from the same image, a crash loses what was never synced (and nothing else), and
//! a store that acknowledges before it syncs loses acknowledged writes.

mod common;

use std::time::Duration;

use common::{describe, guest, two_hosts};
use simnet_core::disk::{CrashLoss, DiskConfig, DiskImage};
use simnet_core::{CrashMode, Fault};
use simnet_wasi::{DiskSource, Outcome, Sim};

/// A store on `server` (its log in `/data`) and a client writing `count` keys, with
/// a silent crash of the server at `crash` and a restart 1 s later.
fn store_world(seed: u64, ack_first: bool, crash: Duration, loss: CrashLoss) -> Sim {
    let (mut sim, server, client) = two_hosts(seed, Duration::from_millis(2));
    let config = DiskConfig {
        crash_loss: Some(loss),
        epoch: sim.config().epoch,
        ..DiskConfig::default()
    };
    sim.with_net(|net| net.disk_mut(server).set_config(config));
    let mut args = vec!["serve", "10.0.0.1:7", "/data"];
    if ack_first {
        args.push("--ack-before-sync");
    }
    sim.spawn(
        guest("server", server, "durable-store", &args)
            .disk("/data", DiskSource::Empty)
            .daemon(),
    );
    sim.spawn(
        guest(
            "client",
            client,
            "durable-store",
            &["client", "10.0.0.1:7", "10"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let crash_fault = Fault::Crash {
        host: server,
        mode: CrashMode::Silent,
    };
    sim.schedule_fault(crash, crash_fault).unwrap();
    sim.schedule_fault(
        crash + Duration::from_secs(1),
        Fault::Restart { host: server },
    )
    .unwrap();
    sim
}

#[test]
fn a_store_that_syncs_before_it_acknowledges_loses_nothing_in_a_crash() {
    for loss in CrashLoss::ALL {
        let mut sim = store_world(1, false, Duration::from_millis(230), loss);
        let report = sim.run();
        let all = describe(&sim, &report);
        assert_eq!(
            report.guest("client").unwrap().outcome,
            Outcome::Exited(0),
            "{loss:?}: {all}"
        );
        assert!(all.contains("all 10 keys survived"), "{all}");
        // The restarted server found its log.
        assert!(all.contains("recovered "), "{all}");
        let log = String::from_utf8(sim.disk_file("server", "/data/log").unwrap()).unwrap();
        let writes = log.lines().filter(|l| l.starts_with("SET")).count();
        assert!(writes >= 10, "{log}");
    }
}

#[test]
fn a_store_that_acknowledges_before_it_syncs_loses_acknowledged_writes() {
    let mut sim = store_world(1, true, Duration::from_millis(230), CrashLoss::All);
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Exited(1),
        "{all}"
    );
    assert!(all.contains("LOST key"), "{all}");
    // The crash's loss is in the trace, with the file it came from.
    let lost: Vec<String> = sim.with_net(|net| {
        net.disk_crashes()
            .iter()
            .map(|c| format!("{:?}", c.report.files))
            .collect()
    });
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].contains("/data/log"), "{lost:?}");
    // Nothing unsynced survived: the durable log is what the server recovered.
    let durable = sim.durable_disk_file("server", "/data/log").unwrap();
    let cached = sim.disk_file("server", "/data/log").unwrap();
    assert!(durable.len() <= cached.len());
}

#[test]
fn every_seed_starts_from_the_image_and_files_outlive_their_guest() {
    let mut image = DiskImage::empty();
    image.add_file("input.txt", b"from the image\n").unwrap();
    let image = std::sync::Arc::new(image);
    for seed in 0..3 {
        let (mut sim, server, _) = two_hosts(seed, Duration::from_millis(1));
        sim.spawn(
            guest("files", server, "probe", &["files", "/data"]).disk("/data", image.clone()),
        );
        let report = sim.run();
        let all = describe(&sim, &report);
        assert_eq!(report.guests[0].outcome, Outcome::Exited(0), "{all}");
        assert!(all.contains("from the image"), "{all}");
        // What the guest wrote is on the host's disk after it exited; the image is
        // unchanged for the next seed.
        assert!(sim.disk_file("server", "/data/output.txt").is_ok(), "{all}");
        assert_eq!(image.entries.len(), 1);
    }
}

#[test]
fn a_bad_mount_stops_its_guest_with_the_reason() {
    let (mut sim, server, _) = two_hosts(1, Duration::from_millis(1));
    sim.spawn(guest("g", server, "probe", &["exit", "0"]).disk("/data", "/nonexistent/dir"));
    let report = sim.run();
    let outcome = report.guests[0].outcome.to_string();
    assert!(outcome.contains("cannot mount /data"), "{outcome}");
    assert!(outcome.contains("/nonexistent/dir"), "{outcome}");
}

#[test]
fn disk_runs_are_deterministic() {
    let run = |seed| {
        let mut sim = store_world(seed, true, Duration::from_millis(310), CrashLoss::Torn);
        let report = sim.run();
        let client = sim.output_of("client").unwrap().stdout();
        (report.trace_hash, report.end, client)
    };
    for seed in [3, 4] {
        assert_eq!(run(seed), run(seed), "seed {seed}");
    }
}

/// API faults reach file calls on the simulated disk: the n-th write fails with the
/// code asked for, reads can be short, and the report counts what was injected.
#[test]
fn api_faults_hit_file_calls() {
    use simnet_core::disk::FsError;
    use simnet_wasi::{ApiFault, ApiResult, Effect, Method, Trigger};
    let mut sim = store_world(1, false, Duration::from_secs(100), CrashLoss::All);
    let server = sim.host("server").unwrap();
    sim.inject(ApiFault {
        host: Some(server),
        method: Method::FileWrite,
        trigger: Trigger::Nth(3),
        effect: Effect::FileError(FsError::InsufficientSpace),
    })
    .unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    assert!(
        matches!(
            report.guest("server").unwrap().outcome,
            Outcome::Trapped { .. }
        ),
        "{all}"
    );
    assert!(all.contains("append to the log"), "{all}");
    let met = report
        .api_errors
        .iter()
        .find(|c| c.method == Method::FileWrite)
        .unwrap_or_else(|| panic!("{:?}", report.api_errors));
    assert_eq!(met.result, ApiResult::FileError(FsError::InsufficientSpace));
    assert_eq!((met.natural, met.injected), (0, 1));
    // A socket error is not a file call's, nor the reverse.
    let bad = ApiFault {
        host: None,
        method: Method::FileWrite,
        trigger: Trigger::Nth(1),
        effect: Effect::Error(simnet_core::ErrorCode::ConnectionReset),
    };
    assert!(sim.inject(bad).is_err());
}

#[test]
fn short_file_reads_are_read_again_by_a_careful_reader() {
    use simnet_wasi::{ApiFault, Effect, Method, Trigger};
    let mut image = DiskImage::empty();
    image.add_file("input.txt", b"from the image\n").unwrap();
    let (mut sim, server, _) = two_hosts(1, Duration::from_millis(1));
    sim.spawn(guest("files", server, "probe", &["files", "/data"]).disk("/data", image));
    sim.inject(ApiFault {
        host: Some(server),
        method: Method::FileRead,
        trigger: Trigger::Probability(1.0),
        effect: Effect::ShortRead,
    })
    .unwrap();
    let report = sim.run();
    let all = describe(&sim, &report);
    // Rust's read_to_string reads until the end, one byte at a time here.
    assert!(all.contains("input.txt: \"from the image\\n\""), "{all}");
    let shorts = report
        .api_errors
        .iter()
        .find(|c| c.method == Method::FileRead)
        .map_or(0, |c| c.injected);
    assert!(shorts >= 15, "{:?}", report.api_errors);
}
