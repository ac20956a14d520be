//! The command line: `simnet exec`, `run`, `explore` and `demo`, and their flags.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use simnet::units::{self, Dur};

#[derive(Parser, Debug)]
#[command(
    name = "simnet",
    version,
    about = "Run WebAssembly components on a deterministic simulated network",
    long_about = "Run WebAssembly components on a deterministic simulated network.\n\n\
                  With no command, runs the built-in demo. Logging: RUST_LOG=info (or debug, \
                  or wasmtime_wasi=trace for every host call), stamped with virtual time."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one component on a single simulated host, like `wasmtime run`.
    Exec(ExecArgs),
    /// Run a multi-host scenario file.
    Run(RunArgs),
    /// Run a scenario under many seeds and report the failing ones.
    Explore(ExploreArgs),
    /// The built-in demo: an echo server and three clients over a lossy, jittery link.
    Demo(DemoArgs),
}

#[derive(Args, Debug)]
#[command(
    after_long_help = differences(),
    override_usage = "simnet exec [OPTIONS] <WASM> [ARGS]..."
)]
pub struct ExecArgs {
    /// Seed of the simulation (scheduler, random interfaces, ports).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Pass an environment variable to the guest: NAME=VAL sets it, NAME copies it
    /// from simnet's environment (repeatable).
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    pub env: Vec<String>,
    /// Let the guest use a host directory, as GUEST_DIR (by default the same path).
    #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_DIR]")]
    pub dirs: Vec<String>,
    /// Mount a copy of HOST_DIR (empty: an empty directory) on the host's simulated
    /// disk as GUEST_DIR; the host directory is never written (repeatable).
    #[arg(long = "disk", value_name = "[HOST_DIR]::GUEST_DIR")]
    pub disks: Vec<String>,
    /// Like --disk, read-only: the guest can change nothing beneath it.
    #[arg(long = "disk-ro", value_name = "[HOST_DIR]::GUEST_DIR")]
    pub disks_ro: Vec<String>,
    /// WASI options in wasmtime's spelling: tcp, udp, allow-ip-name-lookup,
    /// inherit-env, inherit-stdin (each =y or =n), inherit-network and p3 (no effect:
    /// the network is the simulated one, and WASI 0.3 is always served),
    /// max-resources=N (handles the guest may hold at once), cwd=PATH (the initial
    /// working directory the guest is told).
    #[arg(short = 'S', long = "wasi", value_name = "KEY[=VAL][,...]")]
    pub wasi: Vec<String>,
    /// Limits in wasmtime's spelling: fuel=N, max-memory-size=BYTES; and
    /// component-model-async (no effect: always on, as in wasmtime 48).
    #[arg(short = 'W', long = "wasm", value_name = "KEY=VAL[,...]")]
    pub wasm: Vec<String>,
    /// Stop at this virtual time (like "30s"), e.g. for a server that runs alone.
    #[arg(long, value_name = "DURATION")]
    pub until: Option<Dur>,
    /// Largest output passed through per stream (stdout, stderr).
    #[arg(long, value_name = "BYTES", default_value = "16MiB", value_parser = parse_size)]
    pub max_output: units::Bytes,
    /// The program name the guest sees as its first argument.
    #[arg(long, value_name = "NAME")]
    pub argv0: Option<String>,
    /// Fuel (about one unit per instruction) the guest may use in all.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Linear memory the guest may grow to.
    #[arg(long, value_name = "BYTES", default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: units::Bytes,
    /// Virtual time the guest may compute without waiting for anything.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub max_busy: Dur,
    /// Stop the run if it takes longer than this in real time ("off": never).
    #[arg(long, value_name = "DURATION|off", default_value = "10min", value_parser = units::parse_watchdog)]
    pub watchdog: units::Watchdog,
    /// The host's address.
    #[arg(long, default_value = "10.0.0.1")]
    pub ip: IpAddr,
    /// Same as -S tcp=n.
    #[arg(long, hide = true)]
    pub no_tcp: bool,
    /// Same as -S udp=n.
    #[arg(long, hide = true)]
    pub no_udp: bool,
    /// Same as -S allow-ip-name-lookup=n.
    #[arg(long, hide = true)]
    pub no_ip_name_lookup: bool,
    /// The component (.wasm), built for wasm32-wasip2.
    #[arg(value_name = "WASM")]
    pub component: PathBuf,
    /// Arguments passed to the guest.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn parse_size(s: &str) -> Result<units::Bytes, String> {
    units::parse_bytes(s).map(units::Bytes)
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML; see docs/scenario.md).
    pub scenario: PathBuf,
    /// Seed (overrides the file's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write every event as JSON lines.
    #[arg(long, value_name = "FILE.jsonl")]
    pub trace: Option<PathBuf>,
    /// Write every segment as a pcap capture.
    #[arg(long, value_name = "FILE.pcap")]
    pub pcap: Option<PathBuf>,
    /// Write each host's disk as the run left it: DIR/HOST/GUEST_PATH/...
    #[arg(long, value_name = "DIR")]
    pub disk_out: Option<PathBuf>,
    /// Stop at this virtual time (like "30s").
    #[arg(long, value_name = "DURATION")]
    pub until: Option<Dur>,
    /// Stop a run that takes longer than this in real time ("off": never; default:
    /// the scenario's `watchdog`, else 10min).
    #[arg(long, value_name = "DURATION|off", value_parser = units::parse_watchdog)]
    pub watchdog: Option<units::Watchdog>,
}

#[derive(Args, Debug)]
pub struct ExploreArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Seeds to run: "A..B" (B excluded) or "A..=B".
    #[arg(long, value_parser = simnet::seeds::parse_range)]
    pub seeds: std::ops::RangeInclusive<u64>,
    /// Simulations to run at once (threads); default: the number of CPUs.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard K of N (1-based): the seeds whose position in the range is
    /// K-1 modulo N.
    #[arg(long, value_name = "K/N", value_parser = simnet::run::parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Run each seed twice and fail on any difference in the trace.
    #[arg(long)]
    pub check_determinism: bool,
    /// Stop each run at this virtual time.
    #[arg(long, value_name = "DURATION")]
    pub until: Option<Dur>,
    /// Stop a run that takes longer than this in real time ("off": never; default:
    /// the scenario's `watchdog`, else 10min).
    #[arg(long, value_name = "DURATION|off", value_parser = units::parse_watchdog)]
    pub watchdog: Option<units::Watchdog>,
    /// Add faults to each run: "none", or "random" (a seeded random fault plan per
    /// seed: partitions, clogs, loss, crashes, resets, API faults).
    #[arg(long, default_value = "none", value_parser = ["none", "random"])]
    pub faults: String,
    /// With --faults random: shrink each failing plan to a minimal one and write it
    /// as a replayable file.
    #[arg(long, requires = "faults")]
    pub shrink: bool,
    /// Where replay files go (default: NAME.replays/ beside the scenario).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Leave each failing seed's timeline, JSON trace, pcap capture and summary in
    /// DIR/seed-N/.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// Fault families random plans draw from (comma-separated: partition, clog, loss,
    /// crash, reset, api-error, short-io, stall); default: the scenario's [explore].
    #[arg(long, value_name = "LIST")]
    pub families: Option<String>,
    /// Hosts random plans may crash (comma-separated).
    #[arg(long, value_name = "LIST")]
    pub crash_hosts: Option<String>,
    /// Let crashed hosts stay down (by default every crash is followed by a restart).
    #[arg(long)]
    pub no_restart: bool,
    /// Most faults in one plan.
    #[arg(long, value_name = "N")]
    pub max_faults: Option<u64>,
    /// Faults start within this much virtual time.
    #[arg(long, value_name = "DURATION")]
    pub horizon: Option<Dur>,
    /// Swarm testing: each seed draws from its own subset of the families.
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub swarm: Option<String>,
}

#[derive(Args, Debug, Default)]
pub struct DemoArgs {
    /// Seed of the demo run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What `simnet exec --help` says after the options, with the simulation's own
/// settings filled in.
pub fn differences() -> String {
    let config = simnet_wasi::SimConfig::new(0);
    let fuel = config.slice_fuel.unwrap_or(1_000_000);
    let per = format!(
        "{} per {}",
        humantime::format_duration(config.slice_time),
        match fuel {
            1_000_000 => "million fuel".to_string(),
            n => format!("{n} fuel"),
        }
    );
    DIFFERENCES.replace("{compute}", &per)
}

const DIFFERENCES: &str = "\
Differences from `wasmtime run`:
  - The network is simulated: one host (--ip) with its own loopback; nothing leaves
    the process. TCP, UDP and name lookups are allowed unless switched off with -S
    (wasmtime 48 needs -S inherit-network); -S inherit-network changes nothing.
  - Time is virtual: clocks start at 2025-01-01T00:00:00Z and move only with the
    simulation, so sleeping costs no real time; computing moves them {compute}.
  - Randomness comes from --seed: the same seed gives the same run.
  - stdin is read when the guest reads it, while virtual time stands still; from a
    file reads are the same every run, from a pipe they follow the writer.
  - stdout and stderr pass through as the guest writes them, each up to
    --max-output bytes; beyond, a notice replaces the rest and the exit code is 1.
  - --dir directories are used on the simulation's thread; file times read as
    virtual times and directories list in name order. --disk and --disk-ro mount a
    copy of a directory on the host's simulated disk instead: same files every
    run, nothing written back, syncs and crashes as docs/storage-model.md says.
  - A guest left waiting with nothing that could wake it (a server alone: nobody
    will ever connect) ends the run with exit code 1; --until lets it run for a
    while in virtual time and ends with 0.
  - Exit codes: the guest's; 134 after a trap of the wasm code or an exceeded
    limit (fuel, memory), 1 after a host call refused what the guest passed it, as
    wasmtime on Linux; 1 when the run ends otherwise.";
