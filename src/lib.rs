//! simnet: a deterministic, in-memory TCP network for testing socket-using programs.
//!
//! This crate re-exports the simulated network core (see [`simnet_core`]) and, as
//! [`wasi`], the host that runs WebAssembly components on it.

pub use simnet_core::*;
pub use simnet_wasi as wasi;
