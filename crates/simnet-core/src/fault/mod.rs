//! Faults, the one vocabulary of what can go wrong: network faults (partitions,
//! clogged links, link changes, connection resets), host lifecycle (crashes and
//! restarts) and API-level faults (results injected at the socket calls, in
//! [`api`]). Their kinds are in `kind.rs`. Faults are scheduled on the simulation's
//! event queue, so they take their place among segments and timers in the queue's
//! one order; their state lives in `state.rs`, which links, hosts and socket calls
//! consult. Network faults act on segments already in flight: a partition or a
//! crash drops a segment when it arrives, a clog holds it. Every fault, and every
//! injected result, is traced. Applying them to the network is `injection.rs`'s work:
//! this module knows nothing of the network, so the network can hold its state.

pub(crate) mod api;
pub(crate) mod disk;
pub(crate) mod kind;
pub(crate) mod state;

pub use api::{ApiFault, ApiResult, Effect, Met, Method, Trigger};
pub use disk::{DiskEffect, DiskFault, DiskOp};
pub use kind::{CrashMode, Fault, FaultEvent, HostEvent};
