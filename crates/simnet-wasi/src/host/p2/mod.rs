//! The WASI 0.2 host: sockets (`network`, `tcp`, `udp`, `ip-name-lookup`), the
//! monotonic clock and the filesystem, each a thin adapter over simnet-core; and
//! what the socket files share: error codes and the calls faults can target.

mod clocks;
pub(crate) mod disk;
pub(crate) mod disk_streams;
pub(crate) mod filesystem;
mod ip_name_lookup;
mod network;
mod tcp;
mod udp;

pub(crate) use filesystem::{FileTimes, SimFilesystemView};

use simnet_core::{ErrorCode, Family, Method, Net, SocketId};
use wasmtime_wasi::p2::SocketResult;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode as WitError, IpAddressFamily};

use crate::streams::SocketRef;
use crate::world::lock;

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

/// A socket call on the network, given the socket's id.
pub(crate) trait NetCall<R>: FnOnce(&mut Net, SocketId) -> Result<R, ErrorCode> {}

impl<R, F: FnOnce(&mut Net, SocketId) -> Result<R, ErrorCode>> NetCall<R> for F {}

/// Run `f` on the network for the socket at `at`, converting its error code.
pub(crate) fn with_net<R>(at: &SocketRef, f: impl NetCall<R>) -> SocketResult<R> {
    let mut w = lock(&at.world);
    f(&mut w.net, at.socket).map_err(|e| wit_error(e).into())
}

/// Like [`with_net`] for a method faults can target: a fault may fail the call (or
/// stall the socket) first, and every error the network gives the guest is counted
/// (`would-block` is not a failure).
pub(crate) fn call<R>(at: &SocketRef, method: Method, f: impl NetCall<R>) -> SocketResult<R> {
    crate::host::faultable_call(at, method, f).map_err(|e| wit_error(e).into())
}

pub(crate) fn family(f: IpAddressFamily) -> Family {
    match f {
        IpAddressFamily::Ipv4 => Family::Ipv4,
        IpAddressFamily::Ipv6 => Family::Ipv6,
    }
}

pub(crate) fn wit_family(f: Family) -> IpAddressFamily {
    match f {
        Family::Ipv4 => IpAddressFamily::Ipv4,
        Family::Ipv6 => IpAddressFamily::Ipv6,
    }
}
