//! The state every guest of a simulation shares: the simulated network, which guest
//! owns which socket, the virtual-time wake-ups guests asked for, and what each
//! blocked guest is waiting on (for deadlock reports).
//!
//! Host calls and pollables reach it through [`Shared`]. The executor never holds the
//! lock while a guest runs, and a guest only runs on the executor's thread, so the lock
//! is never contended; it exists because wasmtime requires store data to be `Send`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use simnet_core::{Net, SimTime, SocketId};

use simnet_core::{Effect, Method};

pub use crate::ids::GuestId;
use crate::task_wakers::TaskWakers;
use crate::trigger::Triggers;
pub use crate::wait::Wait;

/// Virtual time as seen by the guests' clocks, readable without the world lock.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    pub fn now(&self) -> SimTime {
        SimTime::from_nanos(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, t: SimTime) {
        self.0.store(t.as_nanos(), Ordering::Relaxed);
    }
}

pub(crate) struct World {
    pub net: Net,
    pub clock: VirtualClock,
    owners: IndexMap<SocketId, GuestId>,
    /// Guests to wake at a virtual time (deduplicated: a pollable re-polled many times
    /// registers one wake-up).
    timers: BTreeSet<(SimTime, GuestId)>,
    /// Per guest, what its pending host call found not ready.
    waits: Vec<GuestWaits>,
    woken: Vec<SocketId>,
    /// The wakers of WASI 0.3 guests' host tasks waiting on the simulation.
    pub tasks: TaskWakers,
    /// Guests whose host calls run as tasks (WASI 0.3 guests): a wait must keep
    /// the task's waker, not only wake the guest.
    concurrent: BTreeSet<GuestId>,
    /// Faults waiting for something a program does.
    pub triggers: Triggers,
    /// The guest whose store is being dropped: its handles go without the guest
    /// letting go of them, so a write still being handed to the network is
    /// abandoned (wasmtime-wasi aborts its background write with the store).
    pub tearing_down: Option<GuestId>,
}

/// What a guest's pending host call waits for. Waits belong to the host call that
/// noted them: a call that returned (a `poll` that found one pollable ready while
/// another was not) leaves waits that no longer hold, so each set is stamped with
/// the guest's count of returned host calls and counts only while that is unchanged.
#[derive(Default)]
struct GuestWaits {
    waits: Vec<Wait>,
    /// The guest's returned-call count when `waits` were noted.
    noted_at: u64,
    /// Host calls the guest has returned from (its call hook counts them).
    returned: Arc<AtomicU64>,
}

impl GuestWaits {
    /// The waits of the pending call (none if they were noted by an earlier call).
    fn current(&self) -> &[Wait] {
        match self.noted_at == self.returned.load(Ordering::Relaxed) {
            true => &self.waits,
            false => &[],
        }
    }
}

pub(crate) type Shared = Arc<Mutex<World>>;

/// Lock the world. A panic while it was held cannot leave it half-updated in a way
/// that matters more than the panic itself, so poisoning is ignored.
pub(crate) fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

impl World {
    pub fn new(net: Net) -> Self {
        let clock = VirtualClock::default();
        clock.set(net.now());
        World {
            net,
            clock,
            owners: IndexMap::new(),
            timers: BTreeSet::new(),
            waits: Vec::new(),
            woken: Vec::new(),
            tasks: TaskWakers::default(),
            concurrent: BTreeSet::new(),
            triggers: Triggers::default(),
            tearing_down: None,
        }
    }

    pub fn now(&self) -> SimTime {
        self.net.now()
    }

    pub fn add_guest(&mut self) -> GuestId {
        self.waits.push(GuestWaits::default());
        GuestId(self.waits.len() - 1)
    }

    /// The counter of host calls `guest` has returned from, for its call hook to
    /// advance: waits noted before the last return are stale.
    pub fn returned_calls(&self, guest: GuestId) -> Arc<AtomicU64> {
        self.waits
            .get(guest.0)
            .map(|w| w.returned.clone())
            .unwrap_or_default()
    }

    pub fn set_owner(&mut self, socket: SocketId, guest: GuestId) {
        self.owners.insert(socket, guest);
    }

    /// Whether a guest still holds `socket` (it was neither closed nor disposed of).
    pub fn owns(&self, socket: SocketId) -> bool {
        self.owners.contains_key(&socket)
    }

    /// Close a socket the guest dropped.
    pub fn close_socket(&mut self, socket: SocketId) {
        self.owners.swap_remove(&socket);
        // Closing a socket the network already freed is not an error worth reporting.
        let _ = self.net.close(socket);
    }

    /// Forget which sockets a guest held, so dropping its handles closes nothing: its
    /// host crashed (the network disposes of them itself), or the run stopped with the
    /// guest still running (its connections stay as they are).
    pub fn forget_sockets_of(&mut self, guest: GuestId) {
        self.owners.retain(|_, g| *g != guest);
    }

    /// Close every socket a guest still holds, as the kernel does when a process ends.
    pub fn close_all_of(&mut self, guest: GuestId) {
        let mine: Vec<SocketId> = self
            .owners
            .iter()
            .filter(|&(_, &g)| g == guest)
            .map(|(&s, _)| s)
            .collect();
        for socket in mine {
            self.close_socket(socket);
        }
    }

    /// Note whether `guest` runs its host calls as tasks (a WASI 0.3 guest).
    pub fn set_concurrent(&mut self, guest: GuestId, concurrent: bool) {
        match concurrent {
            true => self.concurrent.insert(guest),
            false => self.concurrent.remove(&guest),
        };
    }

    /// Whether `guest` runs its host calls as tasks.
    pub fn is_concurrent(&self, guest: GuestId) -> bool {
        self.concurrent.contains(&guest)
    }

    pub fn wake_at(&mut self, at: SimTime, guest: GuestId) {
        self.timers.insert((at, guest));
    }

    pub fn next_timer(&self) -> Option<SimTime> {
        let guests = self.timers.first().map(|&(t, _)| t);
        [guests, self.tasks.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Remove and report the guests whose wake-up time has come.
    pub fn due_timers(&mut self, out: &mut BTreeSet<GuestId>) {
        let now = self.net.now();
        while let Some(&(t, g)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            out.insert(g);
        }
        self.tasks.wake_due(now, out);
    }

    /// Guests that own a socket whose readiness may have changed.
    pub fn woken_guests(&mut self, out: &mut BTreeSet<GuestId>) {
        self.woken.clear();
        self.net.drain_woken(&mut self.woken);
        for s in &self.woken {
            if let Some(&g) = self.owners.get(s) {
                out.insert(g);
            }
            self.tasks.wake_socket(*s, out);
        }
    }

    pub fn note_wait(&mut self, guest: GuestId, wait: Wait) {
        let Some(w) = self.waits.get_mut(guest.0) else {
            return;
        };
        let now = w.returned.load(Ordering::Relaxed);
        if w.noted_at != now {
            w.waits.clear();
            w.noted_at = now;
        }
        if !w.waits.contains(&wait) {
            w.waits.push(wait);
        }
    }

    /// What the guest waits for, described.
    pub fn take_waits(&mut self, guest: GuestId) -> Vec<String> {
        let mut waits: Vec<Wait> = self
            .waits
            .get(guest.0)
            .map_or(Vec::new(), |w| w.current().to_vec());
        for wait in self.tasks.waits_of(guest) {
            if !waits.contains(&wait) {
                waits.push(wait);
            }
        }
        let waits = waits.iter().map(|w| w.describe(&self.net)).collect();
        self.clear_waits(guest);
        waits
    }

    /// Whether the guest's pending host call found something of the simulation not
    /// ready.
    pub fn has_waits(&self, guest: GuestId) -> bool {
        self.tasks.has_waiting(guest)
            || self
                .waits
                .get(guest.0)
                .is_some_and(|w| !w.current().is_empty())
    }

    pub fn clear_waits(&mut self, guest: GuestId) {
        if let Some(w) = self.waits.get_mut(guest.0) {
            w.waits.clear();
        }
    }

    /// A call of `method` by a guest on `host`: the API fault that hits it, if any, is
    /// applied by the network (see [`Net::api_call`]); its effect is returned for the
    /// caller to finish (return the error, shorten the I/O).
    pub fn inject(
        &mut self,
        host: simnet_core::HostId,
        socket: Option<SocketId>,
        method: Method,
    ) -> Option<Effect> {
        self.net.api_call(host, socket, method)
    }

    /// Move the network's clock, and the guests' view of it, to `t`.
    pub fn advance_to(&mut self, t: SimTime) {
        self.net.run_until(t);
        self.clock.set(self.net.now());
    }

    /// Run the next network event, if there is one.
    pub fn step(&mut self) -> bool {
        let stepped = self.net.step();
        self.clock.set(self.net.now());
        stepped
    }
}
