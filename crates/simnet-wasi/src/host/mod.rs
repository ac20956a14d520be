//! The WASI host: one file per interface simnet serves itself, each a thin adapter
//! from the bindings wasmtime-wasi generates to simnet-core.

mod clocks;
mod filesystem;
mod ip_name_lookup;
mod network;
mod stdio;
mod tcp;
mod udp;

pub(crate) use clocks::{SimClocksView, SimMonotonicClock, SimWallClock};
pub(crate) use filesystem::{FileTimes, SimFilesystemView};
pub(crate) use stdio::{GuestOutput, GuestStdin, OutputCursor};
pub use stdio::{OutputLine, OutputLog, Stdin, Stream};

use simnet_core::{ErrorCode, HostId};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode as WitError;

use crate::world::{GuestId, Shared};

/// Which socket interfaces a guest may use, like wasmtime's `-S tcp=no` switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub tcp: bool,
    pub udp: bool,
    pub ip_name_lookup: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            tcp: true,
            udp: true,
            ip_name_lookup: true,
        }
    }
}

/// A guest's place in the simulation, as the socket host calls see it.
pub(crate) struct GuestNet {
    pub world: Shared,
    pub guest: GuestId,
    pub host: HostId,
    pub caps: Capabilities,
}

/// What the socket interfaces' host traits are implemented on.
pub(crate) struct SimSocketsView<'a> {
    pub table: &'a mut ResourceTable,
    pub ctx: &'a GuestNet,
}

pub(crate) fn wit_error(e: ErrorCode) -> WitError {
    match e {
        ErrorCode::Unknown => WitError::Unknown,
        ErrorCode::AccessDenied => WitError::AccessDenied,
        ErrorCode::NotSupported => WitError::NotSupported,
        ErrorCode::InvalidArgument => WitError::InvalidArgument,
        ErrorCode::OutOfMemory => WitError::OutOfMemory,
        ErrorCode::Timeout => WitError::Timeout,
        ErrorCode::ConcurrencyConflict => WitError::ConcurrencyConflict,
        ErrorCode::NotInProgress => WitError::NotInProgress,
        ErrorCode::WouldBlock => WitError::WouldBlock,
        ErrorCode::InvalidState => WitError::InvalidState,
        ErrorCode::NewSocketLimit => WitError::NewSocketLimit,
        ErrorCode::AddressNotBindable => WitError::AddressNotBindable,
        ErrorCode::AddressInUse => WitError::AddressInUse,
        ErrorCode::RemoteUnreachable => WitError::RemoteUnreachable,
        ErrorCode::ConnectionRefused => WitError::ConnectionRefused,
        ErrorCode::ConnectionReset => WitError::ConnectionReset,
        ErrorCode::ConnectionAborted => WitError::ConnectionAborted,
        ErrorCode::DatagramTooLarge => WitError::DatagramTooLarge,
        ErrorCode::NameUnresolvable => WitError::NameUnresolvable,
        ErrorCode::TemporaryResolverFailure => WitError::TemporaryResolverFailure,
        ErrorCode::PermanentResolverFailure => WitError::PermanentResolverFailure,
    }
}
