//! simnet-wasi: unmodified `wasm32-wasip2` components on simnet's simulated network.
//!
//! A [`Runtime`] compiles and validates components ([`Program`]s) once per process.
//! A [`Sim`] runs guests ([`GuestSpec`]) on the hosts of a [`simnet_core::Net`], each
//! in its own wasmtime `Store`, under a seeded single-threaded scheduler and virtual
//! time. simnet serves `wasi:sockets` and `wasi:clocks/monotonic-clock` itself; the
//! other WASI 0.2 interfaces come from wasmtime-wasi, with stdout/stderr captured,
//! randomness seeded, the wall clock virtual. `wasi:filesystem` is simnet's too: each
//! host has a simulated disk ([`simnet_core::disk`]) whose mounted directories guests
//! see, and real host directories can be granted as with `wasmtime run --dir`.

mod files;
mod guest;
mod host;
mod ids;
mod image;
mod linker;
mod outcome;
mod output;
mod program;
mod sim;
mod streams;
mod task_wakers;
mod trigger;
mod wait;
mod world;

pub use files::DiskReadError;
pub use host::{Capabilities, Stdin};
pub use image::{
    DiskMount, DiskSource, MAX_IMAGE_BYTES, MAX_IMAGE_DEPTH, MAX_IMAGE_ENTRIES, load_image,
};
pub use outcome::{ApiErrorCount, GuestReport, Limit, Outcome, Report, StopReason, Stopped};
pub use output::{OutputLine, OutputLog, Stream};
pub use program::{
    COMPILER_VAR, Compiler, LoadError, MemoryLayout, Program, Runtime, default_cache_dir,
    engine_config,
};
pub use sim::{DEFAULT_EPOCH, GuestSpec, Limits, Preopen, Sim, SimConfig};
pub use simnet_core;
pub use simnet_core::{ApiFault, ApiResult, Effect, Met, Method, Trigger};
pub use trigger::When;
pub use world::{GuestId, VirtualClock};
