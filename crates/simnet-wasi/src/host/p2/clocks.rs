//! `wasi:clocks/monotonic-clock@0.2`: readings of virtual time, and pollables ready
//! when the simulation reaches their deadline.

use simnet_core::SimTime;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::{self, Instant};
use wasmtime_wasi::p2::{DynPollable, Pollable};

use crate::host::SimClocksView;
use crate::host::clocks::{RESOLUTION_NS, instant, sim_time, until};
use crate::world::{GuestId, Shared};

struct Deadline {
    at: SimTime,
    world: Shared,
    guest: GuestId,
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for Deadline {
    async fn ready(&mut self) {
        until(&self.world, self.guest, self.at).await
    }
}

impl SimClocksView<'_> {
    fn subscribe_at(&mut self, at: SimTime) -> wasmtime::Result<Resource<DynPollable>> {
        let deadline = self.table.push(Deadline {
            at,
            world: self.world.clone(),
            guest: self.guest,
        })?;
        wasmtime_wasi_io::poll::subscribe(self.table, deadline)
    }
}

impl monotonic_clock::Host for SimClocksView<'_> {
    fn now(&mut self) -> wasmtime::Result<Instant> {
        Ok(instant(self.clock.now()))
    }

    fn resolution(&mut self) -> wasmtime::Result<Instant> {
        Ok(RESOLUTION_NS)
    }

    fn subscribe_instant(&mut self, when: Instant) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_at(sim_time(when))
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let at = self.clock.now().as_nanos().saturating_add(duration);
        self.subscribe_at(SimTime::from_nanos(at))
    }
}
