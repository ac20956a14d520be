//! Simulated disks as a user's test sees them: a store mounted on its host's disk,
//! crashed from the test, its files read (cached and durable) at any point, and a
//! property over random plans of crashes and disk faults that catches a store
//! acknowledging before it syncs, shrunk to one crash.

use std::time::Duration;

use simnet::disk::{CrashLoss, DiskConfig};
use simnet::{Builder, CrashMode, DiskSource, FaultSpace, Program};

fn store() -> Program {
    let g = simnet_guests::get("durable-store").expect("the store guest");
    simnet::load(g.path).expect("the guest loads")
}

fn world(seed: u64, ack_first: bool) -> Builder {
    let mut args = vec!["serve", "0.0.0.0:7", "/data"];
    if ack_first {
        args.push("--ack-before-sync");
    }
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    Builder::new(seed)
        .server("server", &store(), move |g| {
            g.args(args).disk("/data", DiskSource::Empty)
        })
        .client("client", &store(), |g| {
            g.args(["client", "server:7", "10"])
                .start_at(Duration::from_millis(1))
        })
}

#[test]
fn a_test_crashes_a_store_and_reads_what_survived() {
    let mut sim = world(1, true).build().unwrap();
    sim.run_until(|sim| {
        sim.disk_file("server", "/data/log")
            .is_ok_and(|l| l.len() > 40)
    })
    .unwrap();
    let cached = sim.disk_file("server", "/data/log").unwrap();
    let durable = sim.durable_disk_file("server", "/data/log").unwrap();
    // The store acknowledged writes it has not synced yet.
    assert!(durable.len() < cached.len(), "{durable:?} vs {cached:?}");
    let server = sim.host("server").unwrap();
    let config = DiskConfig {
        crash_loss: Some(CrashLoss::All),
        epoch: sim.config().epoch,
        ..DiskConfig::default()
    };
    sim.with_net(|net| net.disk_mut(server).set_config(config));
    sim.crash("server", CrashMode::Silent).unwrap();
    assert_eq!(sim.disk_file("server", "/data/log").unwrap(), durable);
    sim.restart("server").unwrap();
    let report = sim.run();
    assert!(!report.is_success(), "{}", sim.explain(&report));
    assert!(
        sim.printed("client", "LOST key"),
        "{}",
        sim.explain(&report)
    );
    assert!(sim.disk_file("server", "/data/missing").is_err());
    assert!(sim.disk_file("nobody", "/data/log").is_err());
}

#[test]
fn random_crash_plans_catch_a_store_that_acknowledges_before_it_syncs() {
    let mut space = FaultSpace::for_hosts(vec!["server".into(), "client".into()]);
    space.families = vec![simnet::plan::Family::Crash];
    space.crash_hosts = vec!["server".into()];
    space.horizon = Duration::from_millis(600);
    space.max_faults = 2;
    let check = |ack_first: bool| {
        std::panic::catch_unwind(|| {
            simnet::Seeds::range(0..30).check_plans(&space, |seed, plan| {
                let mut sim = world(seed, ack_first).faults(plan).build()?;
                let report = sim.run();
                anyhow::ensure!(report.is_success(), "{}", sim.explain(&report));
                Ok::<(), anyhow::Error>(())
            })
        })
    };
    assert!(
        check(false).is_ok(),
        "the careful store survives every plan"
    );
    let failure = check(true).expect_err("the careless store loses writes");
    let text = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("LOST key"), "{text}");
    assert!(text.contains("1 after shrinking"), "{text}");
}

#[test]
fn a_host_directory_is_read_once_and_shared_by_every_seed() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("read-once-image");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("log"), "first\n").unwrap();
    let world = |seed| {
        let dir = dir.clone();
        Builder::new(seed).server("server", &store(), move |g| {
            g.args(["serve", "0.0.0.0:7", "/data"]).disk("/data", dir)
        })
    };
    // The disk is mounted when the guest starts.
    let mut sim = world(1).build().unwrap();
    sim.run_for(Duration::from_millis(1)).unwrap();
    assert_eq!(sim.disk_file("server", "/data/log").unwrap(), b"first\n");
    // Changed on the host after it was read: the image every seed mounts stays.
    std::fs::write(dir.join("log"), "second\n").unwrap();
    let mut sim = world(2).build().unwrap();
    sim.run_for(Duration::from_millis(1)).unwrap();
    assert_eq!(sim.disk_file("server", "/data/log").unwrap(), b"first\n");
}
