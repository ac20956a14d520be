//! The `simnet` command (see `simnet --help`); with no arguments it runs the demo.

fn main() -> std::process::ExitCode {
    simnet_cli::main()
}
