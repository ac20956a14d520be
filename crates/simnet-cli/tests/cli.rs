//! The `simnet` command as users run it: every subcommand and flag, the examples, and
//! the errors for bad input.

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::*;

const PROBE: &str = simnet_guests::PROBE.path;

// ---- exec ----

#[test]
fn exec_passes_output_args_and_env_through() {
    let out = simnet(&[
        "exec",
        "--env",
        "ROLE=primary",
        "--env",
        "X=1",
        PROBE,
        "env",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(r#"args: ["probe.wasm", "env"]"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"env: [("ROLE", "primary"), ("X", "1")]"#),
        "{stdout}"
    );
}

#[test]
fn exec_returns_the_guest_exit_code_and_reports_traps_as_wasmtime() {
    assert_eq!(code(&simnet(&["exec", PROBE, "exit", "0"])), 0);
    assert_eq!(code(&simnet(&["exec", PROBE, "exit", "5"])), 1);
    let out = simnet(&["exec", PROBE, "trap"]);
    let (_, stderr) = text(&out);
    // wasmtime on Linux exits with 128 + SIGABRT after a trap, and explains it so.
    assert_eq!(code(&out), 134, "{stderr}");
    assert!(stderr.contains("the guest panicked on purpose"), "{stderr}");
    assert!(
        stderr.contains("Error: failed to run main module `probe.wasm`\n\nCaused by:\n    0: failed to invoke `run` function\n    1: error while executing at wasm backtrace:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("wasm trap: wasm `unreachable` instruction executed"),
        "{stderr}"
    );
    // Names in the backtrace are demangled.
    assert!(stderr.contains("probe::main"), "{stderr}");
    assert!(!stderr.contains("_ZN5probe4main"), "{stderr}");
    // A host call refusing what it was given is an error, not a trap: wasmtime
    // exits with 1 then.
    let out = simnet(&["exec", simnet_guests::CONFORMANCE.path, "write-unpermitted"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stderr}");
    assert!(
        stderr.contains("Error: failed to run main module"),
        "{stderr}"
    );
}

#[test]
fn exec_help_states_the_cost_of_computing_the_simulation_uses() {
    let out = simnet(&["exec", "--help"]);
    let (stdout, _) = text(&out);
    let config = simnet_wasi::SimConfig::new(0);
    assert_eq!(config.slice_fuel, Some(1_000_000));
    let expected = format!(
        "computing moves them {} per million fuel",
        humantime_like(config.slice_time)
    );
    assert!(stdout.contains(&expected), "{stdout}");
}

/// A whole number of milliseconds as humantime writes it.
fn humantime_like(d: std::time::Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[test]
fn exec_limits_take_wasmtime_spellings() {
    let out = simnet(&["exec", "-W", "fuel=100000", PROBE, "spin"]);
    assert_eq!(code(&out), 134, "{:?}", text(&out));
    assert!(
        text(&out).1.contains("fuel limit exceeded"),
        "{:?}",
        text(&out)
    );
    let out = simnet(&[
        "exec",
        "-W",
        "max-memory-size=4194304",
        PROBE,
        "alloc",
        "64",
    ]);
    assert_eq!(code(&out), 134, "{:?}", text(&out));
    assert!(
        text(&out).1.contains("memory limit exceeded"),
        "{:?}",
        text(&out)
    );
    let out = simnet(&["exec", "-W", "timeout=1s", PROBE, "spin"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("--until"), "{:?}", text(&out));
}

/// Run simnet through the shell, so stdout and stderr can share one pipe.
fn sh(script: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("SIMNET", env!("CARGO_BIN_EXE_simnet"))
        .env("PROBE", PROBE)
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .current_dir(ROOT)
        .output()
        .expect("run sh")
}

#[test]
fn exec_passes_output_through_in_the_order_it_was_written() {
    let out = sh(r#""$SIMNET" exec "$PROBE" interleave 3 2>&1"#);
    assert_eq!(code(&out), 0);
    assert_eq!(text(&out).0, "out 0\nerr 0\nout 1\nerr 1\nout 2\nerr 2\n");
}

#[test]
fn exec_output_arrives_while_the_guest_still_runs() {
    use std::io::{BufRead, BufReader, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args(["exec", PROBE, "cat"])
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn simnet");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(b"first line\n").unwrap();
    stdin.flush().unwrap();
    // The guest echoes the line while its stdin is still open, so it is still
    // running when the line arrives.
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "first line\n");
    stdin.write_all(b"second\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "second\n");
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn exec_passes_stdin_to_the_guest() {
    let input = tmp("stdin.txt");
    let body: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&input, &body).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args(["exec", PROBE, "cat"])
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    assert_eq!(text(&out).0, body);
    // From a file every read is full: 4096-byte reads, the same on every run.
    assert_eq!(
        text(&out).1,
        format!(
            "read {} bytes from stdin in {} reads\n",
            body.len(),
            body.len().div_ceil(4096)
        )
    );
    let out = sh(r#"echo ignored | "$SIMNET" exec -S inherit-stdin=n "$PROBE" cat"#);
    assert_eq!(text(&out).1, "read 0 bytes from stdin in 0 reads\n");
}

#[test]
fn exec_preopens_directories_deterministically() {
    let dir = tmp("preopen");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["zeta", "alpha", "mid"] {
        std::fs::write(dir.join(name), name).unwrap();
    }
    std::fs::write(dir.join("input.txt"), "from the host").unwrap();
    let arg = format!("{}::/data", dir.display());
    let run = || simnet(&["exec", "--dir", &arg, PROBE, "files", "/data"]);
    let first = run();
    let (stdout, stderr) = text(&first);
    assert_eq!(code(&first), 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with(r#"listing order: ["alpha", "input.txt", "mid", "zeta"]"#),
        "{stdout}"
    );
    assert!(stdout.contains("input.txt: \"from the host\""), "{stdout}");
    // File times are virtual: untouched files at the epoch, the guest's own file at
    // the virtual time it wrote it (after a 5 s sleep).
    assert!(
        stdout.contains("input.txt modified: Ok(1735689600)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("output.txt: 21 bytes, modified Ok(1735689605)"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("output.txt")).unwrap(),
        "written by the guest\n"
    );
    let second = run();
    assert_eq!(
        text(&second).0.replace("\"output.txt\", ", ""),
        stdout.replace("\"output.txt\", ", "")
    );
    // Without --dir nothing is visible, and a missing directory is an error.
    let out = simnet(&["exec", PROBE, "files", "/data"]);
    assert_ne!(code(&out), 0);
    let out = simnet(&["exec", "--dir", "/nonexistent::/x", PROBE, "env"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("does not exist"), "{:?}", text(&out));
}

#[test]
fn exec_env_copies_named_variables_from_simnet() {
    let out = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args([
            "exec",
            "--env",
            "FROM_HOST",
            "--env",
            "NOT_SET_ANYWHERE",
            "--env",
            "X=1",
            PROBE,
            "env",
        ])
        .env("FROM_HOST", "copied")
        .env_remove("NOT_SET_ANYWHERE")
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    assert!(
        text(&out)
            .0
            .contains(r#"env: [("FROM_HOST", "copied"), ("X", "1")]"#),
        "{:?}",
        text(&out)
    );
}

#[test]
fn exec_takes_wasmtime_s_options() {
    let out = simnet(&["exec", "-S", "tcp=n", PROBE, "refused", "10.0.0.1:1"]);
    assert!(
        text(&out).0.contains("PermissionDenied"),
        "{:?}",
        text(&out)
    );
    let out = simnet(&[
        "exec",
        "-S",
        "inherit-network,allow-ip-name-lookup=n",
        PROBE,
        "resolve",
        "host",
    ]);
    assert!(text(&out).0.starts_with("host: error"), "{:?}", text(&out));
    let out = simnet(&[
        "exec",
        "-S",
        "inherit-network",
        "-S",
        "tcp",
        PROBE,
        "refused",
        "10.0.0.1:1",
    ]);
    assert_eq!(text(&out).0, "connect to 10.0.0.1:1: refused\n");
    let out = simnet(&["exec", "-S", "http", PROBE, "env"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).1.contains("does not support wasmtime's -S http"),
        "{:?}",
        text(&out)
    );
    let out = simnet(&["exec", "-S", "tcp=maybe", PROBE, "env"]);
    assert_eq!(code(&out), 2);
    let out = simnet(&["exec", "-S", "no-such-thing", PROBE, "env"]);
    assert!(
        text(&out).1.contains("unknown -S option"),
        "{:?}",
        text(&out)
    );
}

/// A WASI 0.3 command runs as `wasmtime run` 48 runs it, with the flags a wasmtime
/// command line for it carries.
#[test]
fn exec_runs_a_wasi_0_3_command_with_wasmtime_s_flags() {
    let p3 = simnet_guests::P3_NET.path;
    let out = simnet(&[
        "exec",
        "-W",
        "component-model-async",
        "-S",
        "p3,inherit-network",
        p3,
        "sleep",
        "1500",
    ]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    assert_eq!(text(&out).0, "slept 1500000000 ns\n");
    // Too few handles for a listener and its stream: the guest fails as on wasmtime.
    let out = simnet(&["exec", "-S", "max-resources=1", p3, "echo-server", "7"]);
    assert_eq!(code(&out), 1, "{:?}", text(&out));
    assert!(
        text(&out).1.contains("resource table has no free keys"),
        "{:?}",
        text(&out)
    );
    let out = simnet(&["exec", "-S", "max-resources=many", p3, "sleep", "1"]);
    assert_eq!(code(&out), 2, "{:?}", text(&out));
    let out = simnet(&["exec", "-W", "component-model-async=n", p3, "sleep", "1"]);
    assert_eq!(code(&out), 2, "{:?}", text(&out));
}

#[test]
fn exec_names_wasmtime_flags_it_lacks() {
    let out = simnet(&["exec", "--invoke", "run", PROBE, "env"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 2);
    assert!(
        stderr.contains("`--invoke` is not an option simnet supports"),
        "{stderr}"
    );
    assert!(!stderr.contains("tip:"), "{stderr}");
    // After the component, arguments belong to the guest, as with wasmtime.
    let out = simnet(&["exec", PROBE, "env", "--invoke"]);
    assert_eq!(code(&out), 0);
    assert!(text(&out).0.contains(r#""--invoke""#), "{:?}", text(&out));
}

#[test]
fn exec_stops_at_its_output_limit_with_a_notice() {
    let out = simnet(&["exec", "--max-output", "1MiB", PROBE, "flood", "3000000"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stderr}");
    assert!(stdout.len() < (1 << 20) + 200, "{}", stdout.len());
    assert!(
        stdout.ends_with(
            "[simnet: stdout exceeded its limit of 1048576 bytes; the rest was dropped]\n"
        ),
        "{}",
        &stdout[stdout.len() - 200..]
    );
    // stderr has a limit of its own: the guest's last line still arrives.
    assert!(stderr.contains("flooded 3000000 bytes"), "{stderr}");
    assert!(stderr.contains("more than --max-output"), "{stderr}");
}

#[test]
fn exec_of_a_server_alone_says_nobody_will_connect_unless_given_time() {
    let out = simnet(&["exec", PROBE, "accept-forever", "10.0.0.1:80"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stderr}");
    assert!(
        stderr.contains("nothing else will ever connect"),
        "{stderr}"
    );
    assert!(stderr.contains("--until"), "{stderr}");
    let out = simnet(&[
        "exec",
        "--until",
        "30s",
        PROBE,
        "accept-forever",
        "10.0.0.1:80",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(stderr.contains("stopped at --until 30s"), "{stderr}");
}

#[test]
fn exec_sleeps_in_virtual_time_and_takes_a_seed() {
    let out = simnet(&["exec", "--seed", "9", PROBE, "sleep", "3600"]);
    let (stdout, _) = text(&out);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout, "slept 3600s; wall clock 1735693200s\n");
    let a = text(&simnet(&["exec", "--seed", "9", PROBE, "env"])).0;
    assert_eq!(a, text(&simnet(&["exec", "--seed", "9", PROBE, "env"])).0);
}

#[test]
fn exec_ip_and_capability_switches() {
    let out = simnet(&["exec", "--ip", "192.168.7.7", PROBE, "resolve", "host"]);
    assert_eq!(text(&out).0, "host: 192.168.7.7\n");
    let out = simnet(&[
        "exec",
        "-S",
        "allow-ip-name-lookup=n",
        PROBE,
        "resolve",
        "host",
    ]);
    assert!(text(&out).0.starts_with("host: error"), "{:?}", text(&out));
    let out = simnet(&["exec", "-S", "tcp=n", PROBE, "refused", "10.0.0.1:1"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).0.contains("PermissionDenied"),
        "{:?}",
        text(&out)
    );
    let out = simnet(&["exec", "-S", "udp=n", PROBE, "exit", "0"]);
    assert_eq!(code(&out), 0);
}

#[test]
fn exec_refuses_bad_components_clearly() {
    let not_wasm = tmp("not-wasm.wasm");
    std::fs::write(&not_wasm, "hello").unwrap();
    let out = simnet(&["exec", not_wasm.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out)
            .1
            .contains("not-wasm.wasm is not a WebAssembly file"),
        "{:?}",
        text(&out)
    );
    let out = simnet(&["exec", "/nonexistent.wasm"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).1.contains("cannot read /nonexistent.wasm"),
        "{:?}",
        text(&out)
    );
}

// ---- run ----

#[test]
fn examples_run_and_pass() {
    for (file, expect) in [
        (
            "examples/echo-under-loss.toml",
            "10 of 10 clients echoed 50000 bytes",
        ),
        (
            "examples/full-backlog.toml",
            "0 of 3 connections established within 500 ms",
        ),
        ("examples/silent-peer.toml", "read timed out after 2s"),
        ("examples/udp-under-loss.toml", "50 of 50 requests answered"),
    ] {
        let out = simnet(&["run", file]);
        let (stdout, stderr) = text(&out);
        assert_eq!(code(&out), 0, "{file}:\n{stdout}{stderr}");
        assert!(stdout.contains(expect), "{file}:\n{stdout}");
        assert!(
            stdout.contains("host ") && stdout.contains("bytes sent"),
            "{stdout}"
        );
    }
}

#[test]
fn run_prints_a_timeline_and_a_summary() {
    let out = simnet(&["run", "examples/silent-peer.toml"]);
    let (stdout, _) = text(&out);
    // Lines stamped with virtual time and the host name.
    assert!(
        stdout.contains("[   2.051000s] client | read timed out after 2s"),
        "{stdout}"
    );
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("host"))
        .collect();
    assert!(
        summary[1].starts_with("silent") && summary[1].contains("running"),
        "{summary:?}"
    );
    assert!(
        summary[2].starts_with("client") && summary[2].contains("exited"),
        "{summary:?}"
    );
}

#[test]
fn run_fails_when_an_expectation_is_not_met_and_until_stops_it() {
    let out = simnet(&["run", "examples/silent-peer.toml", "--until", "1s"]);
    let (stdout, _) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}");
    assert!(
        stdout.contains("stopped at the time limit at 1.000000s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("client: expected exit 0, got: still running"),
        "{stdout}"
    );
}

#[test]
fn run_writes_a_json_lines_trace() {
    let path = tmp("trace.jsonl");
    let out = simnet(&[
        "run",
        "examples/full-backlog.toml",
        "--seed",
        "4",
        "--trace",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let body = std::fs::read_to_string(&path).unwrap();
    let events: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(events.len() > 20);
    let mut last = 0;
    for e in &events {
        let t = e["t_ns"].as_u64().expect("t_ns");
        assert!(t >= last, "in time order");
        last = t;
        assert!(e["kind"].is_string());
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in [
        "socket_created",
        "segment_sent",
        "segment_delivered",
        "established",
        "output",
        "guest_end",
    ] {
        assert!(kinds.contains(&k), "no {k} in {kinds:?}");
    }
    let syn = events.iter().find(|e| e["kind"] == "segment_sent").unwrap();
    assert_eq!(syn["flags"], "SYN");
    assert_eq!(syn["host"], "client");
    assert_eq!(syn["remote"], "10.0.0.1:80");
}

#[test]
fn run_writes_a_pcap_that_parses_back() {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let path = tmp("echo.pcap");
    let out = simnet(&[
        "run",
        "examples/echo-under-loss.toml",
        "--pcap",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.header().datalink, pcap_file::DataLink::RAW);
    let (mut packets, mut syns, mut fins, mut payload) = (0, 0, 0, 0usize);
    let mut last_ts = std::time::Duration::ZERO;
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        assert!(pkt.timestamp >= last_ts);
        last_ts = pkt.timestamp;
        let sliced = SlicedPacket::from_ip(&pkt.data).expect("an IP packet");
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
            panic!("IPv4 expected")
        };
        assert_eq!(ip.header().ttl(), 64);
        let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
            panic!("TCP expected")
        };
        packets += 1;
        syns += tcp.syn() as usize;
        fins += tcp.fin() as usize;
        payload += tcp.payload().len();
    }
    assert!(packets > 100, "{packets}");
    assert!(syns >= 22, "11 connections: SYN and SYN-ACK each ({syns})");
    assert!(fins >= 1);
    // 20 x 1000 and 10 x 50000 bytes, echoed, plus retransmissions.
    assert!(payload >= 2 * (20 * 1000 + 10 * 50_000), "{payload}");
    // Wireshark's command-line reader, where installed, reads the file too.
    if let Ok(t) = Command::new("tshark")
        .args(["-r", path.to_str().unwrap(), "-q", "-z", "conv,tcp"])
        .output()
    {
        assert!(
            t.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&t.stderr)
        );
        assert!(String::from_utf8_lossy(&t.stdout).contains("10.0.0.1:7"));
    }
}

#[test]
fn a_pcap_shows_datagrams_with_their_payload_and_icmp_answers() {
    use etherparse::{SlicedPacket, TransportSlice};
    let scenario = tmp("udp.toml");
    std::fs::write(
        &scenario,
        "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\ncomponent = \"builtin:conformance-udp\"\n",
    )
    .unwrap();
    let path = tmp("udp.pcap");
    let trace = tmp("udp.jsonl");
    let out = simnet(&[
        "run",
        scenario.to_str().unwrap(),
        "--pcap",
        path.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let (mut payloads, mut icmp) = (Vec::new(), 0);
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        let sliced = SlicedPacket::from_ip(&pkt.data).expect("an IP packet");
        match &sliced.transport {
            Some(TransportSlice::Udp(udp)) => payloads.push(udp.payload().to_vec()),
            Some(TransportSlice::Icmpv4(_)) => icmp += 1,
            other => panic!("UDP or ICMP expected, got {other:?}"),
        }
    }
    assert!(payloads.iter().any(|p| p == b"one"), "{payloads:?}");
    assert!(payloads.iter().any(|p| p.len() == 65_507));
    // The closed-port sends are answered.
    assert!(icmp >= 3, "{icmp}");
    let trace = std::fs::read_to_string(&trace).unwrap();
    assert!(trace.contains("\"kind\":\"datagram_sent\""));
    assert!(trace.contains("\"type\":\"icmp_port_unreachable\""));
    assert!(trace.contains("\"reason\":\"NoSocket\""));
}

#[test]
fn components_are_found_relative_to_the_scenario() {
    let dir = tmp("relative");
    std::fs::create_dir_all(dir.join("guests")).unwrap();
    std::fs::copy(PROBE, dir.join("guests/probe.wasm")).unwrap();
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        "[[host]]\nname = \"h\"\nip = \"10.0.0.1\"\ncomponent = \"guests/probe.wasm\"\nargs = [\"exit\", \"0\"]\n",
    )
    .unwrap();
    let out = simnet(&["run", scenario.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
}

#[test]
fn bad_scenario_files_name_file_line_and_field() {
    let e = scenario_error(
        "unknown.toml",
        &format!("[network]\nlatncy = \"1ms\"\n{HOST}"),
    );
    assert!(
        e.starts_with("unknown.toml:2:1: unknown field `latncy`, expected one of"),
        "{e}"
    );
    let e = scenario_error(
        "duration.toml",
        &format!("[network]\nlatency = \"fast\"\n{HOST}"),
    );
    assert!(
        e.starts_with("duration.toml:2:11: latency: bad duration \"fast\""),
        "{e}"
    );
    let e = scenario_error("loss.toml", &format!("[network]\nloss = 1.5\n{HOST}"));
    assert_eq!(e, "loss.toml:2:8: loss: must be between 0 and 1, got 1.5");
    let e = scenario_error(
        "duplicate.toml",
        &format!("[network]\nduplicate = -0.5\n{HOST}"),
    );
    assert_eq!(
        e,
        "duplicate.toml:2:13: duplicate: must be between 0 and 1, got -0.5"
    );
    let e = scenario_error(
        "bandwidth.toml",
        &format!("[network]\nbandwidth = \"10MB\"\n{HOST}"),
    );
    assert!(
        e.starts_with("bandwidth.toml:2:13: bandwidth: bad bandwidth \"10MB\""),
        "{e}"
    );
    let e = scenario_error(
        "link.toml",
        &format!("{HOST}[[link]]\nbetween = [\"a\", \"b\"]\n"),
    );
    assert_eq!(e, "link.toml:6:11: between: no host named \"b\"");
    let e = scenario_error(
        "ip.toml",
        "[[host]]\nname = \"a\"\nip = \"10.0.0.300\"\ncomponent = \"builtin:probe\"\n",
    );
    assert_eq!(e, "ip.toml:3:6: ip: \"10.0.0.300\" is not an IP address");
    let e = scenario_error(
        "builtin.toml",
        "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\ncomponent = \"builtin:nope\"\n",
    );
    assert!(
        e.starts_with(
            "builtin.toml:4:13: component: no built-in guest \"nope\"; built-ins: echo-server"
        ),
        "{e}"
    );
    let e = scenario_error(
        "missing.toml",
        "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\ncomponent = \"nope.wasm\"\n",
    );
    assert!(
        e.starts_with("missing.toml:4:13: component: ") && e.ends_with("nope.wasm does not exist"),
        "{e}"
    );
    let e = scenario_error("expect.toml", &format!("{HOST}expect = \"sometimes\"\n"));
    assert!(
        e.starts_with("expect.toml:5:10: expect: expected an exit code (like 0) or \"running\""),
        "{e}"
    );
    let e = scenario_error(
        "dup.toml",
        &format!("{HOST}{}", HOST.replace("10.0.0.1", "10.0.0.2")),
    );
    assert_eq!(e, "dup.toml:6:8: name: host \"a\" is defined twice");
    let e = scenario_error("empty.toml", "seed = 1\n");
    assert_eq!(e, "empty.toml: no [[host]]: a scenario needs at least one");
    let e = scenario_error("syntax.toml", "[[host]\n");
    assert!(e.starts_with("syntax.toml:1:"), "{e}");
}

#[test]
fn a_bad_component_in_a_scenario_names_the_host() {
    let dir = tmp("badcomp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        "[[host]]\nname = \"h\"\nip = \"10.0.0.1\"\ncomponent = \"x.wasm\"\n",
    )
    .unwrap();
    let out = simnet(&["run", scenario.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out)
            .1
            .contains("host \"h\": x.wasm is a core WebAssembly module, not a component"),
        "{:?}",
        text(&out)
    );
}

// ---- explore ----

#[test]
fn explore_finds_the_planted_bug_and_its_replay_reproduces_it() {
    let out = simnet(&[
        "explore",
        "examples/planted-bug.toml",
        "--seeds",
        "0..16",
        "--jobs",
        "2",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}{stderr}");
    let summary = stdout.lines().next().unwrap();
    assert!(summary.starts_with("16 seeds: "), "{summary}");
    let replays: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("replay: simnet "))
        .collect();
    assert!(
        !replays.is_empty() && replays.len() < 16,
        "some seeds fail, not all:\n{stdout}"
    );
    let failure = stdout
        .lines()
        .skip(1)
        .find(|l| l.contains(" failed"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        failure.contains("client: expected exit 0, got: exited with code 1"),
        "{failure}"
    );
    let replay: Vec<&str> = replays[0].split(' ').collect();
    let out = simnet(&replay);
    let (stdout, _) = text(&out);
    assert_eq!(code(&out), 1, "the replay fails again:\n{stdout}");
    assert!(stdout.contains("no reply within 120 ms"), "{stdout}");
}

#[test]
fn explore_shards_and_checks_determinism() {
    let out = simnet(&[
        "explore",
        "examples/full-backlog.toml",
        "--seeds",
        "0..=9",
        "--shard",
        "2/3",
        "--check-determinism",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("3 seeds (shard 2/3): 3 passed, 0 failed"),
        "{stdout}"
    );
    let out = simnet(&["explore", "examples/full-backlog.toml", "--seeds", "5..5"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("is empty"));
    let out = simnet(&[
        "explore",
        "examples/full-backlog.toml",
        "--seeds",
        "0..5",
        "--shard",
        "4/3",
    ]);
    assert_eq!(code(&out), 2);
}

// ---- demo ----

#[test]
fn the_demo_runs_with_no_arguments_and_is_reproducible() {
    let out = simnet(&[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("simnet demo, seed 1"), "{stdout}");
    assert!(
        stdout.contains("| connection alice -> server established"),
        "{stdout}"
    );
    assert!(
        stdout.contains("alice   | 5 round trips of 64 bytes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("carol   | 4 of 4 clients echoed 20000 bytes"),
        "{stdout}"
    );
    assert_eq!(text(&simnet(&["demo", "--seed", "1"])).0, stdout);
    assert_ne!(text(&simnet(&["demo", "--seed", "2"])).0, stdout);
}

#[test]
fn logging_is_stamped_with_virtual_time() {
    let out = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args(["exec", PROBE, "sleep", "5"])
        .env("RUST_LOG", "simnet_wasi=info")
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("5.000000s") && stderr.contains("guest ended"),
        "{stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args([
            "explore",
            "examples/planted-bug.toml",
            "--seeds",
            "0..200",
            "--jobs",
            "1",
        ])
        .current_dir(ROOT)
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn host_fields_reach_the_guests() {
    let scenario = tmp("fields.toml");
    std::fs::write(
        &scenario,
        r#"
seed = 5
[network]
latency = "2ms"
bandwidth = "100Mbps"
mss = 1000
send_buffer = "64KiB"
receive_buffer = 131072
listen_backlog = 16

[[host]]
name = "env"
ip = ["10.0.0.1", "fd00::1"]
component = "builtin:probe"
args = ["env"]
env = { ROLE = "primary" }
start = "1s"

[[host]]
name = "hog"
ip = "10.0.0.2"
component = "builtin:probe"
args = ["alloc", "64"]
memory_limit = "16MiB"
expect = 1

[[host]]
name = "spinner"
ip = "10.0.0.3"
component = "builtin:probe"
args = ["spin"]
time_limit = "50ms"
expect = 1

[[host]]
name = "denied"
ip = "10.0.0.4"
component = "builtin:probe"
args = ["refused", "10.0.0.1:1"]
tcp = false
expect = 1

[[host]]
name = "lookup"
ip = "10.0.0.5"
component = "builtin:probe"
args = ["resolve", "env"]
ip_name_lookup = true
udp = false
max_sockets = 4

[[link]]
between = ["env", "lookup"]
latency = "40ms"
jitter = "1ms"
loss = 0.0
bandwidth = "1Gbps"
"#,
    )
    .unwrap();
    let out = simnet(&["run", scenario.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    // hog, spinner and denied do not end with exit code 1 but with a limit or a
    // failure that the summary explains: the run fails and says why.
    assert_eq!(code(&out), 1, "{stdout}{stderr}");
    assert!(
        stdout.contains(r#"| env: [("ROLE", "primary")]"#),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("[   1.000000s] env ")
                && l.ends_with("| args: [\"probe\", \"env\"]")),
        "{stdout}"
    );
    assert!(stdout.contains("| env: 10.0.0.1 fd00::1"), "{stdout}");
    assert!(
        stdout.contains("hog: expected exit 1, got: memory limit exceeded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("spinner: expected exit 1, got: virtual time limit exceeded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("denied         ok         exited       1"),
        "{stdout}"
    );
}

#[test]
fn scenario_faults_are_applied_and_shown_in_the_timeline() {
    let out = simnet(&["run", "examples/crash-and-restart.toml"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    for line in [
        "[   1.000000s] network | fault: server crashed (silent)",
        "[   3.000000s] network | fault: server restarted",
        "[   3.000000s] server  | listening on 10.0.0.1:7",
        "[   5.000000s] network | fault: partition client -> server",
        "[   6.000000s] network | fault: heal server -> client",
        "client  | 9 of 10 pings answered",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
    let path = tmp("faults.jsonl");
    simnet(&[
        "run",
        "examples/crash-and-restart.toml",
        "--trace",
        path.to_str().unwrap(),
    ]);
    let body = std::fs::read_to_string(&path).unwrap();
    assert!(
        body.contains(r#""kind":"fault","fault":"server crashed (silent)""#)
            || body.contains(r#""fault":"server crashed (silent)""#),
        "{body}"
    );
}

#[test]
fn bad_fault_entries_are_located() {
    let e = scenario_error(
        "fault-kind.toml",
        &format!("{HOST}[[fault]]\nat = \"1s\"\nkind = \"meteor\"\n"),
    );
    assert!(
        e.starts_with("fault-kind.toml:7:8: kind: unknown fault \"meteor\"; kinds: partition"),
        "{e}"
    );
    let e = scenario_error(
        "fault-host.toml",
        &format!("{HOST}[[fault]]\nat = \"1s\"\nkind = \"crash\"\nhost = \"b\"\n"),
    );
    assert_eq!(e, "fault-host.toml:8:8: host: no host named \"b\"");
    let e = scenario_error(
        "fault-mode.toml",
        &format!(
            "{HOST}[[fault]]\nat = \"1s\"\nkind = \"crash\"\nhost = \"a\"\nmode = \"gentle\"\n"
        ),
    );
    assert_eq!(
        e,
        "fault-mode.toml:9:8: mode: expected \"reset\" or \"silent\", got \"gentle\""
    );
    let e = scenario_error(
        "fault-at.toml",
        &format!("{HOST}[[fault]]\nat = \"soon\"\nkind = \"heal\"\n"),
    );
    assert!(
        e.starts_with("fault-at.toml:6:6: at: bad duration \"soon\""),
        "{e}"
    );
}

#[test]
fn faults_can_wait_for_what_a_program_does() {
    let scenario = tmp("triggers.toml");
    std::fs::write(
        &scenario,
        r#"
seed = 1
[network]
latency = "5ms"
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
args = ["reconnecting-ping", "10.0.0.1:7", "4", "2000"]
start = "10ms"

# Right after the server accepts its first connection, before it reads from it.
[[fault]]
after_accepts = 1
kind = "crash"
host = "server"
restart_after = "2s"

# 4 s after the server's (first) greeting.
[[fault]]
on_output = "listening on"
on_host = "server"
at = "4s"
kind = "partition"
from = ["client"]
to = ["server"]

[[fault]]
after_writes = 3
on_host = "client"
at = "5s"
kind = "heal"
from = ["client"]
to = ["server"]
"#,
    )
    .unwrap();
    let out = simnet(&["run", scenario.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| l.contains(line))
            .unwrap_or_else(|| panic!("no {line:?} in\n{stdout}"))
    };
    // The first connection is accepted 15 ms after the client starts; the crash is
    // then and there, so the first ping is never echoed.
    at("[   0.025000s] network | fault: server crashed (reset)");
    at("[   0.030000s] client  | ping 0: I/O error");
    at("[   2.025000s] network | fault: server restarted");
    at("[   4.000000s] network | fault: partition client -> server");
    at("[   3.070000s] client  | ping 1: ok");
    // The client's third write (its ping 2, into the partition) was at 4.07 s: the
    // heal 5 s later.
    assert!(
        at("ping 2: Resource") < at("fault: heal client -> server"),
        "{stdout}"
    );
    at("[   9.070000s] network | fault: heal client -> server");
}

#[test]
fn every_fault_and_lifecycle_event_is_in_the_timeline_and_the_trace_cause_first() {
    let scenario = tmp("seen.toml");
    std::fs::write(
        &scenario,
        r#"
seed = 1
[network]
latency = "5ms"
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
args = ["reconnecting-ping", "10.0.0.1:7", "4", "2000"]
start = "10ms"
[[fault]]
at = "1s"
kind = "crash"
host = "server"
mode = "reset"
restart_after = "1s"
[[api_fault]]
host = "client"
method = "read"
nth = 1
effect = "stall"
duration = "300ms"
[[api_fault]]
host = "client"
method = "write"
nth = 4
error = "connection-reset"
"#,
    )
    .unwrap();
    let trace = tmp("seen.jsonl");
    let out = simnet(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("no {line:?} in\n{stdout}"))
    };
    at("[   0.020000s] network | fault: client: read stalls for 300ms");
    // A reset-mode crash and its restart, each before what it causes.
    let crash = at("[   1.000000s] network | fault: server crashed (reset)");
    assert!(crash < at("[   1.000000s] server  | went down with its host"));
    let restart = at("[   2.000000s] network | fault: server restarted");
    assert!(restart < at("[   2.000000s] server  | restarted (start 2)"));
    let error = at("[   4.350000s] network | fault: client: write fails with connection-reset");
    assert!(error < at("[   4.350000s] client  | ping 3: I/O error"));
    assert!(
        stdout.contains("  read               stall                      0 + 1"),
        "{stdout}"
    );
    let body = std::fs::read_to_string(&trace).unwrap();
    let records: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        records.iter().filter(|r| r["kind"] == kind).collect()
    };
    assert!(
        records.iter().all(|r| r.get("host").is_some()),
        "a record without a host"
    );
    let server: Vec<String> = of("process")
        .iter()
        .filter(|r| r["process"] == "server")
        .map(|r| format!("{} {}", r["t_ns"], r["event"]))
        .collect();
    assert_eq!(
        server,
        [
            r#"0 {"started":{"restarts":0}}"#,
            r#"1000000000 "crashed""#,
            r#"2000000000 {"started":{"restarts":1}}"#,
        ],
        "{body}"
    );
    let api: Vec<String> = of("api_fault")
        .iter()
        .map(|r| format!("{} {} {}", r["t_ns"], r["method"], r["effect"]))
        .collect();
    assert_eq!(
        api,
        [
            r#"20000000 "read" "stalls for 300ms""#,
            r#"4350000000 "write" "fails with connection-reset""#,
        ],
        "{body}"
    );
}

#[test]
fn explore_flags_narrow_the_fault_space() {
    let out_dir = tmp("narrow-replays");
    let out = simnet(&[
        "explore",
        "examples/naive-client.toml",
        "--seeds",
        "0..12",
        "--faults",
        "random",
        "--families",
        "short-io,stall",
        "--max-faults",
        "1",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    let plans: Vec<&str> = stdout.lines().filter(|l| l.starts_with("    - ")).collect();
    assert!(!plans.is_empty(), "{stdout}{stderr}");
    for p in plans {
        assert!(
            p.contains("short") || p.contains("grants") || p.contains("stalls"),
            "{p} is outside the families asked for\n{stdout}"
        );
    }
    for (flag, value, error) in [
        (
            "--families",
            "meteor",
            "--families: unknown family \"meteor\"",
        ),
        (
            "--crash-hosts",
            "nobody",
            "--crash-hosts: no host named \"nobody\"",
        ),
    ] {
        let out = simnet(&[
            "explore",
            "examples/naive-client.toml",
            "--seeds",
            "0..3",
            "--faults",
            "random",
            flag,
            value,
        ]);
        let (_, stderr) = text(&out);
        assert_eq!(code(&out), 2, "{stderr}");
        assert!(stderr.contains(error), "{stderr}");
    }
}

#[test]
fn bad_fault_triggers_are_located() {
    let fault = |rest: &str| format!("{HOST}[[fault]]\nkind = \"crash\"\nhost = \"a\"\n{rest}");
    for (rest, want) in [
        (
            "",
            "trigger.toml:6:8: at: a fault needs `at`, or a trigger (after_accepts, after_writes, on_output)",
        ),
        (
            "after_accepts = 0\n",
            "trigger.toml:8:17: after_accepts: a count trigger starts at 1",
        ),
        (
            "on_output = \"\"\n",
            "trigger.toml:8:13: on_output: the pattern \"\" matches any line",
        ),
        (
            "on_output = \"x*\"\n",
            "trigger.toml:8:13: on_output: the pattern \"x*\" matches any line",
        ),
        (
            "after_writes = 1\non_output = \"x\"\n",
            "trigger.toml:9:13: trigger: give one trigger: after_accepts, after_writes or on_output",
        ),
        (
            "after_writes = 1\non_host = \"b\"\n",
            "trigger.toml:9:11: on_host: no host named \"b\"",
        ),
        (
            "at = \"1s\"\non_host = \"a\"\n",
            "trigger.toml:9:11: on_host: on_host needs a trigger",
        ),
    ] {
        assert_eq!(scenario_error("trigger.toml", &fault(rest)), want, "{rest}");
    }
    let e = scenario_error("trigger.toml", &fault("on_output = \"(\"\n"));
    assert!(
        e.starts_with("trigger.toml:8:13: on_output: bad pattern: "),
        "{e}"
    );
}

#[test]
fn api_faults_and_chaos_in_scenarios_and_the_errors_report() {
    let scenario = tmp("api.toml");
    std::fs::write(
        &scenario,
        r#"
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
args = ["naive-request", "10.0.0.1:7", "64"]
start = "1ms"
expect = 1

[[api_fault]]
host = "client"
method = "read"
probability = 1.0
effect = "short-read"

[[api_fault]]
method = "start-bind"
nth = 3
error = "address-in-use"
"#,
    )
    .unwrap();
    let out = simnet(&["run", scenario.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("BUG: expected a 64-byte reply, got 1 bytes"),
        "{stdout}"
    );

    let chaos = tmp("chaos.toml");
    let body = std::fs::read_to_string(Path::new(ROOT).join("examples/echo-under-loss.toml"))
        .unwrap()
        .replace("seed = 7", "seed = 7\nchaos = 0.2");
    std::fs::write(&chaos, body).unwrap();
    let out = simnet(&["run", chaos.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("errors the guests met (method, result: natural + injected):"),
        "{stdout}"
    );

    let e = scenario_error(
        "api-method.toml",
        &format!("{HOST}[[api_fault]]\nmethod = \"teleport\"\nnth = 1\nerror = \"timeout\"\n"),
    );
    assert!(
        e.starts_with(
            "api-method.toml:6:10: method: unknown method \"teleport\"; methods: create-tcp-socket"
        ),
        "{e}"
    );
    let e = scenario_error(
        "api-error.toml",
        &format!("{HOST}[[api_fault]]\nmethod = \"accept\"\nnth = 1\nerror = \"address-in-use\"\n"),
    );
    assert!(
        e.starts_with("api-error.toml:6:10: api_fault: accept cannot fail with address-in-use"),
        "{e}"
    );
    let e = scenario_error(
        "api-trigger.toml",
        &format!("{HOST}[[api_fault]]\nmethod = \"read\"\neffect = \"short-read\"\n"),
    );
    assert!(
        e.contains("give exactly one of `nth` and `probability`"),
        "{e}"
    );
    let e = scenario_error("chaos.toml", &format!("chaos = 3.0\n{HOST}"));
    assert_eq!(e, "chaos.toml:1:9: chaos: must be between 0 and 1, got 3");
}

// ---- hostile input ----

#[test]
fn bad_worlds_and_plans_are_located_in_the_file() {
    let host = |name: &str, ip: &str| {
        format!(
            "[[host]]\nname = \"{name}\"\nip = \"{ip}\"\ncomponent = \"builtin:probe\"\nargs = [\"exit\", \"0\"]\n"
        )
    };
    let e = scenario_error(
        "same-ip.toml",
        &format!("{}{}", host("a", "10.0.0.1"), host("b", "10.0.0.1")),
    );
    assert_eq!(
        e,
        "same-ip.toml:8:6: ip: 10.0.0.1 already belongs to host \"a\""
    );
    let e = scenario_error("loopback-ip.toml", &host("a", "127.0.0.1"));
    assert!(
        e.starts_with("loopback-ip.toml:3:6: ip: 127.0.0.1 cannot be a host address"),
        "{e}"
    );
    let e = scenario_error(
        "self-link.toml",
        &format!(
            "{}[[link]]\nbetween = [\"a\", \"a\"]\n",
            host("a", "10.0.0.1")
        ),
    );
    assert!(
        e.starts_with("self-link.toml:7:11: between: a link joins two different hosts"),
        "{e}"
    );
    let e = scenario_error(
        "far-fault.toml",
        &format!(
            "{}[[fault]]\nat = \"1000 years\"\nkind = \"crash\"\nhost = \"a\"\n",
            host("a", "10.0.0.1")
        ),
    );
    assert!(e.starts_with("far-fault.toml:7:6: at: duration"), "{e}");
    assert!(e.contains("too long"), "{e}");
    for (name, code) in [("exit-256.toml", "256"), ("exit-minus.toml", "-1")] {
        let e = scenario_error(name, &format!("{}expect = {code}\n", host("a", "10.0.0.1")));
        assert!(
            e.starts_with(&format!(
                "{name}:6:10: expect: exit code {code} is out of range"
            )),
            "{e}"
        );
    }
    let e = scenario_error(
        "restart.toml",
        &format!(
            "{}[[fault]]\nat = \"1s\"\nkind = \"restart\"\nhost = \"a\"\n",
            host("a", "10.0.0.1")
        ),
    );
    assert_eq!(
        e,
        "restart.toml:8:8: kind: restart of host \"a\", which has not crashed before it"
    );
    let dir = tmp("a-directory.wasm");
    std::fs::create_dir_all(&dir).unwrap();
    let e = scenario_error(
        "dir-component.toml",
        "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\ncomponent = \"a-directory.wasm\"\n",
    );
    assert!(e.contains("is a directory, not a component"), "{e}");
}

#[test]
fn a_full_stdout_or_output_file_is_an_error_not_a_panic() {
    let out = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args(["run", "examples/echo-under-loss.toml"])
        .current_dir(ROOT)
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = simnet(&[
        "run",
        "examples/echo-under-loss.toml",
        "--pcap",
        "/dev/full",
    ]);
    assert_eq!(code(&out), 2, "{:?}", text(&out));
    assert!(
        text(&out).1.contains("cannot write /dev/full"),
        "{:?}",
        text(&out)
    );
    // A path that cannot be created is reported before anything runs.
    let out = simnet(&[
        "run",
        "examples/echo-under-loss.toml",
        "--trace",
        "/nonexistent/trace.jsonl",
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).0.is_empty(), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("cannot create /nonexistent/trace.jsonl"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn guest_control_characters_cannot_rewrite_the_timeline() {
    let path = tmp("escapes.toml");
    std::fs::write(
        &path,
        format!(
            "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\ncomponent = \"{PROBE}\"\nargs = [\"say\", \"over\\rwritten \\u001b]0;title\\u0007 \\u001b[2K\"]\n"
        ),
    )
    .unwrap();
    let out = simnet(&["run", path.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}");
    assert!(
        stdout.contains(r"over\rwritten \e]0;title\u{7} \e[2K"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "{stdout:?}"
    );
}

#[test]
fn explore_refuses_zero_jobs_and_takes_any_seed_range() {
    let out = simnet(&[
        "explore",
        "examples/full-backlog.toml",
        "--seeds",
        "0..5",
        "--jobs",
        "0",
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("--jobs 0"), "{:?}", text(&out));
    // One seed out of 10^12: the range is never materialised.
    let out = simnet(&[
        "explore",
        "examples/full-backlog.toml",
        "--seeds",
        "0..1000000000000",
        "--shard",
        "1/1000000000000",
    ]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    assert!(
        text(&out)
            .0
            .starts_with("1 seed (shard 1/1000000000000): 1 passed"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn exec_ends_a_runaway_guest_at_its_busy_limit() {
    let out = simnet(&["exec", "--max-busy", "2s", PROBE, "spin"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 134, "{stderr}");
    assert!(stderr.contains("busy time limit exceeded"), "{stderr}");
    let out = simnet(&[
        "exec",
        "--max-busy",
        "1000s",
        "--watchdog",
        "1s",
        PROBE,
        "spin",
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("watchdog"), "{:?}", text(&out));
}
