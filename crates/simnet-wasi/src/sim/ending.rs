//! A guest's end (recorded, its instance dropped, its sockets closed) and the run's
//! report.

use simnet_core::ProcessEvent;
use wasmtime::{Trap, WasmBacktrace};
use wasmtime_wasi::I32Exit;

use crate::outcome::{ApiErrorCount, GuestReport, Limit, Outcome, Report, StopReason};
use crate::trigger::HostWentDown;
use crate::world::{GuestId, lock};

use super::start::Instantiating;
use super::{Finished, Run, Sim};

impl Sim {
    /// Record the outcome, drop the instance, and close its sockets as the kernel
    /// does for a process that ends.
    pub(super) fn end_guest(&mut self, id: GuestId, outcome: Outcome) {
        self.drop_guest(id, outcome, true);
    }

    pub(super) fn drop_guest(&mut self, id: GuestId, outcome: Outcome, close_sockets: bool) {
        let guest = &mut self.guests[id.0];
        // Dropping the future drops the store (and with it the guest's resource
        // table) before the world is locked below.
        lock(&self.world).tearing_down = Some(id);
        guest.run = Run::Done;
        lock(&self.world).tearing_down = None;
        tracing::info!(guest = %guest.spec.name, %outcome, "guest ended");
        let event = match &outcome {
            Outcome::Exited(code) => Some(ProcessEvent::Exited { code: *code }),
            Outcome::Trapped { .. } => Some(ProcessEvent::Trapped),
            Outcome::LimitExceeded { .. } => Some(ProcessEvent::LimitExceeded),
            Outcome::Crashed { .. } => Some(ProcessEvent::Crashed),
            // Still running or never started when the run stopped: nothing happened.
            _ => None,
        };
        guest.outcome = Some(outcome);
        let mut w = lock(&self.world);
        guest.end = w.now();
        if let Some(event) = event {
            w.net.record_process(guest.spec.host, id.0 as u32, event);
        }
        if close_sockets {
            w.close_all_of(id);
        }
        w.clear_waits(id);
        w.tasks.forget(id);
        drop(w);
        self.runnable.remove(&id);
    }

    pub(super) fn finish(&mut self, stop: StopReason) -> Report {
        let ids: Vec<GuestId> = self.guests.iter().map(|g| g.id).collect();
        for id in ids {
            let guest = &self.guests[id.0];
            if guest.outcome.is_some() {
                continue;
            }
            let outcome = match guest.run {
                Run::NotStarted => Outcome::NotStarted,
                _ => {
                    let waiting: Vec<String> = lock(&self.world).take_waits(id);
                    if stop == StopReason::Idle && !guest.spec.daemon {
                        Outcome::Deadlocked { waiting }
                    } else {
                        Outcome::Running { waiting }
                    }
                }
            };
            // The run stops here: guests still running keep their connections open
            // (nothing more happens on the network), as in a snapshot.
            lock(&self.world).forget_sockets_of(id);
            self.drop_guest(id, outcome, false);
        }
        let w = lock(&self.world);
        Report {
            guests: self
                .guests
                .iter()
                .map(|g| GuestReport {
                    name: g.spec.name.clone(),
                    host: w.net.host_name(g.spec.host).to_string(),
                    outcome: g.outcome.clone().unwrap_or(Outcome::NotStarted),
                    end: g.end,
                    fuel: g.fuel,
                    restarts: g.restarts,
                    daemon: g.spec.daemon,
                })
                .collect(),
            end: w.now(),
            stop,
            trace_hash: w.net.trace_hash(),
            host_failure: self.host_failure.clone(),
            api_errors: w
                .net
                .api_results()
                .map(|(method, result, met)| ApiErrorCount {
                    method,
                    result,
                    natural: met.natural,
                    injected: met.injected,
                })
                .collect(),
        }
    }
}

/// How a guest's run ended, or why the machine could not run it: a component that
/// was checked when loaded fails to instantiate only when the host lacks resources
/// (memory, memory mappings), which is no outcome of the simulation.
pub(super) enum Ended {
    Outcome(Outcome),
    /// A fault its own call brought about crashed its host.
    HostWentDown,
    HostFailure(String),
}

pub(super) fn classify_ending(finished: Finished) -> Ended {
    if let Err(e) = &finished.result
        && e.is::<HostWentDown>()
    {
        return Ended::HostWentDown;
    }
    if let Err(e) = &finished.result
        && e.is::<Instantiating>()
        && !e.is::<Trap>()
        && finished.memory_exceeded.is_none()
        && !over_resource_limit(e)
    {
        let cause = e
            .chain()
            .skip(1)
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        return Ended::HostFailure(cause);
    }
    Ended::Outcome(classify(finished))
}

/// The guest's resource table was full: its own limit (`Limits::resources`), not
/// the machine's, as wasmtime reports it too.
fn over_resource_limit(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<wasmtime::component::ResourceTableError>()
            .is_some()
    })
}

fn classify(finished: Finished) -> Outcome {
    let err = match finished.result {
        Ok(Ok(())) => return Outcome::Exited(0),
        Ok(Err(())) => return Outcome::Exited(1),
        Err(e) => e,
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    if let Some(detail) = finished.memory_exceeded {
        return Outcome::LimitExceeded {
            limit: Limit::Memory,
            detail,
        };
    }
    if err.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return Outcome::LimitExceeded {
            limit: Limit::Fuel,
            detail: format!("used all {} units of fuel", finished.fuel),
        };
    }
    let backtrace = err.downcast_ref::<WasmBacktrace>().map(|b| b.to_string());
    let wasm_trap = err.downcast_ref::<Trap>().is_some();
    let message = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        // The backtrace is reported on its own: leave it out of the message.
        None => err
            .chain()
            .map(|c| c.to_string())
            .filter(|c| !c.starts_with("error while executing at wasm backtrace"))
            .collect::<Vec<_>>()
            .join(": "),
    };
    Outcome::Trapped {
        message,
        backtrace,
        wasm_trap,
    }
}
