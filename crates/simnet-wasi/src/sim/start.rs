//! Starting a guest: its WASI context, its store, its disks, and the future that
//! runs its `main`.

use std::sync::atomic::Ordering;

use rand::Rng;

use simnet_core::derive_rng;
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::guest::{GuestLimiter, GuestState};
use crate::host::{FileTimes, GuestNet, GuestOutput, GuestStdin, SimMonotonicClock, SimWallClock};
use crate::output::Stream;
use crate::program::Entry;
use crate::trigger::HostWentDown;
use crate::world::{GuestId, lock};

use super::{Finished, GuestFuture, Sim};

impl Sim {
    pub(super) fn start_guest(&mut self, id: GuestId) -> wasmtime::Result<GuestFuture> {
        let guest = &self.guests[id.0];
        let spec = &guest.spec;
        let clock = lock(&self.world).clock.clone();
        let seed = self.config.seed;
        let label = |what: &str| format!("guest:{}:{what}", spec.name);
        let mut b = WasiCtxBuilder::new();
        b.arg(spec.argv0.as_deref().unwrap_or(spec.program.name()))
            .args(&spec.args)
            .envs(&spec.env)
            .stdout(GuestOutput {
                log: guest.output.clone(),
                stream: Stream::Stdout,
                world: self.world.clone(),
            })
            .stderr(GuestOutput {
                log: guest.output.clone(),
                stream: Stream::Stderr,
                world: self.world.clone(),
            })
            .wall_clock(SimWallClock {
                clock: clock.clone(),
                epoch: self.config.epoch,
            })
            .monotonic_clock(SimMonotonicClock(clock.clone()))
            .secure_random(derive_rng(seed, &label("secure-random")))
            .insecure_random(derive_rng(seed, &label("insecure-random")))
            .insecure_random_seed({
                let mut r = derive_rng(seed, &label("insecure-seed"));
                (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64())
            })
            .stdin(GuestStdin::new(spec.stdin.clone()))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            // Filesystem calls run on the simulation's thread, in program order.
            .allow_blocking_current_thread(true);
        if let Some(cwd) = &spec.cwd {
            b.initial_cwd(cwd);
        }
        for dir in &spec.dirs {
            b.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadWrite)
                .map_err(|e| e.context(format!("cannot open directory {}", dir.host.display())))?;
        }
        self.mount_disks(id)?;
        let state = GuestState {
            wasi: b.build(),
            table: wasmtime::component::ResourceTable::new(),
            net: GuestNet {
                world: self.world.clone(),
                guest: id,
                host: spec.host,
                caps: spec.capabilities,
            },
            clock,
            limiter: GuestLimiter {
                memory: spec.limits.memory.or(self.config.memory_limit),
                exceeded: None,
            },
            file_times: FileTimes::new(lock(&self.world).clock.clone(), self.config.epoch),
        };
        let mut store = Store::new(spec.program.entry.engine(), state);
        store.limiter(|s| &mut s.limiter);
        if let Some(max) = spec.limits.resources {
            store.data_mut().table.set_max_capacity(max);
            if let Some(table) = store.concurrent_resource_table() {
                table.set_max_capacity(max);
            }
        }
        let calls = guest.host_calls.clone();
        let (world, host, output) = (self.world.clone(), spec.host, guest.output.clone());
        let (armed, returned) = {
            let w = lock(&self.world);
            (w.triggers.armed(), w.returned_calls(id))
        };
        store.call_hook(move |_, hook| {
            match hook {
                wasmtime::CallHook::CallingHost => {
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                wasmtime::CallHook::ReturningFromHost => {
                    // What the returned call waited for no longer holds.
                    returned.fetch_add(1, Ordering::Relaxed);
                    if !armed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let mut w = lock(&world);
                    let w = &mut *w;
                    if w.triggers.check(&mut w.net, host, id, &output) {
                        return Err(wasmtime::Error::new(HostWentDown));
                    }
                }
                _ => {}
            }
            Ok(())
        });
        let fuel = spec.limits.fuel.unwrap_or(u64::MAX);
        store.set_fuel(fuel)?;
        store.fuel_async_yield_interval(self.config.slice_fuel)?;
        let entry = spec.program.entry.clone();
        let world = self.world.clone();
        lock(&world).set_concurrent(id, matches!(entry, Entry::P3(_)));
        Ok(Box::pin(async move {
            let result = match entry {
                Entry::P2(pre) => {
                    async {
                        let command = pre
                            .instantiate_async(&mut store)
                            .await
                            .map_err(|e| e.context(Instantiating))?;
                        command.wasi_cli_run().call_run(&mut store).await
                    }
                    .await
                }
                Entry::P3(pre) => {
                    async {
                        let command = pre
                            .instantiate_async(&mut store)
                            .await
                            .map_err(|e| e.context(Instantiating))?;
                        // Every task of the guest runs inside this future, and advances
                        // only when the executor polls it.
                        store
                            .run_concurrent(async |a| command.wasi_cli_run().call_run(a).await)
                            .await?
                    }
                    .await
                }
            };
            let left = store.get_fuel().unwrap_or(0);
            let finished = Finished {
                result,
                memory_exceeded: store.data_mut().limiter.exceeded.take(),
                fuel: fuel - left,
            };
            // The guest is gone: its handles drop without it letting go of them.
            lock(&world).tearing_down = Some(id);
            drop(store);
            lock(&world).tearing_down = None;
            finished
        }))
    }

    /// Mount the guest's disk directories that its host's disk lacks (the first
    /// guest of a host to start mounts them; restarts find them there).
    fn mount_disks(&self, id: GuestId) -> wasmtime::Result<()> {
        let spec = &self.guests[id.0].spec;
        for m in &spec.disks {
            let mounted = lock(&self.world).net.disk(spec.host).is_mounted(&m.guest);
            if mounted {
                continue;
            }
            let image = self
                .images
                .get(&m.source)
                .map_err(|e| wasmtime::format_err!("cannot mount {}: {e}", m.guest))?;
            lock(&self.world)
                .net
                .mount(spec.host, &m.guest, &image, m.read_only)
                .map_err(|e| wasmtime::format_err!("cannot mount {}: {e}", m.guest))?;
        }
        Ok(())
    }
}

/// Marks an error that happened while a guest was being instantiated.
#[derive(Debug)]
pub(super) struct Instantiating;

impl std::fmt::Display for Instantiating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot instantiate the component")
    }
}
