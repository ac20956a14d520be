//! The linker every guest is instantiated with: simnet's own sockets and monotonic
//! clock, wasmtime-wasi's implementation of everything else (wasi:io, cli, random,
//! wall clock, preopens; filesystem calls pass through simnet's deterministic layer). Neither wasmtime-wasi's real sockets nor
//! its real monotonic clock are linked, so no guest can reach them whatever version
//! of the interfaces it imports.

use wasmtime::Engine;
use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets};
use wasmtime_wasi::random::WasiRandom;

use crate::guest::GuestState;
use crate::host::{
    SimClocksP3, SimClocksView, SimFilesystemP3, SimFilesystemView, SimSocketsP3, SimSocketsView,
};

struct SimSockets;

impl HasData for SimSockets {
    type Data<'a> = SimSocketsView<'a>;
}

struct SimClocks;

impl HasData for SimClocks {
    type Data<'a> = SimClocksView<'a>;
}

struct SimFilesystem;

impl HasData for SimFilesystem {
    type Data<'a> = SimFilesystemView<'a>;
}

struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut wasmtime::component::ResourceTable;
}

/// Interfaces (package/interface) a guest may import, at any `0.2.x` version.
pub(crate) const SUPPORTED: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// WASI 0.3 interfaces a guest may import, at any `0.3.x` version.
pub(crate) const SUPPORTED_P3: &[&str] = &[
    "wasi:clocks/types",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/system-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/types",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:sockets/types",
    "wasi:sockets/ip-name-lookup",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// The linker for `engine`; with `wasi_0_3`, the 0.3 interfaces too (their host
/// functions are concurrent: the engine must support the component model's
/// concurrency).
pub(crate) fn build(engine: &Engine, wasi_0_3: bool) -> wasmtime::Result<Linker<GuestState>> {
    let mut linker = Linker::<GuestState>::new(engine);
    let l = &mut linker;
    {
        use wasmtime_wasi_io::bindings::wasi::io;
        io::error::add_to_linker::<GuestState, Io>(l, |s| &mut s.table)?;
        io::poll::add_to_linker::<GuestState, Io>(l, |s| &mut s.table)?;
        io::streams::add_to_linker::<GuestState, Io>(l, |s| &mut s.table)?;
    }
    clocks::wall_clock::add_to_linker::<GuestState, WasiClocks>(l, GuestState::clocks_ctx)?;
    clocks::monotonic_clock::add_to_linker::<GuestState, SimClocks>(l, GuestState::clocks)?;
    random::random::add_to_linker::<GuestState, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure::add_to_linker::<GuestState, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure_seed::add_to_linker::<GuestState, WasiRandom>(l, |s| s.wasi.random())?;
    cli::exit::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::environment::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stdin::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stdout::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stderr::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_input::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_output::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stdin::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stdout::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stderr::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    filesystem::types::add_to_linker::<GuestState, SimFilesystem>(l, GuestState::files)?;
    filesystem::preopens::add_to_linker::<GuestState, SimFilesystem>(l, GuestState::files)?;
    sockets::network::add_to_linker::<GuestState, SimSockets>(
        l,
        sockets::network::LinkOptions::default().network_error_code(true),
        GuestState::sockets,
    )?;
    sockets::instance_network::add_to_linker::<GuestState, SimSockets>(l, GuestState::sockets)?;
    sockets::tcp::add_to_linker::<GuestState, SimSockets>(l, GuestState::sockets)?;
    sockets::tcp_create_socket::add_to_linker::<GuestState, SimSockets>(l, GuestState::sockets)?;
    sockets::udp::add_to_linker::<GuestState, SimSockets>(l, GuestState::sockets)?;
    sockets::udp_create_socket::add_to_linker::<GuestState, SimSockets>(l, GuestState::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<GuestState, SimSockets>(l, GuestState::sockets)?;
    if wasi_0_3 {
        add_p3(l)?;
    }
    Ok(linker)
}

/// The WASI 0.3 interfaces: simnet's sockets, monotonic clock and filesystem,
/// wasmtime-wasi's cli, random and system clock over the same context as 0.2's.
fn add_p3(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p3::bindings::{cli, clocks, filesystem, random, sockets};
    clocks::types::add_to_linker::<GuestState, WasiClocks>(l, GuestState::clocks_ctx)?;
    clocks::system_clock::add_to_linker::<GuestState, WasiClocks>(l, GuestState::clocks_ctx)?;
    clocks::monotonic_clock::add_to_linker::<GuestState, SimClocksP3>(l, GuestState::clocks)?;
    random::random::add_to_linker::<GuestState, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure::add_to_linker::<GuestState, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure_seed::add_to_linker::<GuestState, WasiRandom>(l, |s| s.wasi.random())?;
    cli::exit::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::environment::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stdin::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stdout::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stderr::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_input::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_output::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stdin::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stdout::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stderr::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    sockets::types::add_to_linker::<GuestState, SimSocketsP3>(l, GuestState::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<GuestState, SimSocketsP3>(l, GuestState::sockets)?;
    filesystem::types::add_to_linker::<GuestState, SimFilesystemP3>(l, GuestState::files)?;
    filesystem::preopens::add_to_linker::<GuestState, SimFilesystemP3>(l, GuestState::files)?;
    Ok(())
}

impl GuestState {
    fn clocks_ctx(&mut self) -> wasmtime_wasi::clocks::WasiClocksCtxView<'_> {
        WasiClocksView::clocks(self)
    }

    fn cli(&mut self) -> wasmtime_wasi::cli::WasiCliCtxView<'_> {
        WasiCliView::cli(self)
    }
}
