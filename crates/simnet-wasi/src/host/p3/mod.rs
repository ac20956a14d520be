//! The WASI 0.3 host: `wasi:sockets@0.3` and `wasi:clocks/monotonic-clock@0.3` over
//! the same simnet-core calls the 0.2 host makes. Where 0.2 has pollables that the
//! executor re-polls, 0.3 has host tasks (a connect, a stream being read, a sleep)
//! that wait with their wakers in the world's [`crate::task_wakers::TaskWakers`].

mod clocks;
mod file_streams;
mod filesystem;
mod fs_types;
mod ip_name_lookup;
mod tcp;
mod udp;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use simnet_core::{ErrorCode, Family, Interest, Method, Net, SocketId};
use wasmtime::component::HasData;
use wasmtime_wasi::p3::bindings::sockets::types::{ErrorCode as WitError, IpAddressFamily};
use wasmtime_wasi::p3::sockets::SocketResult;

pub(crate) use clocks::SimClocksP3;
pub(crate) use filesystem::SimFilesystemP3;

use crate::host::SimSocketsView;
use crate::streams::SocketRef;
use crate::world::{GuestId, Shared, Wait, lock};

/// The 0.3 socket interfaces' host, for the linker: the same view of the guest's
/// place in the simulation the 0.2 host works on.
pub(crate) struct SimSocketsP3;

impl HasData for SimSocketsP3 {
    type Data<'a> = SimSocketsView<'a>;
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

/// A core error code as `wasi:sockets@0.3` names it. 0.3 dropped the codes of 0.2's
/// two-phase calls and polling; where wasmtime-wasi has no 0.3 code for an error it
/// reports `other`.
pub(crate) fn wit_error(e: ErrorCode) -> WitError {
    match e {
        ErrorCode::AccessDenied => WitError::AccessDenied,
        ErrorCode::NotSupported => WitError::NotSupported,
        ErrorCode::InvalidArgument => WitError::InvalidArgument,
        ErrorCode::OutOfMemory => WitError::OutOfMemory,
        ErrorCode::Timeout => WitError::Timeout,
        ErrorCode::InvalidState | ErrorCode::NotInProgress => WitError::InvalidState,
        ErrorCode::AddressNotBindable => WitError::AddressNotBindable,
        ErrorCode::AddressInUse => WitError::AddressInUse,
        ErrorCode::RemoteUnreachable => WitError::RemoteUnreachable,
        ErrorCode::ConnectionRefused => WitError::ConnectionRefused,
        ErrorCode::ConnectionReset => WitError::ConnectionReset,
        ErrorCode::ConnectionAborted => WitError::ConnectionAborted,
        ErrorCode::DatagramTooLarge => WitError::DatagramTooLarge,
        // wasmtime-wasi maps no errno to a 0.3 code for running out of descriptors.
        ErrorCode::Unknown
        | ErrorCode::NewSocketLimit
        | ErrorCode::ConcurrencyConflict
        | ErrorCode::WouldBlock
        | ErrorCode::NameUnresolvable
        | ErrorCode::TemporaryResolverFailure
        | ErrorCode::PermanentResolverFailure => WitError::Other(None),
    }
}

/// A call of `method` on the network for the socket at `at`: an API fault may fail
/// it first, and every error the network gives the guest is counted.
pub(crate) fn call<R>(
    at: &SocketRef,
    method: Method,
    f: impl FnOnce(&mut Net, SocketId) -> Result<R, ErrorCode>,
) -> SocketResult<R> {
    crate::host::faultable_call(at, method, f).map_err(|e| wit_error(e).into())
}

/// Whether the socket at `at` is ready for `interest`; if not, and `wait`, the
/// task waits (its waker kept by the world) until the network reports a change on
/// the socket, or until a stall on it ends. Without `wait` (an operation being
/// cancelled) nothing is kept.
pub(crate) fn poll_ready(
    at: &SocketRef,
    cx: &Context<'_>,
    interest: Interest,
    wait: bool,
) -> Poll<()> {
    let mut w = lock(&at.world);
    if let Some(until) = w.net.stalled_until(at.socket) {
        if wait {
            w.tasks.at(until, at.guest, cx.waker());
        }
        return Poll::Pending;
    }
    if w.net.is_ready(at.socket, interest) {
        return Poll::Ready(());
    }
    if !wait {
        return Poll::Pending;
    }
    let wait = Wait::Socket {
        socket: at.socket,
        interest,
    };
    w.tasks.on_socket(at.socket, at.guest, wait, cx.waker());
    Poll::Pending
}

/// The result a stream's future reports once the stream is done: set by the host
/// side of the stream when it ends, read by the guest through a `future`. `E` is the
/// interface's error code.
pub(crate) struct Completion<E = WitError> {
    world: Shared,
    guest: GuestId,
    state: Mutex<CompletionState<E>>,
}

struct CompletionState<E> {
    result: Option<Result<(), E>>,
    waker: Option<Waker>,
    /// Its reader waits (counted by the world as a wait of the guest).
    parked: bool,
}

impl<E: Clone + Send + 'static> Completion<E> {
    pub fn new(world: Shared, guest: GuestId) -> Arc<Self> {
        Arc::new(Completion {
            world,
            guest,
            state: Mutex::new(CompletionState {
                result: None,
                waker: None,
                parked: false,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CompletionState<E>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Settle the result (the first one counts). Its reader is woken between turns.
    pub fn complete(&self, result: Result<(), E>) {
        let (waker, parked) = {
            let mut st = self.state();
            if st.result.is_some() {
                return;
            }
            st.result = Some(result);
            (st.waker.take(), std::mem::take(&mut st.parked))
        };
        let mut w = lock(&self.world);
        if parked {
            w.tasks.unpark(self.guest);
        }
        if let Some(waker) = waker {
            w.tasks.wake_soon(self.guest, waker);
        }
    }

    /// The future the guest reads the result from.
    pub fn future(
        self: &Arc<Self>,
    ) -> impl Future<Output = wasmtime::Result<Result<(), E>>> + Send + 'static {
        let me = self.clone();
        std::future::poll_fn(move |cx| {
            let mut st = me.state();
            match st.result.clone() {
                Some(result) => Poll::Ready(Ok(result)),
                None => {
                    st.waker = Some(cx.waker().clone());
                    if !std::mem::replace(&mut st.parked, true) {
                        lock(&me.world).tasks.park(me.guest);
                    }
                    Poll::Pending
                }
            }
        })
    }
}

impl<E> Drop for Completion<E> {
    fn drop(&mut self) {
        // Its reader went without a result (the guest dropped the future).
        let parked = match self.state.get_mut() {
            Ok(st) => st.parked,
            Err(poisoned) => poisoned.into_inner().parked,
        };
        if parked {
            lock(&self.world).tasks.unpark(self.guest);
        }
    }
}
