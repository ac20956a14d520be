//! simnet: a deterministic, in-memory TCP network for testing socket-using programs.
//!
//! This crate re-exports the simulated network core; see [`simnet_core`].

pub use simnet_core::*;
