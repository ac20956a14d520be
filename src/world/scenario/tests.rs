//! Parsing and writing back scenario entries.

use std::time::Duration;

use super::*;
use crate::space::Family;

const HOSTS: &str = r#"
[network]
latency = "5ms"
[[host]]
name = "a"
ip = "10.0.0.1"
component = "builtin:probe"
[[host]]
name = "b"
ip = "10.0.0.2"
component = "builtin:probe"
"#;

const FAULTS: &str = r#"
[[fault]]
at = "1s"
kind = "partition"
from = ["a"]
to = ["b"]
one_way = true
[[fault]]
at = "2s"
kind = "heal"
from = ["a"]
to = ["b"]
[[fault]]
at = "1ms"
kind = "clog"
from = ["b"]
to = ["a"]
[[fault]]
at = "1s 500ms"
kind = "release"
from = ["b"]
to = ["a"]
[[fault]]
at = "3s"
kind = "link"
between = ["a", "b"]
jitter = "2ms"
loss = 0.25
bandwidth = "10Mbps"
[[fault]]
kind = "crash"
host = "a"
mode = "silent"
on_output = "ready [0-9]+"
restart_after = "1s"
[[fault]]
at = "4s"
kind = "crash"
host = "b"
after_accepts = 2
[[fault]]
at = "5s"
kind = "partition"
from = ["a"]
to = ["b"]
after_writes = 3
on_host = "b"
[[fault]]
at = "6s"
kind = "reset"
between = ["a"]
[[fault]]
at = "7s"
kind = "reset"
[[api_fault]]
host = "a"
method = "read"
nth = 2
effect = "stall"
duration = "250ms"
[[api_fault]]
method = "finish-connect"
probability = 0.5
error = "connection-refused"
[[api_fault]]
host = "b"
method = "write"
nth = 1
effect = "short-write"
"#;

#[test]
fn every_fault_written_back_parses_to_the_same_fault() {
    let path = std::path::Path::new("faults.toml");
    let original = parse(path, &format!("{HOSTS}{FAULTS}")).unwrap();
    assert_eq!(original.faults.len(), 11);
    let text = fault_entries(&original.faults, &original.api_faults).unwrap();
    let again = parse(path, &format!("{HOSTS}{text}")).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    assert_eq!(again.faults, original.faults, "{text}");
    assert_eq!(again.api_faults, original.api_faults, "{text}");
}

#[test]
fn buffer_maxima_set_autotuning_within_bounds() {
    let path = std::path::Path::new("buffers.toml");
    let with = |network: &str| {
        let text = HOSTS.replace("latency = \"5ms\"", network);
        parse(path, &text).unwrap().net.tcp
    };
    let tcp = with("send_buffer_max = \"8MiB\"\nreceive_buffer_max = \"65536\"");
    assert_eq!(tcp.send_buffer_max, 8 << 20);
    assert_eq!(tcp.receive_buffer_max, 65_536);
    // Below the default means no tuning; beyond 1 GiB is capped.
    let tcp = with("send_buffer_max = \"1KiB\"\nreceive_buffer_max = \"100GiB\"");
    assert_eq!(tcp.send_buffer_max, tcp.send_buffer);
    assert_eq!(tcp.receive_buffer_max, 1 << 30);
    let defaults = with("");
    assert_eq!(defaults.send_buffer_max, 2 << 20);
    assert_eq!(defaults.receive_buffer_max, 3 << 20);
}

#[test]
fn the_explore_section_sets_the_fault_space() {
    let path = std::path::Path::new("explore.toml");
    let text = format!(
        "{HOSTS}[explore]\nfamilies = [\"crash\", \"stall\"]\ncrash_hosts = [\"b\"]\n\
         restart = false\nhorizon = \"2s\"\nmax_faults = 2\nswarm = false\n"
    );
    let space = parse(path, &text).unwrap().explore;
    assert_eq!(space.families, [Family::Crash, Family::Stall]);
    assert_eq!(space.crash_hosts, ["b"]);
    assert!(!space.restart_crashes);
    assert_eq!(space.horizon, Duration::from_secs(2));
    assert_eq!(space.max_faults, 2);
    assert!(!space.swarm);
    let defaults = parse(path, HOSTS).unwrap().explore;
    assert_eq!(defaults.families, Family::ALL);
    assert!(defaults.restart_crashes && defaults.swarm);
    for (field, error) in [
        (
            "families = [\"meteor\"]",
            "explore.toml:13:12: families: unknown family \"meteor\"",
        ),
        (
            "crash_hosts = [\"c\"]",
            "explore.toml:13:15: crash_hosts: no host named \"c\"",
        ),
        (
            "max_faults = 1000",
            "explore.toml:13:14: max_faults: at most 64 faults per plan",
        ),
    ] {
        let e = parse(path, &format!("{HOSTS}[explore]\n{field}\n")).unwrap_err();
        assert!(format!("{e:#}").starts_with(error), "{e:#}");
    }
}

#[test]
fn a_host_runs_its_component_and_its_guest_entries() {
    let text = r#"
[[host]]
name = "server"
ip = "10.0.0.1"
component = "builtin:echo-server"
args = ["0.0.0.0:7"]
expect = "running"
[[host.guest]]
name = "sidecar"
component = "builtin:echo-client"
args = ["127.0.0.1:7", "2", "8"]
start = "1ms"
argv0 = "side"
cwd = "/"
stdin = "hello"
[[host]]
name = "worker"
ip = "10.0.0.2"
[[host.guest]]
name = "job"
component = "builtin:probe"
expect = 3
"#;
    let world = parse(Path::new("guests.toml"), text).unwrap();
    let names: Vec<(&str, &str)> = world
        .guests()
        .map(|(h, g)| (h.name.as_str(), g.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("server", "server"),
            ("server", "sidecar"),
            ("worker", "job")
        ]
    );
    let (_, sidecar) = world.guests().nth(1).unwrap();
    assert_eq!(sidecar.start, Duration::from_millis(1));
    assert_eq!(sidecar.argv0.as_deref(), Some("side"));
    assert_eq!(sidecar.cwd.as_deref(), Some("/"));
    assert!(matches!(&sidecar.stdin, simnet_wasi::Stdin::Bytes(b) if &b[..] == b"hello"));
    let (_, job) = world.guests().nth(2).unwrap();
    assert_eq!(job.expect, crate::world::Expect::Exit(3));
    for (bad, error) in [
        (
            "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\n",
            "guests.toml:2:8: component: the host runs nothing",
        ),
        (
            "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\nargs = [\"x\"]\n",
            "guests.toml:2:8: component: the host sets arguments",
        ),
        (
            "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\ncomponent = \"builtin:probe\"\n\
             [[host.guest]]\nname = \"a\"\ncomponent = \"builtin:probe\"\n",
            "guests.toml:2:8: guest: a guest named \"a\" is defined twice",
        ),
        (
            "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\n[[host.guest]]\ncomponent = \"builtin:probe\"\n",
            "guests.toml:4:1: missing field `name`",
        ),
    ] {
        let e = format!("{:#}", parse(Path::new("guests.toml"), bad).unwrap_err());
        assert!(e.starts_with(error), "{e}");
    }
}

#[test]
fn the_watchdog_is_a_duration_or_off() {
    let with = |w: &str| parse(Path::new("w.toml"), &format!("watchdog = \"{w}\"\n{HOSTS}"));
    assert_eq!(with("2s").unwrap().watchdog, Some(Duration::from_secs(2)));
    assert_eq!(with("off").unwrap().watchdog, None);
    let e = format!("{:#}", with("soon").unwrap_err());
    assert!(e.starts_with("w.toml:1:12: watchdog: bad duration"), "{e}");
}

#[test]
fn program_settings_on_a_host_without_a_component_are_refused() {
    for setting in [
        "args = [\"x\"]",
        "tcp = false",
        "udp = false",
        "ip_name_lookup = false",
    ] {
        let text = format!("[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\n{setting}\n");
        let e = format!("{:#}", parse(Path::new("h.toml"), &text).unwrap_err());
        assert!(e.contains("names no `component`"), "{setting}: {e}");
    }
}

#[test]
fn a_loss_fault_replays_over_its_pairs_own_link() {
    let text = format!(
        "{HOSTS}[[link]]\nbetween = [\"a\", \"b\"]\nlatency = \"50ms\"\njitter = \"2ms\"\n"
    );
    let path = Path::new("l.toml");
    let world = parse(path, &text).unwrap();
    let plan = [crate::PlanFault::Loss {
        a: "a".into(),
        b: "b".into(),
        at: Duration::from_millis(20),
        loss: 0.3,
    }];
    let in_run = world.with_plan(&plan);
    let replay = parse(
        path,
        &format!("{text}{}", world.plan_entries(&plan).unwrap()),
    )
    .unwrap();
    let link = |w: &World| {
        w.faults
            .iter()
            .find_map(|f| match &f.kind {
                crate::world::FaultKind::Link { config, .. } => Some(*config),
                _ => None,
            })
            .expect("a link fault")
    };
    let (ran, replayed) = (link(&in_run), link(&replay));
    assert_eq!(ran.latency, replayed.latency);
    assert_eq!(ran.jitter, replayed.jitter);
    assert_eq!(ran.loss, replayed.loss);
    assert_eq!(
        ran.latency,
        simnet_core::Latency::Fixed(Duration::from_millis(50))
    );
}

#[test]
fn the_scheduler_table_sets_costs_and_default_limits() {
    let text = format!(
        "[scheduler]\nslice_fuel = 500000\nslice_time = \"2ms\"\nhost_call_time = \"3us\"\n\
         output_limit = \"1MiB\"\nmemory_limit = \"64MiB\"\nbusy_limit = \"5s\"\n{HOSTS}"
    );
    let s = parse(Path::new("s.toml"), &text).unwrap().scheduler;
    assert_eq!(s.slice_fuel, Some(500_000));
    assert_eq!(s.slice_time, Duration::from_millis(2));
    assert_eq!(s.host_call_time, Duration::from_micros(3));
    assert_eq!(s.output_limit, 1 << 20);
    assert_eq!(s.memory_limit, Some(64 << 20));
    assert_eq!(s.busy_limit, Some(Duration::from_secs(5)));
    let defaults = parse(Path::new("s.toml"), HOSTS).unwrap().scheduler;
    assert_eq!(defaults, crate::world::Scheduler::default());
    for (bad, error) in [
        ("slice_fuel = 0", "slice_fuel: must be above zero"),
        ("slice = 1", "unknown field `slice`"),
    ] {
        let e = format!(
            "{:#}",
            parse(Path::new("s.toml"), &format!("[scheduler]\n{bad}\n{HOSTS}")).unwrap_err()
        );
        assert!(e.contains(error), "{bad}: {e}");
    }
}
