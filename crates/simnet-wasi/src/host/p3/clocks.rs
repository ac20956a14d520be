//! `wasi:clocks/monotonic-clock@0.3` on virtual time: `now` reads the simulation's
//! clock, and a wait is a task the world wakes when the simulation reaches its
//! deadline (a minute's sleep costs no real time).

use std::task::Poll;

use simnet_core::SimTime;
use wasmtime::component::{Accessor, HasData};
use wasmtime_wasi::p3::bindings::clocks::monotonic_clock;

use crate::host::SimClocksView;
use crate::host::clocks::{RESOLUTION_NS, instant, sim_time};
use crate::task_wakers::TimerKey;
use crate::world::{GuestId, Shared, lock};

/// The monotonic clock's host, for the linker.
pub(crate) struct SimClocksP3;

impl HasData for SimClocksP3 {
    type Data<'a> = SimClocksView<'a>;
}

impl monotonic_clock::Host for SimClocksView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Mark> {
        Ok(instant(self.clock.now()))
    }

    fn get_resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(RESOLUTION_NS)
    }
}

impl<U> monotonic_clock::HostWithStore<U> for SimClocksP3 {
    async fn wait_until(
        store: &Accessor<U, Self>,
        when: monotonic_clock::Mark,
    ) -> wasmtime::Result<()> {
        let (world, guest) = store.with(|mut v| {
            let v = v.get();
            (v.world.clone(), v.guest)
        });
        sleep_until(&world, guest, sim_time(when)).await;
        Ok(())
    }

    async fn wait_for(store: &Accessor<U, Self>, duration: u64) -> wasmtime::Result<()> {
        let (world, guest, now) = store.with(|mut v| {
            let v = v.get();
            (v.world.clone(), v.guest, v.clock.now())
        });
        let at = SimTime::from_nanos(now.as_nanos().saturating_add(duration));
        sleep_until(&world, guest, at).await;
        Ok(())
    }
}

/// Resolve once virtual time reaches `at`. A sleep dropped before then (a timeout
/// that lost its race) takes its wake-up back, so the clock does not move on to it.
async fn sleep_until(world: &Shared, guest: GuestId, at: SimTime) {
    let mut sleep = Sleep { world, key: None };
    std::future::poll_fn(|cx| {
        let mut w = lock(world);
        if w.now() >= at {
            sleep.key = None;
            return Poll::Ready(());
        }
        // Polled again (perhaps with another waker): one wake-up, with this waker.
        if let Some(old) = sleep.key.take() {
            w.tasks.cancel(old);
        }
        sleep.key = Some(w.tasks.at(at, guest, cx.waker()));
        Poll::Pending
    })
    .await
}

/// A sleep's registered wake-up, taken back if the sleep goes first.
struct Sleep<'a> {
    world: &'a Shared,
    key: Option<TimerKey>,
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(self.world).tasks.cancel(key);
        }
    }
}
