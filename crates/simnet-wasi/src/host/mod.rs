//! The WASI host: one file per interface simnet serves itself, each a thin adapter
//! from the bindings wasmtime-wasi generates to simnet-core, laid out as
//! wasmtime-wasi lays out its own: WASI 0.2 in `p2/`, 0.3 in `p3/`, and here what
//! both share (a guest's place in the simulation, its clocks and its stdio).

pub(crate) mod clocks;
pub(crate) mod p2;
mod p3;
mod stdio;

pub(crate) use clocks::{SimClocksView, SimMonotonicClock, SimWallClock};
pub(crate) use p2::{FileTimes, SimFilesystemView};
pub(crate) use p3::{SimClocksP3, SimFilesystemP3, SimSocketsP3};
pub use stdio::Stdin;
pub(crate) use stdio::{GuestOutput, GuestStdin};

use simnet_core::{Effect, ErrorCode, HostId, Method, Net, SocketId};
use wasmtime::component::ResourceTable;

use crate::streams::SocketRef;
use crate::world::{GuestId, Shared, lock};

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

/// A socket call of `method` on the network, for either WASI version: an API fault
/// may fail it first; an error the network gives the guest is counted
/// (`would-block` is not a failure).
pub(crate) fn faultable_call<R>(
    at: &SocketRef,
    method: Method,
    f: impl FnOnce(&mut Net, SocketId) -> Result<R, ErrorCode>,
) -> Result<R, ErrorCode> {
    let mut w = lock(&at.world);
    if let Some(Effect::Error(code)) = w.inject(at.host, Some(at.socket), method) {
        return Err(code);
    }
    let result = f(&mut w.net, at.socket);
    if let Err(code) = result
        && code != ErrorCode::WouldBlock
    {
        w.net.record_api_error(method, code);
    }
    result
}
