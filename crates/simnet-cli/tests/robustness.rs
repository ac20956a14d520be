//! The command under odd input and odd plans: restarts due after the natural end of a
//! run, captures of the largest datagrams, absurd flag values, replay files that
//! cannot be written, names and faults that mean nothing. Each reports clearly and
//! loses nothing.

mod common;

use common::*;

const ECHO_PAIR: &str = r#"
[[host]]
name = "server"
ip = "10.0.0.1"
component = "builtin:echo-server"
args = ["10.0.0.1:7"]
expect = "running"

[[host]]
name = "client"
ip = "10.0.0.2"
component = "builtin:probe"
args = ["reconnecting-ping", "10.0.0.1:7", "3", "4000"]
"#;

fn scenario(name: &str, body: &str) -> String {
    let path = tmp(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_restart_due_after_the_other_guests_finish_is_waited_for() {
    let path = scenario(
        "late-restart.toml",
        r#"
until = "20s"
[[host]]
name = "server"
ip = "10.0.0.1"
component = "builtin:echo-server"
args = ["10.0.0.1:7"]
expect = "running"
[[host]]
name = "late"
ip = "10.0.0.2"
component = "builtin:probe"
args = ["say", "boom"]
start = "10s"
[[fault]]
at = "9500ms"
kind = "crash"
host = "server"
restart_after = "1s"
"#,
    );
    let out = simnet(&["run", &path]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.contains("finished at 10.500000s"), "{stdout}");
}

/// Random plans that restart every host they crash never fail a server that must
/// keep running on that account, however late the restart falls.
#[test]
fn random_crash_plans_with_restarts_do_not_fail_by_themselves() {
    let path = scenario("echo-pair.toml", ECHO_PAIR);
    let out = simnet(&[
        "explore",
        &path,
        "--seeds",
        "0..60",
        "--faults",
        "random",
        "--families",
        "crash",
        "--crash-hosts",
        "server",
        "--horizon",
        "3s",
        "--out-dir",
        tmp("echo-pair.replays").to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("60 seeds: 60 passed"), "{stdout}");
}

/// One large IPv6 datagram is captured whole, and the ICMP answers quote the
/// datagram's real lengths, cut where Linux cuts the quote.
#[test]
fn a_pcap_holds_the_largest_datagrams_and_icmp_quotes_their_real_headers() {
    use etherparse::{
        Icmpv4Slice, Icmpv6Slice, Ipv4HeaderSlice, Ipv6HeaderSlice, SlicedPacket, TransportSlice,
        UdpHeaderSlice,
    };
    let path = scenario(
        "big-v6.toml",
        r#"
[[host]]
name = "a"
ip = ["10.0.0.1", "fd00::1"]
component = "builtin:probe"
args = ["udp-send", "[fd00::2]:9", "65527"]
[[host]]
name = "b"
ip = ["10.0.0.2", "fd00::2"]
component = "builtin:probe"
args = ["udp-send", "10.0.0.1:9", "1000"]
"#,
    );
    let pcap = tmp("big-v6.pcap");
    let out = simnet(&["run", &path, "--pcap", pcap.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.contains("sent 65527 bytes"), "{stdout}");
    let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&pcap).unwrap()).unwrap();
    let (mut udp, mut quotes) = (Vec::new(), Vec::new());
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        assert_eq!(pkt.data.len(), pkt.orig_len as usize, "a packet was cut");
        let sliced = SlicedPacket::from_ip(&pkt.data).expect("an IP packet");
        match &sliced.transport {
            Some(TransportSlice::Udp(u)) => udp.push(u.payload().len()),
            Some(TransportSlice::Icmpv4(icmp)) => {
                let quoted = Icmpv4Slice::payload(icmp);
                let ip = Ipv4HeaderSlice::from_slice(quoted).unwrap();
                let udp = UdpHeaderSlice::from_slice(&quoted[20..]).unwrap();
                quotes.push((ip.total_len() as usize, udp.length() as usize, quoted.len()));
            }
            Some(TransportSlice::Icmpv6(icmp)) => {
                let quoted = Icmpv6Slice::payload(icmp);
                let ip = Ipv6HeaderSlice::from_slice(quoted).unwrap();
                let udp = UdpHeaderSlice::from_slice(&quoted[40..]).unwrap();
                quotes.push((
                    40 + ip.payload_length() as usize,
                    udp.length() as usize,
                    quoted.len(),
                ));
            }
            other => panic!("UDP or ICMP expected, got {other:?}"),
        }
    }
    udp.sort();
    assert_eq!(udp, [1000, 65527]);
    quotes.sort();
    assert_eq!(
        quotes,
        [
            // IPv4: 20 + 8 + 1000 bytes, quoted up to a 576-byte answer.
            (1028, 1008, 548),
            // IPv6: 40 + 8 + 65527 bytes, quoted up to a 1280-byte answer.
            (65575, 65535, 1232),
        ]
    );
}

#[test]
fn absurd_explore_flags_are_refused_before_anything_runs() {
    let path = scenario("echo-pair-flags.toml", ECHO_PAIR);
    let explore = |extra: &[&str]| {
        let mut args = vec!["explore", &path];
        args.extend_from_slice(extra);
        let out = simnet(&args);
        let (stdout, stderr) = text(&out);
        (code(&out), stdout, stderr)
    };
    for (flags, error) in [
        (
            &[
                "--seeds",
                "0..2",
                "--faults",
                "random",
                "--max-faults",
                "18446744073709551615",
            ][..],
            "--max-faults: at most 64 faults per plan, got 18446744073709551615",
        ),
        (
            &[
                "--seeds",
                "0..2",
                "--faults",
                "random",
                "--max-faults",
                "4294967296",
            ],
            "--max-faults: at most 64 faults per plan",
        ),
        (
            &["--seeds", "0..2", "--faults", "random", "--families", ""],
            "--families: the list is empty: name at least one of partition",
        ),
        (
            &["--seeds", "0..2", "--faults", "random", "--crash-hosts", ""],
            "--crash-hosts: the list is empty: name at least one host",
        ),
        (
            &[
                "--seeds",
                "0..3",
                "--shard",
                "18446744073709551615/18446744073709551615",
            ],
            "shard 18446744073709551615/18446744073709551615 of the seed range 0..=2 holds no seed",
        ),
    ] {
        let (code, stdout, stderr) = explore(flags);
        assert_eq!(code, 2, "{flags:?}: {stdout}{stderr}");
        assert!(stderr.contains(error), "{flags:?}: {stderr}");
        assert!(!stderr.contains("Some("), "{stderr}");
    }
    // The last seed can be explored, alone or at the end of a range.
    for range in [
        "18446744073709551615..=18446744073709551615",
        "18446744073709551614..=18446744073709551615",
    ] {
        let (code, stdout, stderr) = explore(&["--seeds", range]);
        assert_eq!(code, 0, "{range}: {stdout}{stderr}");
    }
    // A family named twice is the family named once: the same plans.
    let plans = |families: &str| {
        let (_, stdout, _) = explore(&[
            "--seeds",
            "0..8",
            "--faults",
            "random",
            "--families",
            families,
            "--out-dir",
            tmp("twice.replays").to_str().unwrap(),
        ]);
        stdout.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(plans("crash,reset,crash"), plans("crash,reset"));
}

/// A failing seed whose replay file cannot be written is still reported, with its
/// plan, and then the write error.
#[test]
fn a_replay_file_that_cannot_be_written_loses_no_failure() {
    let path = scenario(
        "fails.toml",
        &format!(
            "{}[[fault]]\nat = \"0s\"\nkind = \"partition\"\nfrom = [\"a\"]\nto = [\"b\"]\n\
             [[host]]\nname = \"b\"\nip = \"10.0.0.2\"\ncomponent = \"builtin:probe\"\n\
             args = [\"ping\", \"10.0.0.1:7\", \"1\", \"100\"]\n",
            HOST.replace("builtin:probe", "builtin:echo-server")
                + "args = [\"10.0.0.1:7\"]\nexpect = \"running\"\n"
        ),
    );
    let file = tmp("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = simnet(&[
        "explore",
        &path,
        "--seeds",
        "0..2",
        "--faults",
        "random",
        "--max-faults",
        "0",
        "--out-dir",
        file.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 2, "{stdout}{stderr}");
    assert!(stderr.contains("not a directory"), "{stderr}");
    let inside = file.join("replays");
    // Plans of a fault or two: a failure with an empty plan needs no replay file
    // (`simnet run --seed` replays it).
    let out = simnet(&[
        "explore",
        &path,
        "--seeds",
        "0..4",
        "--faults",
        "random",
        "--families",
        "reset",
        "--max-faults",
        "2",
        "--out-dir",
        inside.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}{stderr}");
    assert!(stdout.contains("4 seeds: 0 passed, 4 failed"), "{stdout}");
    let failed = stdout.find("): b: expected exit 0").expect(&stdout);
    let unwritten = stdout
        .find("the replay file was not written")
        .expect(&stdout);
    assert!(failed < unwritten, "{stdout}");
}

#[test]
fn names_and_faults_that_mean_nothing_are_located() {
    for (name, error) in [
        ("localhost", "`localhost` names every host's own loopback"),
        ("LOCALHOST", "`localhost` names every host's own loopback"),
        ("10.0.0.2", "\"10.0.0.2\" reads as an IP address"),
        ("..", "\"..\" is not a valid host name"),
        (
            "-",
            "\"-\" is not a valid host name (a label cannot start or end with '-')",
        ),
    ] {
        let body = HOST.replace("name = \"a\"", &format!("name = {name:?}"));
        let e = scenario_error("name.toml", &body);
        assert_eq!(
            e,
            format!(
                "name.toml:2:8: name: {}",
                e.split_once(": name: ").map_or("", |p| p.1)
            )
        );
        assert!(e.contains(error), "{name}: {e}");
    }
    let two = format!(
        "{HOST}{}",
        HOST.replace("\"a\"", "\"b\"")
            .replace("10.0.0.1", "10.0.0.2")
    );
    let e = scenario_error(
        "self-partition.toml",
        &format!(
            "{two}[[fault]]\nat = \"1s\"\nkind = \"partition\"\nfrom = [\"a\"]\nto = [\"a\"]\n"
        ),
    );
    assert_eq!(
        e,
        "self-partition.toml:13:6: to: host \"a\" is on both sides: a host is never cut off from itself"
    );
    let e = scenario_error(
        "short-read-duration.toml",
        &format!(
            "{HOST}[[api_fault]]\nhost = \"a\"\nmethod = \"read\"\nnth = 1\neffect = \"short-read\"\n\
             duration = \"1s\"\n"
        ),
    );
    assert!(
        e.starts_with("short-read-duration.toml:10:12: duration: only a stall"),
        "{e}"
    );
}

/// A validation error in a world of many hosts is found in one pass over them.
#[test]
fn a_bad_name_among_many_hosts_is_reported() {
    let mut body = String::new();
    for i in 0..20_000u32 {
        body.push_str(&format!(
            "[[host]]\nname = \"h{i}\"\nip = \"10.{}.{}.1\"\ncomponent = \"builtin:probe\"\n",
            i >> 8,
            i & 0xff
        ));
    }
    body.push_str("[[link]]\nbetween = [\"h0\", \"nobody\"]\n");
    let e = scenario_error("many.toml", &body);
    assert_eq!(e, "many.toml:80002:11: between: no host named \"nobody\"");
}
