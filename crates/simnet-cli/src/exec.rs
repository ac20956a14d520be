//! `simnet exec COMPONENT.wasm [ARGS]...`: one guest on one simulated host, used as
//! `wasmtime run` is: its output passed through as it is written, stdin passed in,
//! wasmtime's `--dir`, `--env`, `-S` and `-W` spellings, and its exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow, bail};
use simnet_wasi::simnet_core;
use simnet_wasi::{
    Capabilities, GuestSpec, Limits, Outcome, Preopen, Sim, SimConfig, Stdin, Stream,
};

use crate::args::ExecArgs;
use crate::logging;

/// What `wasmtime run` exits with after a trap on Linux: 128 + SIGABRT.
const TRAP_EXIT: u8 = 134;

/// The `-S` options simnet understands, and what each does here.
const WASI_OPTIONS: &str = "tcp, udp, allow-ip-name-lookup, inherit-network (no effect: \
    the network is always the simulated one), inherit-env, inherit-stdin, cwd, \
    network-error-code (always on), cli (always on), preview2 (always on), p3 (always on), \
    max-resources";

/// wasmtime `-S` options simnet knows of and does not offer.
const WASI_UNSUPPORTED: &[&str] = &[
    "http",
    "nn",
    "nn-graph",
    "threads",
    "config",
    "config-var",
    "keyvalue",
    "keyvalue-in-memory-data",
    "tls",
    "listenfd",
    "tcplisten",
    "cwd",
    "hostcall-fuel",
    "max-random-size",
    "max-http-fields-size",
    "inherit-stdout",
    "inherit-stderr",
    "preview0",
    "common",
    "cli-exit-with-code",
    "http-outgoing-body-buffer-chunks",
    "http-outgoing-body-chunk-size",
];

/// The guest's settings, from the command line.
struct Settings {
    caps: Capabilities,
    inherit_env: bool,
    inherit_stdin: bool,
    limits: Limits,
    /// The initial working directory the guest is told (`-S cwd`).
    cwd: Option<String>,
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool> {
    match value {
        None | Some("y" | "yes" | "true") => Ok(true),
        Some("n" | "no" | "false") => Ok(false),
        Some(other) => bail!("-S {key}={other}: expected y, yes, true, n, no or false"),
    }
}

/// `-S KEY[=VAL][,KEY[=VAL]...]`, in wasmtime's spelling.
fn apply_wasi_option(s: &mut Settings, item: &str) -> Result<()> {
    let (key, value) = match item.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (item, None),
    };
    match key {
        "tcp" => s.caps.tcp = parse_bool(key, value)?,
        "udp" => s.caps.udp = parse_bool(key, value)?,
        "allow-ip-name-lookup" => s.caps.ip_name_lookup = parse_bool(key, value)?,
        "inherit-env" => s.inherit_env = parse_bool(key, value)?,
        "inherit-stdin" => s.inherit_stdin = parse_bool(key, value)?,
        "cwd" => match value {
            Some(path) if !path.is_empty() => s.cwd = Some(path.to_string()),
            _ => bail!("-S cwd: give the directory, like -S cwd=/data"),
        },
        "inherit-network" | "network-error-code" => {
            parse_bool(key, value)?;
        }
        "max-resources" => match value.map(str::parse::<usize>) {
            Some(Ok(n)) => s.limits.resources = Some(n),
            _ => bail!("-S max-resources: give a number, like -S max-resources=1000"),
        },
        "cli" | "preview2" | "p3" => {
            if !parse_bool(key, value)? {
                bail!("-S {key}=n: simnet always provides it");
            }
        }
        other if WASI_UNSUPPORTED.contains(&other) => {
            bail!(
                "simnet exec does not support wasmtime's -S {other} (it supports: {WASI_OPTIONS})"
            )
        }
        other => bail!("unknown -S option {other:?} (simnet supports: {WASI_OPTIONS})"),
    }
    Ok(())
}

/// `-W KEY=VAL[,...]`: the resource limits simnet has.
fn apply_wasm_option(s: &mut Settings, item: &str) -> Result<()> {
    // The component model's async, which WASI 0.3 needs, is always on, as in
    // wasmtime 48.
    if let Some(on) = item.strip_prefix("component-model-async") {
        let value = match on {
            "" => None,
            v => Some(v.strip_prefix('=').unwrap_or(v)),
        };
        if !parse_bool("component-model-async", value)? {
            bail!("-W component-model-async=n: simnet always enables it");
        }
        return Ok(());
    }
    let (key, value) = item
        .split_once('=')
        .ok_or_else(|| anyhow!("-W {item}: expected KEY=VALUE"))?;
    let number = || -> Result<u64> {
        let v = value.replace('_', "");
        let n = match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        };
        n.map_err(|_| anyhow!("-W {key}={value}: expected a number"))
    };
    match key {
        "fuel" => s.limits.fuel = Some(number()?),
        "max-memory-size" => {
            let n = number()?;
            s.limits.memory = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        "timeout" => bail!(
            "simnet exec does not support -W timeout (real time); bound a run in virtual time with --until"
        ),
        other => bail!(
            "simnet exec does not support wasmtime's -W {other} (it supports fuel, max-memory-size \
             and component-model-async)"
        ),
    }
    Ok(())
}

fn settings(args: &ExecArgs) -> Result<Settings> {
    let mut s = Settings {
        caps: Capabilities {
            tcp: !args.no_tcp,
            udp: !args.no_udp,
            ip_name_lookup: !args.no_ip_name_lookup,
        },
        inherit_env: false,
        inherit_stdin: true,
        limits: Limits {
            memory: Some(usize::try_from(args.max_memory.0).unwrap_or(usize::MAX)),
            fuel: args.fuel,
            virtual_time: None,
            busy: Some(args.max_busy.0),
            resources: None,
        },
        cwd: None,
    };
    for group in &args.wasi {
        for item in group.split(',').filter(|i| !i.is_empty()) {
            apply_wasi_option(&mut s, item)?;
        }
    }
    for group in &args.wasm {
        for item in group.split(',').filter(|i| !i.is_empty()) {
            apply_wasm_option(&mut s, item)?;
        }
    }
    Ok(s)
}

/// `--env NAME=VAL` sets a variable; `--env NAME` copies it from simnet's own
/// environment, and leaves it unset when simnet has none (as wasmtime does).
fn environment(args: &ExecArgs, inherit: bool) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = if inherit {
        std::env::vars().collect()
    } else {
        Vec::new()
    };
    for item in &args.env {
        match item.split_once('=') {
            Some((k, v)) => env.push((k.to_string(), v.to_string())),
            None => {
                if let Ok(v) = std::env::var(item) {
                    env.push((item.clone(), v));
                }
            }
        }
    }
    env
}

/// `--dir HOST_DIR[::GUEST_DIR]`; the guest path is the host path when not given.
fn preopens(args: &ExecArgs) -> Result<Vec<Preopen>> {
    args.dirs
        .iter()
        .map(|d| {
            let (host, guest) = match d.split_once("::") {
                Some((h, g)) => (h, g),
                None => (d.as_str(), d.as_str()),
            };
            let host = PathBuf::from(host);
            if !host.is_dir() {
                bail!(
                    "--dir {d}: {} is not a directory{}",
                    host.display(),
                    if host.exists() {
                        ""
                    } else {
                        " (it does not exist)"
                    }
                );
            }
            Ok(Preopen {
                host,
                guest: guest.to_string(),
            })
        })
        .collect()
}

/// `--disk [HOST_DIR]::GUEST_DIR` and `--disk-ro`: the host directory read into an
/// image now, so that a bad one is reported before anything runs.
fn disk_mounts(args: &ExecArgs) -> Result<Vec<simnet_wasi::DiskMount>> {
    let flags = args.disks.iter().map(|d| ("--disk", d, false));
    let ro = args.disks_ro.iter().map(|d| ("--disk-ro", d, true));
    flags
        .chain(ro)
        .map(|(flag, d, read_only)| {
            let Some((host, guest)) = d.split_once("::") else {
                bail!("{flag} {d}: expected HOST_DIR::GUEST_DIR (or ::GUEST_DIR for an empty directory)");
            };
            if guest.is_empty() {
                bail!("{flag} {d}: name the directory the guest sees after `::`");
            }
            let source = match host {
                "" => simnet_wasi::DiskSource::Empty,
                dir => simnet_wasi::DiskSource::from(
                    simnet_wasi::load_image(std::path::Path::new(dir))
                        .map_err(|e| anyhow!("{flag} {d}: {e}"))?,
                ),
            };
            Ok(simnet_wasi::DiskMount {
                guest: guest.to_string(),
                source,
                read_only,
            })
        })
        .collect()
}

/// The checks `exec` makes before loading anything.
pub fn check(args: &ExecArgs) -> Result<()> {
    settings(args)?;
    Ok(())
}

pub fn run(args: &ExecArgs) -> Result<ExitCode> {
    let settings = settings(args)?;
    let dirs = preopens(args)?;
    let disks = disk_mounts(args)?;
    let rt = simnet::component::runtime()?;
    let program = rt.load(&args.component).map_err(|e| anyhow!("{e}"))?;
    let mut config = SimConfig::new(args.seed);
    config.output_limit = usize::try_from(args.max_output.0).unwrap_or(usize::MAX);
    config.watchdog = args.watchdog.0;
    if let Some(until) = args.until {
        config.time_limit = Some(until.0);
    }
    let mut sim = Sim::new(rt, config);
    let host = sim
        .add_host("host", &[args.ip])
        .map_err(|e| anyhow!("--ip {}: {e}", args.ip))?;
    let name = args
        .argv0
        .clone()
        .unwrap_or_else(|| program.name().to_string());
    let mut spec = GuestSpec::new("guest", host, program)
        .args(args.args.iter().cloned())
        .capabilities(settings.caps)
        .limits(settings.limits.clone())
        .stdin(if settings.inherit_stdin {
            process_stdin()
        } else {
            Stdin::Empty
        });
    spec.argv0 = args.argv0.clone();
    // With --until the guest may run as long as that: being left waiting (a server
    // alone) is then not a deadlock.
    spec.daemon = args.until.is_some();
    spec.env = environment(args, settings.inherit_env);
    spec.dirs = dirs;
    spec.disks = disks;
    spec.cwd = settings.cwd.clone();
    let id = sim.spawn(spec);
    sim.output(id).set_sink(Arc::new(pass_through));
    logging::set_clock(sim.clock());
    let report = sim.run();
    simnet::run::machine_held(&report)?;
    let out = sim.output(id);
    let until = args.until.map(|d| d.0);
    let mut code = exit_code(&name, &report.guests[0].outcome, until, report.end);
    if out.truncated() && code == ExitCode::SUCCESS {
        eprintln!(
            "simnet: the guest wrote more than --max-output ({} bytes) to a stream; the rest was dropped",
            out.limit()
        );
        code = ExitCode::from(1);
    }
    Ok(code)
}

fn process_stdin() -> Stdin {
    Stdin::Reader(Arc::new(Mutex::new(std::io::stdin())))
}

/// Write guest output to simnet's own stdout or stderr as the guest writes it.
fn pass_through(stream: Stream, bytes: &[u8]) {
    // A closed stdout ends simnet quietly (SIGPIPE); other write errors cannot be
    // reported anywhere more useful than the stream that failed.
    let _ = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(bytes),
    };
}

/// The process exit code for the guest's outcome, with wasmtime's message for a
/// trap and simnet's for a run that could not go on.
fn exit_code(
    name: &str,
    outcome: &Outcome,
    until: Option<std::time::Duration>,
    end: simnet_core::SimTime,
) -> ExitCode {
    match outcome {
        Outcome::Exited(code) => ExitCode::from(u8::try_from(*code).unwrap_or(1)),
        Outcome::Trapped {
            message,
            backtrace,
            wasm_trap,
        } => {
            eprintln!("Error: failed to run main module `{name}`\n\nCaused by:");
            eprintln!("    0: failed to invoke `run` function");
            match backtrace {
                Some(bt) => {
                    eprintln!("    1: {bt}");
                    eprintln!("    2: {message}");
                }
                None => eprintln!("    1: {message}"),
            }
            // As `wasmtime run`: 134 for a trap of the wasm code, 1 for a host error.
            ExitCode::from(if *wasm_trap { TRAP_EXIT } else { 1 })
        }
        Outcome::LimitExceeded { limit, detail } => {
            eprintln!("Error: failed to run main module `{name}`\n\nCaused by:");
            eprintln!("    0: {limit} limit exceeded: {detail}");
            ExitCode::from(TRAP_EXIT)
        }
        Outcome::Deadlocked { waiting } => {
            let accepting = !waiting.is_empty() && waiting.iter().all(|w| w.starts_with("accept"));
            if accepting {
                eprintln!(
                    "simnet: {name} waits for connections ({}), but it runs alone on the \
                     simulated network: nothing else will ever connect. Run it with clients \
                     in a scenario (`simnet run`), or give it a while with --until DURATION.",
                    waiting.join("; ")
                );
            } else {
                eprintln!(
                    "simnet: {name} is blocked with nothing left that could wake it: waiting for {}",
                    waiting.join("; ")
                );
            }
            ExitCode::from(1)
        }
        Outcome::Running { waiting } => {
            let what = if waiting.is_empty() {
                String::new()
            } else {
                format!(", waiting for {}", waiting.join("; "))
            };
            if let Some(until) = until {
                let idle = if end < simnet_core::SimTime::ZERO + until {
                    format!(" (nothing happened after {end})")
                } else {
                    String::new()
                };
                eprintln!(
                    "simnet: stopped at --until {until:?} with {name} still running{what}{idle}"
                );
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "simnet: {name} was still running at the virtual time limit ({end}){what}"
                );
                ExitCode::from(1)
            }
        }
        other => {
            eprintln!("simnet: {name}: {other}");
            ExitCode::from(1)
        }
    }
}
