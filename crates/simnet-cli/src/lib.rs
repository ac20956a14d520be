//! The `simnet` command: `exec` (one component on one host, like `wasmtime run`),
//! `run` (a scenario file), `explore` (many seeds), and `demo` (the default).

/// `println!` for the command's stdout (see `output`).
macro_rules! outln {
    () => { $crate::output::print(format_args!("\n")) };
    ($($t:tt)*) => { $crate::output::print(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` for the command's stdout (see `output`).
macro_rules! out {
    ($($t:tt)*) => { $crate::output::print(format_args!($($t)*)) };
}

pub mod check;
mod demo;
mod disk_out;
mod exec;
mod explore;
mod logging;
mod output;
pub mod pcap;
pub mod plan;
mod report;
mod run;
pub mod scenario;
pub use simnet::space;
pub mod trace_file;
pub mod units;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::units::Dur;

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
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    after_long_help = exec::DIFFERENCES,
    override_usage = "simnet exec [OPTIONS] <WASM> [ARGS]..."
)]
struct ExecArgs {
    /// Seed of the simulation (scheduler, random interfaces, ports).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Pass an environment variable to the guest: NAME=VAL sets it, NAME copies it
    /// from simnet's environment (repeatable).
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    env: Vec<String>,
    /// Let the guest use a host directory, as GUEST_DIR (by default the same path).
    #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_DIR]")]
    dirs: Vec<String>,
    /// Mount a copy of HOST_DIR (empty: an empty directory) on the host's simulated
    /// disk as GUEST_DIR; the host directory is never written (repeatable).
    #[arg(long = "disk", value_name = "[HOST_DIR]::GUEST_DIR")]
    disks: Vec<String>,
    /// Like --disk, read-only: the guest can change nothing beneath it.
    #[arg(long = "disk-ro", value_name = "[HOST_DIR]::GUEST_DIR")]
    disks_ro: Vec<String>,
    /// WASI options in wasmtime's spelling: tcp, udp, allow-ip-name-lookup,
    /// inherit-env, inherit-stdin (each =y or =n), inherit-network (no effect),
    /// cwd=PATH (the initial working directory the guest is told).
    #[arg(short = 'S', long = "wasi", value_name = "KEY[=VAL][,...]")]
    wasi: Vec<String>,
    /// Limits in wasmtime's spelling: fuel=N, max-memory-size=BYTES.
    #[arg(short = 'W', long = "wasm", value_name = "KEY=VAL[,...]")]
    wasm: Vec<String>,
    /// Stop at this virtual time (like "30s"), e.g. for a server that runs alone.
    #[arg(long, value_name = "DURATION")]
    until: Option<Dur>,
    /// Largest output passed through per stream (stdout, stderr).
    #[arg(long, value_name = "BYTES", default_value = "16MiB", value_parser = parse_size)]
    max_output: units::Bytes,
    /// The program name the guest sees as its first argument.
    #[arg(long, value_name = "NAME")]
    argv0: Option<String>,
    /// Fuel (about one unit per instruction) the guest may use in all.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Linear memory the guest may grow to.
    #[arg(long, value_name = "BYTES", default_value = "1GiB", value_parser = parse_size)]
    max_memory: units::Bytes,
    /// Virtual time the guest may compute without waiting for anything.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    max_busy: Dur,
    /// Stop the run if it takes longer than this in real time ("off": never).
    #[arg(long, value_name = "DURATION|off", default_value = "10min", value_parser = units::parse_watchdog)]
    watchdog: units::Watchdog,
    /// The host's address.
    #[arg(long, default_value = "10.0.0.1")]
    ip: IpAddr,
    /// Same as -S tcp=n.
    #[arg(long, hide = true)]
    no_tcp: bool,
    /// Same as -S udp=n.
    #[arg(long, hide = true)]
    no_udp: bool,
    /// Same as -S allow-ip-name-lookup=n.
    #[arg(long, hide = true)]
    no_ip_name_lookup: bool,
    /// The component (.wasm), built for wasm32-wasip2.
    #[arg(value_name = "WASM")]
    component: PathBuf,
    /// Arguments passed to the guest.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn parse_size(s: &str) -> Result<units::Bytes, String> {
    units::parse_bytes(s).map(units::Bytes)
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The scenario file (TOML; see docs/scenario.md).
    scenario: PathBuf,
    /// Seed (overrides the file's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Write every event as JSON lines.
    #[arg(long, value_name = "FILE.jsonl")]
    trace: Option<PathBuf>,
    /// Write every segment as a pcap capture.
    #[arg(long, value_name = "FILE.pcap")]
    pcap: Option<PathBuf>,
    /// Write each host's disk as the run left it: DIR/HOST/GUEST_PATH/...
    #[arg(long, value_name = "DIR")]
    disk_out: Option<PathBuf>,
    /// Stop at this virtual time (like "30s").
    #[arg(long, value_name = "DURATION")]
    until: Option<Dur>,
    /// Stop a run that takes longer than this in real time ("off": never).
    #[arg(long, value_name = "DURATION|off", default_value = "10min", value_parser = units::parse_watchdog)]
    watchdog: units::Watchdog,
}

#[derive(Args, Debug)]
struct ExploreArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// Seeds to run: "A..B" (B excluded) or "A..=B".
    #[arg(long, value_parser = explore::parse_seeds)]
    seeds: std::ops::RangeInclusive<u64>,
    /// Simulations to run at once (threads); default: the number of CPUs.
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard K of N (1-based): the seeds whose position in the range is
    /// K-1 modulo N.
    #[arg(long, value_name = "K/N", value_parser = explore::parse_shard)]
    shard: Option<(u64, u64)>,
    /// Run each seed twice and fail on any difference in the trace.
    #[arg(long)]
    check_determinism: bool,
    /// Stop each run at this virtual time.
    #[arg(long, value_name = "DURATION")]
    until: Option<Dur>,
    /// Stop a run that takes longer than this in real time ("off": never).
    #[arg(long, value_name = "DURATION|off", default_value = "10min", value_parser = units::parse_watchdog)]
    watchdog: units::Watchdog,
    /// Add faults to each run: "none", or "random" (a seeded random fault plan per
    /// seed: partitions, clogs, loss, crashes, resets, API faults).
    #[arg(long, default_value = "none", value_parser = ["none", "random"])]
    faults: String,
    /// With --faults random: shrink each failing plan to a minimal one and write it
    /// as a replayable file.
    #[arg(long, requires = "faults")]
    shrink: bool,
    /// Where replay files go (default: NAME.replays/ beside the scenario).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Fault families random plans draw from (comma-separated: partition, clog, loss,
    /// crash, reset, api-error, short-io, stall); default: the scenario's [explore].
    #[arg(long, value_name = "LIST")]
    families: Option<String>,
    /// Hosts random plans may crash (comma-separated).
    #[arg(long, value_name = "LIST")]
    crash_hosts: Option<String>,
    /// Let crashed hosts stay down (by default every crash is followed by a restart).
    #[arg(long)]
    no_restart: bool,
    /// Most faults in one plan.
    #[arg(long, value_name = "N")]
    max_faults: Option<u64>,
    /// Faults start within this much virtual time.
    #[arg(long, value_name = "DURATION")]
    horizon: Option<Dur>,
    /// Swarm testing: each seed draws from its own subset of the families.
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    swarm: Option<String>,
}

#[derive(Args, Debug, Default)]
struct DemoArgs {
    /// Seed of the demo run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Parse the command line and run; the process exit code.
pub fn main() -> ExitCode {
    restore_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    logging::init();
    let result = match cli.command {
        None => demo::run(&DemoArgs { seed: 1 }),
        Some(Command::Demo(a)) => demo::run(&a),
        Some(Command::Exec(a)) => exec::run(&a),
        Some(Command::Run(a)) => run::run(&a),
        Some(Command::Explore(a)) => explore::run(&a),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("simnet: error: {e:#}");
            ExitCode::from(2)
        }
    };
    match output::finish() {
        Ok(()) => code,
        Err(e) => {
            eprintln!("simnet: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Check a command line (without the program name) as `simnet` would parse it, and
/// the settings that are checked before anything runs: `Ok` if it would run, the
/// message it would print otherwise. For the command-line fuzzer and tests.
pub fn check_command_line<I, S>(args: I) -> Result<(), String>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let argv =
        std::iter::once(std::ffi::OsString::from("simnet")).chain(args.into_iter().map(Into::into));
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    if let Some(Command::Exec(a)) = &cli.command {
        exec::check(a).map_err(|e| format!("{e:#}"))?;
    }
    Ok(())
}

/// Report a command-line error. An option of `wasmtime run` that `simnet exec`
/// lacks is named as such, rather than with clap's hint to pass it to the guest.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let in_exec = std::env::args().nth(1).as_deref() == Some("exec");
    if in_exec
        && e.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg)
    {
        let flag = arg.split('=').next().unwrap_or(arg);
        eprintln!(
            "simnet exec: `{flag}` is not an option simnet supports (wasmtime options it \
             has: --dir, --env, -S, -W fuel/max-memory-size, --argv0; see `simnet exec --help`)"
        );
        return ExitCode::from(2);
    }
    let _ = e.print();
    ExitCode::from(match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
        _ => 2,
    })
}

/// The runtime for worlds of `guests` guests: memories laid out for speed, or
/// compactly for huge worlds. The layout follows from the scenario alone (never from
/// `--jobs`): fuel counts differ slightly between layouts, and a seed must replay
/// the same way however it is run.
fn runtime(guests: usize) -> anyhow::Result<simnet_wasi::Runtime> {
    let layout = simnet_wasi::MemoryLayout::for_guests(guests);
    simnet_wasi::Runtime::with_layout(layout, simnet_wasi::default_cache_dir())
        .map_err(|e| anyhow::anyhow!("cannot set up wasmtime: {e:#}"))
}

/// Rust ignores SIGPIPE, which turns `simnet ... | head` into a panic on the next
/// print; a command-line tool should end quietly instead, as others do.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
