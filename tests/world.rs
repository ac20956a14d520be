//! One world, two spellings: every example scenario read from its file and the same
//! world written with the `Builder` run identically (the same trace hash), and a
//! scenario loaded into a test can be extended there.

use std::path::Path;
use std::time::Duration;

use simnet::{Builder, FaultKind, Guest, World};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

/// `world` written again with the builder's methods alone.
fn rebuilt(w: &World) -> World {
    let net = w.net.clone();
    let mut b = Builder::new(w.seed)
        .net(move |n| *n = net)
        .watchdog(w.watchdog)
        .chaos(w.chaos)
        .explore(w.explore.clone());
    if let Some(until) = w.until {
        b = b.time_limit(until);
    }
    let scheduler = w.scheduler.clone();
    b = b.config(move |c| scheduler.apply(c));
    for h in &w.hosts {
        b = b
            .host(&h.name, &h.ips[0].to_string())
            .host_ips(&h.name, &h.ips[1..]);
        for g in &h.guests {
            b = b.guest_from(&h.name, &g.name, g.source.clone(), |x| copy(g, x));
        }
        if let Some(n) = h.max_sockets {
            b = b.max_sockets(&h.name, n);
        }
        for m in &h.disks {
            b = b.disk(&h.name, m.host_dir.clone(), &m.guest, m.read_only);
        }
        if let Some(c) = h.disk_config {
            b = b.disk_config(&h.name, c);
        }
    }
    for l in &w.links {
        b = b.link(&l.a, &l.b, l.config);
    }
    for f in &w.faults {
        b = match &f.trigger {
            None => b.fault(f.at, f.kind.clone()),
            Some(t) => b.fault_when(&t.host, t.when.clone(), f.at, f.kind.clone()),
        };
    }
    for a in &w.api_faults {
        b = b.api_fault(a.host.as_deref(), a.fault.clone());
    }
    b.world().expect("the rebuilt world is valid")
}

/// `into` given every setting of `g` through the guest's methods.
fn copy(g: &Guest, into: Guest) -> Guest {
    let mut x = into
        .args(g.args.iter().cloned())
        .start_at(g.start)
        .expect(g.expect.clone())
        .capabilities(g.caps)
        .limits(g.limits.clone())
        .stdin(g.stdin.clone());
    for (k, v) in &g.env {
        x = x.env(k, v);
    }
    for d in &g.dirs {
        x = x.dir(d.host.clone(), d.guest.clone());
    }
    for d in &g.disks {
        x = match d.read_only {
            false => x.disk(d.guest.clone(), d.source.clone()),
            true => x.disk_read_only(d.guest.clone(), d.source.clone()),
        };
    }
    if let Some(a) = &g.argv0 {
        x = x.argv0(a);
    }
    if let Some(c) = &g.cwd {
        x = x.cwd(c);
    }
    x
}

#[test]
fn every_example_runs_the_same_from_its_file_and_from_the_builder() {
    let mut examples: Vec<_> = std::fs::read_dir(EXAMPLES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 10, "{examples:?}");
    for path in examples {
        let file = World::from_file(&path).unwrap();
        let built = rebuilt(&file);
        let (a, b) = (file.run(file.seed).unwrap(), built.run(file.seed).unwrap());
        assert_eq!(
            a.report.trace_hash,
            b.report.trace_hash,
            "{}: the builder's world ran differently",
            path.display()
        );
        assert_eq!(a.passed(), b.passed(), "{}", path.display());
    }
}

#[test]
fn a_scenario_loaded_into_a_test_can_be_extended_there() {
    let mut world = World::from_file(Path::new(EXAMPLES).join("echo-under-loss.toml")).unwrap();
    assert!(world.run(world.seed).unwrap().passed());
    // Cut the clients off from the server for good: they fail.
    world.faults.push(simnet::ScheduledFault {
        at: Duration::ZERO,
        kind: FaultKind::Partition {
            from: vec!["client1".into(), "client2".into()],
            to: vec!["server".into()],
            one_way: false,
        },
        trigger: None,
    });
    let run = world.run(world.seed).unwrap();
    assert!(!run.passed());
    assert!(
        run.unmet().unwrap().starts_with("client1: expected exit 0"),
        "{}",
        run.unmet().unwrap()
    );
    // The builder takes a loaded world and adds to it.
    let extended = Builder::from_world(
        World::from_file(Path::new(EXAMPLES).join("echo-under-loss.toml")).unwrap(),
    )
    .fault(
        Duration::ZERO,
        FaultKind::Crash {
            host: "server".into(),
            mode: simnet::CrashMode::Silent,
        },
    )
    .world()
    .unwrap();
    assert!(!extended.run(extended.seed).unwrap().passed());
}
