//! Clocks on virtual time, for both WASI versions: the monotonic clock's readings
//! and waits, and the wall clock at a fixed epoch plus virtual time. A guest
//! sleeping a minute costs no wall time: it is woken when the simulation reaches the
//! deadline.

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use simnet_core::SimTime;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::HostWallClock;

use crate::world::{GuestId, Shared, VirtualClock, Wait, lock};

/// Nanoseconds of virtual time per clock tick reported to guests.
pub(crate) const RESOLUTION_NS: u64 = 1;

/// What the monotonic clock reads at virtual time zero. A real clock never reads
/// zero (wasmtime's counts from its context's creation, which takes time before a
/// guest can read it), and Go's runtime refuses to start on one that does.
pub const MONOTONIC_START_NS: u64 = 1_000;

/// The monotonic instant of virtual time `t`.
pub(crate) fn instant(t: SimTime) -> u64 {
    t.as_nanos().saturating_add(MONOTONIC_START_NS)
}

/// The virtual time of monotonic instant `i` (instants before the clock's start
/// are time zero).
pub(crate) fn sim_time(i: u64) -> SimTime {
    SimTime::from_nanos(i.saturating_sub(MONOTONIC_START_NS))
}

pub(crate) struct SimClocksView<'a> {
    pub table: &'a mut ResourceTable,
    pub world: &'a Shared,
    pub clock: &'a VirtualClock,
    pub guest: GuestId,
}

/// Resolve once virtual time reaches `at` (the guest is woken then).
pub(crate) async fn until(world: &Shared, guest: GuestId, at: SimTime) {
    poll_fn(|cx| {
        let mut w = lock(world);
        if w.now() >= at {
            return Poll::Ready(());
        }
        w.wake_at(at, guest);
        w.note_wait(guest, Wait::Clock { deadline: at });
        // A 0.3 guest's task (a file stream's wait, say) is polled again only when
        // its own waker is called.
        if w.is_concurrent(guest) {
            w.tasks.at(at, guest, cx.waker());
        }
        Poll::Pending
    })
    .await
}

/// `wasi:clocks/wall-clock`: a fixed epoch plus virtual time, so that guests printing
/// timestamps print the same ones every run.
pub(crate) struct SimWallClock {
    pub clock: VirtualClock,
    pub epoch: Duration,
}

impl HostWallClock for SimWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(RESOLUTION_NS)
    }

    fn now(&self) -> Duration {
        self.epoch + Duration::from_nanos(self.clock.now().as_nanos())
    }
}

/// The monotonic clock wasmtime-wasi's own context holds; simnet serves
/// `monotonic-clock` itself, this only keeps the context from reading real time.
pub(crate) struct SimMonotonicClock(pub VirtualClock);

impl wasmtime_wasi::HostMonotonicClock for SimMonotonicClock {
    fn resolution(&self) -> u64 {
        RESOLUTION_NS
    }

    fn now(&self) -> u64 {
        instant(self.0.now())
    }
}
