//! Compiled components are cached on disk and reused by a later runtime.

mod common;

use std::time::Duration;

use simnet_wasi::{GuestSpec, Outcome, Runtime, Sim, SimConfig};

#[test]
fn a_second_runtime_reuses_the_compiled_artifact() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let guest = simnet_guests::PROBE;

    let first = Runtime::with_cache_dir(Some(dir.clone())).unwrap();
    first.load_bytes(guest.name, guest.bytes).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with(".cwasm"), "{name}");
    let modified = std::fs::metadata(&files[0]).unwrap().modified().unwrap();

    // A fresh runtime finds the artifact instead of compiling (the file is untouched)
    // and runs it.
    let second = Runtime::with_cache_dir(Some(dir.clone())).unwrap();
    let program = second.load_bytes(guest.name, guest.bytes).unwrap();
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().modified().unwrap(),
        modified
    );
    let mut sim = Sim::new(&second, SimConfig::new(1));
    let h = sim.add_host("h", &["10.0.0.1".parse().unwrap()]).unwrap();
    sim.spawn(GuestSpec::new("sleeper", h, program).args(["sleep", "1"]));
    let report = sim.run();
    assert_eq!(report.guests[0].outcome, Outcome::Exited(0));
    assert_eq!(
        report.end.as_nanos(),
        Duration::from_secs(1).as_nanos() as u64
    );

    // A corrupt artifact is replaced, not trusted.
    std::fs::write(&files[0], b"garbage").unwrap();
    let third = Runtime::with_cache_dir(Some(dir.clone())).unwrap();
    third.load_bytes(guest.name, guest.bytes).unwrap();
    assert!(std::fs::read(&files[0]).unwrap().len() > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}
