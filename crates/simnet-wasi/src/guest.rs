//! What one guest's `Store` holds: wasmtime-wasi's context for the interfaces simnet
//! takes from it (cli, random, wall clock, preopened directories), the resource
//! table, the guest's place in the simulation, its memory limiter, and the virtual
//! times of the files it changed.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::host::{FileTimes, GuestNet, SimClocksView, SimFilesystemView, SimSocketsView};
use crate::world::VirtualClock;

pub(crate) struct GuestState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub net: GuestNet,
    pub clock: VirtualClock,
    pub limiter: GuestLimiter,
    pub file_times: FileTimes,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl GuestState {
    pub fn sockets(&mut self) -> SimSocketsView<'_> {
        SimSocketsView {
            table: &mut self.table,
            ctx: &self.net,
        }
    }

    pub fn files(&mut self) -> SimFilesystemView<'_> {
        SimFilesystemView {
            fs: wasmtime_wasi::filesystem::WasiFilesystemCtxView {
                ctx: self.wasi.filesystem(),
                table: &mut self.table,
            },
            times: &mut self.file_times,
            net: &self.net,
        }
    }

    pub fn clocks(&mut self) -> SimClocksView<'_> {
        SimClocksView {
            table: &mut self.table,
            world: &self.net.world,
            clock: &self.clock,
            guest: self.net.guest,
        }
    }
}

/// Caps a guest's linear memory; a growth beyond the cap traps the guest (rather
/// than failing `memory.grow`, which most guests turn into an abort without a word).
pub(crate) struct GuestLimiter {
    pub memory: Option<usize>,
    pub exceeded: Option<String>,
}

/// Table growth is not what a simulated program plausibly exhausts; this bound only
/// stops a runaway guest.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.memory {
            Some(limit) if desired > limit => {
                let msg = format!(
                    "the guest asked for {desired} bytes of linear memory, the limit is {limit}"
                );
                self.exceeded = Some(msg.clone());
                Err(wasmtime::Error::msg(msg))
            }
            _ => Ok(true),
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
