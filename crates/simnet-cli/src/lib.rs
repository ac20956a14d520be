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

pub mod args;
mod demo;
mod disk_out;
mod exec;
mod explore;
mod logging;
mod output;
mod run;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, DemoArgs};

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
             has: --dir, --env, -S, -W fuel/max-memory-size/component-model-async, --argv0; see `simnet exec --help`)"
        );
        return ExitCode::from(2);
    }
    let _ = e.print();
    ExitCode::from(match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
        _ => 2,
    })
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
