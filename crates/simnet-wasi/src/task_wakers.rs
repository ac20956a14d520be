//! The wakers of WASI 0.3 guests' host tasks that wait on the simulation.
//!
//! A 0.2 guest blocks in one host call at a time, so the executor only needs to know
//! which guest to poll again. A 0.3 guest has many host tasks in flight (a connect,
//! a stream being read, a sleep), and wasmtime polls again only the tasks whose own
//! waker was called. So the world keeps each waiting task's waker with what it waits
//! for, and calls it when the network reports a change on the socket or the
//! deadline comes.
//!
//! simnet's host never calls a task's waker while a guest runs: it hands the waker
//! here ([`TaskWakers::wake_soon`]) and the executor calls it between turns. A wake
//! inside a guest's turn is therefore the guest yielding (its fuel slice ran out, or
//! it yielded itself), which the scheduler charges as computation; wasmtime's own
//! wake when a guest cancels a host stream operation is charged the same.

use std::collections::BTreeMap;
use std::task::Waker;

use indexmap::IndexMap;
use simnet_core::{SimTime, SocketId};

use crate::ids::GuestId;
use crate::wait::Wait;

/// A waiting task: whose it is, what it waits for (for deadlock reports), and how to
/// wake it.
struct Waiting {
    guest: GuestId,
    wait: Wait,
    waker: Waker,
}

/// A wake-up registered with [`TaskWakers::at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey((SimTime, u64));

#[derive(Default)]
pub(crate) struct TaskWakers {
    by_socket: IndexMap<SocketId, Vec<Waiting>>,
    /// Keyed by deadline, then registration order.
    by_time: BTreeMap<(SimTime, u64), Waiting>,
    /// Wakes due at the next turn boundary (a result became available).
    soon: Vec<(GuestId, Waker)>,
    registered: u64,
    /// Per guest, how many tasks wait here.
    waiting: Vec<u32>,
    /// Per guest, how many tasks wait for a stream's result (woken by the stream's
    /// end, not by the network).
    parked: Vec<u32>,
}

impl TaskWakers {
    fn count(&mut self, guest: GuestId, delta: i32) {
        if self.waiting.len() <= guest.0 {
            self.waiting.resize(guest.0 + 1, 0);
        }
        let n = &mut self.waiting[guest.0];
        *n = n.saturating_add_signed(delta);
    }

    /// Wake the task when `socket`'s readiness may have changed.
    pub fn on_socket(&mut self, socket: SocketId, guest: GuestId, wait: Wait, waker: &Waker) {
        let list = self.by_socket.entry(socket).or_default();
        if list.iter().any(|w| w.waker.will_wake(waker)) {
            return;
        }
        list.push(Waiting {
            guest,
            wait,
            waker: waker.clone(),
        });
        self.count(guest, 1);
    }

    /// Wake the task at virtual time `at`. Returns the registration, which
    /// [`TaskWakers::cancel`] takes back (a task dropped before its deadline).
    pub fn at(&mut self, at: SimTime, guest: GuestId, waker: &Waker) -> TimerKey {
        let existing = self
            .by_time
            .range((at, 0)..=(at, u64::MAX))
            .find(|(_, w)| w.waker.will_wake(waker))
            .map(|(&key, _)| key);
        if let Some(key) = existing {
            return TimerKey(key);
        }
        self.registered += 1;
        let wait = Wait::Clock { deadline: at };
        let waiting = Waiting {
            guest,
            wait,
            waker: waker.clone(),
        };
        self.by_time.insert((at, self.registered), waiting);
        self.count(guest, 1);
        TimerKey((at, self.registered))
    }

    /// Take back a wake-up of [`TaskWakers::at`] that has not happened yet: the
    /// clock need not move to it, nor the guest run.
    pub fn cancel(&mut self, key: TimerKey) {
        if let Some(w) = self.by_time.remove(&key.0) {
            self.count(w.guest, -1);
        }
    }

    /// A task of `guest` waits for a stream's result.
    pub fn park(&mut self, guest: GuestId) {
        if self.parked.len() <= guest.0 {
            self.parked.resize(guest.0 + 1, 0);
        }
        self.parked[guest.0] += 1;
    }

    /// A task of `guest` no longer waits for a stream's result.
    pub fn unpark(&mut self, guest: GuestId) {
        if let Some(n) = self.parked.get_mut(guest.0) {
            *n = n.saturating_sub(1);
        }
    }

    /// Wake the task at the next turn boundary.
    pub fn wake_soon(&mut self, guest: GuestId, waker: Waker) {
        self.soon.push((guest, waker));
    }

    /// The earliest deadline a task waits for.
    pub fn next_deadline(&self) -> Option<SimTime> {
        self.by_time.first_key_value().map(|(&(t, _), _)| t)
    }

    /// Wake the tasks waiting on `socket`, noting their guests in `out`.
    pub fn wake_socket(&mut self, socket: SocketId, out: &mut impl Extend<GuestId>) {
        let Some(list) = self.by_socket.swap_remove(&socket) else {
            return;
        };
        for w in list {
            self.count(w.guest, -1);
            out.extend([w.guest]);
            w.waker.wake();
        }
    }

    /// Wake the tasks whose deadline is `now` or earlier, and those due soon.
    pub fn wake_due(&mut self, now: SimTime, out: &mut impl Extend<GuestId>) {
        while let Some(entry) = self.by_time.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let w = entry.remove();
            self.count(w.guest, -1);
            out.extend([w.guest]);
            w.waker.wake();
        }
        for (guest, waker) in std::mem::take(&mut self.soon) {
            out.extend([guest]);
            waker.wake();
        }
    }

    /// Whether a task of `guest` waits on the simulation.
    pub fn has_waiting(&self, guest: GuestId) -> bool {
        self.waiting.get(guest.0).is_some_and(|&n| n > 0)
            || self.parked.get(guest.0).is_some_and(|&n| n > 0)
            || self.soon.iter().any(|(g, _)| *g == guest)
    }

    /// What `guest`'s tasks wait for.
    pub fn waits_of(&self, guest: GuestId) -> Vec<Wait> {
        let mut waits: Vec<Wait> = Vec::new();
        let all = self
            .by_socket
            .values()
            .flatten()
            .chain(self.by_time.values());
        for w in all.filter(|w| w.guest == guest) {
            if !waits.contains(&w.wait) {
                waits.push(w.wait);
            }
        }
        if self.parked.get(guest.0).is_some_and(|&n| n > 0) {
            waits.push(Wait::StreamResult);
        }
        waits
    }

    /// Forget `guest`'s tasks: it ended, and its tasks went with its store.
    pub fn forget(&mut self, guest: GuestId) {
        for list in self.by_socket.values_mut() {
            list.retain(|w| w.guest != guest);
        }
        self.by_socket.retain(|_, list| !list.is_empty());
        self.by_time.retain(|_, w| w.guest != guest);
        self.soon.retain(|(g, _)| *g != guest);
        if let Some(n) = self.waiting.get_mut(guest.0) {
            *n = 0;
        }
        if let Some(n) = self.parked.get_mut(guest.0) {
            *n = 0;
        }
    }
}
