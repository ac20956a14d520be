//! The state faults leave behind, which links, hosts and socket calls consult.

use indexmap::{IndexMap, IndexSet};

use crate::ids::HostId;
use crate::packet::Packet;
use crate::rng::SimRng;

use super::api::Injector;
use super::kind::{Fault, HostEvent};

/// Every fault in force, in one place: what links (blocked and held pairs), hosts
/// (down, crashed) and socket calls (the API-fault injector) consult, with the faults
/// still waiting on the event queue and the host events not yet handed on.
pub(crate) struct FaultState {
    /// Directed host pairs whose packets are dropped.
    pub(crate) blocked: IndexSet<(HostId, HostId)>,
    /// Directed host pairs whose packets are held, with what is held.
    pub(crate) held: IndexMap<(HostId, HostId), Vec<Packet>>,
    /// Hosts that crashed silently and have not restarted.
    pub(crate) down: IndexSet<HostId>,
    /// Hosts that crashed (in either mode) and have not restarted.
    pub(crate) crashed: IndexSet<HostId>,
    /// Results injected at the socket calls.
    pub(crate) api: Injector,
    /// Faults scheduled on the event queue, by the index their event carries.
    pub(crate) scheduled: Vec<Option<Fault>>,
    /// Crashes and restarts since the driver last took them.
    pub(crate) lifecycle: Vec<HostEvent>,
    /// Choices faults make (which connection a random reset hits).
    pub(crate) rng: SimRng,
}

impl FaultState {
    pub(crate) fn new(seed: u64) -> Self {
        FaultState {
            blocked: IndexSet::new(),
            held: IndexMap::new(),
            down: IndexSet::new(),
            crashed: IndexSet::new(),
            api: Injector::new(seed),
            scheduled: Vec::new(),
            lifecycle: Vec::new(),
            rng: crate::rng::derive(seed, "faults"),
        }
    }
}
