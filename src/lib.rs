//! simnet: a deterministic, in-memory network for testing socket-using WebAssembly
//! components, and everything a test suite needs to use it.
//!
//! - [`Builder`] makes a world by names: hosts, links, the components each host runs
//!   ([`Builder::server`], [`Builder::client`]) and a fault plan. The [`Sim`] it
//!   builds runs to the end ([`Sim::run`]) or is driven from the test
//!   ([`Sim::step`], [`Sim::run_for`], [`Sim::run_until`]) with faults applied at any
//!   point ([`Sim::crash`], [`Sim::restart`], [`Sim::partition`], [`Sim::heal`],
//!   [`Sim::clog`], [`Sim::set_link`]) and each guest's output readable so far
//!   ([`Sim::output_of`], [`Sim::printed`]).
//! - Each host has a simulated disk: [`GuestSpec::disk`] mounts a host directory, an
//!   image ([`disk::DiskImage`]) or an empty directory on it; a crash loses what was
//!   never synced; [`Sim::disk_file`] and [`Sim::durable_disk_file`] read it from the
//!   test (`docs/storage-model.md`).
//! - [`build_component`] builds a cargo package for `wasm32-wasip2` and loads it;
//!   [`load`] loads any component, from any language.
//! - [`check_seeds`] runs a test body over seeds from `SIMNET_SEED` / `SIMNET_SEEDS`
//!   (or the test's defaults) and prints how to rerun a failing seed alone;
//!   [`check_plans`] does the same over random fault plans, shrinking a failing one.
//!
//! The network core is re-exported at the top level (see [`simnet_core`]: [`Net`],
//! [`LinkConfig`], [`Fault`]…), and the WebAssembly host as [`wasi`].
//! `docs/testing.md` in the repository is the guide.

pub mod check;
pub mod component;
pub mod plan;
pub mod report;
pub mod rerun;
pub mod run;
pub mod seeds;
pub mod shrink;
pub mod space;
pub mod units;
pub mod verdict;
pub mod world;

pub use simnet_core::*;
pub use simnet_wasi as wasi;

pub use check::check_plans;
pub use component::{build_component, load, runtime};
pub use plan::PlanFault;
pub use rerun::TestName;
pub use run::{Explore, Run, RunOptions, Summary};
pub use seeds::{Seeds, check_seeds};
/// A test run once per seed (`#[simnet::test(seeds = 0..20)]`), with random fault
/// plans given `plans = FAULT_SPACE`: see [`simnet_macros`].
pub use simnet_macros::test;
pub use simnet_wasi::{
    DiskMount, DiskReadError, DiskSource, GuestId, GuestReport, GuestSpec, Limits, Outcome,
    OutputLog, Program, Report, Runtime, Sim, SimConfig, StopReason, Stopped, When, load_image,
};
pub use space::FaultSpace;
pub use verdict::ensure_success;
pub use world::{
    Builder, Expect, FaultKind, Guest, Host, HostApiFault, Link, Mount, Prepared, ScheduledFault,
    Scheduler, Source, World,
};
