//! The explorer from a test: a world over many seeds with random fault plans, every
//! failing seed counted and grouped, its artifacts left where the test says, its
//! shrunk plan replayable without shrinking, and determinism checked.

use std::path::Path;

use simnet::World;
use simnet::space::Family;

fn naive_client() -> World {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/naive-client.toml");
    World::from_file(path).unwrap()
}

#[test]
fn failing_seeds_are_counted_grouped_and_leave_artifacts() {
    let world = naive_client();
    let mut space = world.explore.clone();
    space.families = vec![Family::ShortIo, Family::ApiError];
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-artifacts");
    let _ = std::fs::remove_dir_all(&dir);
    let summary = world
        .explore()
        .unwrap()
        .seeds(0..=15)
        .fault_space(space.clone())
        .max_shrunk(2)
        .jobs(Some(2))
        .artifacts(&dir)
        .run(&|_| {})
        .unwrap();
    assert_eq!(summary.seeds, 16);
    assert_eq!(summary.passed + summary.failed, 16);
    assert!(
        summary.failed >= 2,
        "{}",
        summary.render(&|_| String::new())
    );
    assert_eq!(summary.failures.len() as u64, summary.failed);
    let groups = summary.groups();
    assert!(!groups.is_empty());
    assert_eq!(
        groups.iter().map(|g| g.seeds.len()).sum::<usize>() as u64,
        summary.failed
    );
    // Each failing seed left its timeline, trace, capture, summary and plan.
    let mut packets = 0;
    for f in &summary.failures {
        let seed_dir = f.artifacts.clone().expect("artifacts");
        assert_eq!(seed_dir, dir.join(format!("seed-{}", f.seed)));
        for (name, must_contain) in [
            ("timeline.txt", "client"),
            ("summary.txt", "expected exit 0"),
            ("trace.jsonl", "\"kind\""),
            ("plan.txt", ": "),
        ] {
            let text = std::fs::read_to_string(seed_dir.join(name)).unwrap();
            assert!(text.contains(must_contain), "{name}: {text}");
        }
        // The replay file goes with the artifacts, not beside the scenario.
        let replay = seed_dir.join(format!("naive-client.seed-{}.replay.toml", f.seed));
        assert!(replay.is_file(), "{}", replay.display());
        assert!(
            f.replay
                .as_deref()
                .is_some_and(|r| r.contains("simnet run"))
        );
        let pcap = std::fs::read(seed_dir.join("capture.pcap")).unwrap();
        let magic = u32::from_be_bytes([pcap[0], pcap[1], pcap[2], pcap[3]]);
        assert!([0xa1b2c3d4, 0xd4c3b2a1].contains(&magic), "a pcap file");
        packets += pcap.len() - 24;
    }
    // (A failure at connect may have sent nothing.)
    assert!(packets > 0, "the captures hold packets");
    // The shrunk failures say how to replay their plan; replaying it runs that plan
    // and shrinks nothing.
    let shrunk = summary
        .failures
        .iter()
        .find(|f| f.shrink_path.is_some())
        .expect("a shrunk failure");
    let path = shrunk.shrink_path.clone().unwrap();
    let again = world
        .explore()
        .unwrap()
        .seeds(shrunk.seed..=shrunk.seed)
        .fault_space(space)
        .replay_plan(path.clone())
        .run(&|_| {})
        .unwrap();
    assert_eq!(again.failed, 1);
    assert_eq!(again.failures[0].plan, shrunk.plan);
    assert_eq!(again.failures[0].shrink_path, Some(path));
    assert!(
        summary
            .render(&|f| format!("seed {}", f.seed))
            .contains(&format!("{} seeds: ", summary.seeds))
    );
}

#[test]
fn a_determinism_check_runs_each_seed_twice_and_passes_a_deterministic_world() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/durable-store.toml");
    let world = World::from_file(path).unwrap();
    let summary = world
        .explore()
        .unwrap()
        .seeds(0..=3)
        .random_faults()
        .check_determinism(true)
        .run(&|_| {})
        .unwrap();
    assert_eq!(summary.seeds, 4);
    assert!(
        summary
            .failures
            .iter()
            .all(|f| !f.reason.contains("not deterministic")),
        "{}",
        summary.render(&|_| String::new())
    );
}

#[test]
fn a_determinism_check_catches_state_leaking_between_the_two_runs() {
    // A store whose log lives in a real directory: the second run of a seed
    // recovers what the first wrote, and says so.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("leaky-store");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = simnet::load(simnet_guests::get("durable-store").unwrap().path).unwrap();
    let world = simnet::Builder::new(0)
        .server("server", &store, |g| {
            g.args(["serve", "0.0.0.0:7", "/data"]).dir(&dir, "/data")
        })
        .client("client", &store, |g| {
            g.args(["client", "server:7", "3"])
                .start_at(std::time::Duration::from_millis(1))
        })
        .world()
        .unwrap();
    let summary = world
        .explore()
        .unwrap()
        .seeds(0..=0)
        .check_determinism(true)
        .run(&|_| {})
        .unwrap();
    assert_eq!(summary.failed, 1, "{}", summary.render(&|_| String::new()));
    let reason = &summary.failures[0].reason;
    assert!(reason.starts_with("not deterministic: "), "{reason}");
}
