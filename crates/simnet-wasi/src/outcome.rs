//! How each guest ended.

use std::fmt;

use simnet_core::SimTime;

/// Which per-guest limit a guest hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Memory,
    Fuel,
    VirtualTime,
    /// Computing (or polling what is already ready) for too long without ever
    /// waiting: a runaway loop.
    Busy,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Memory => "memory",
            Limit::Fuel => "fuel",
            Limit::VirtualTime => "virtual time",
            Limit::Busy => "busy time",
        })
    }
}

/// The end of one guest's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `main` returned or the guest called `exit`.
    Exited(i32),
    /// The guest trapped (a panic, an `unreachable`, a bad handle...).
    Trapped {
        message: String,
        backtrace: Option<String>,
        /// The wasm code itself trapped (`unreachable`, an out-of-bounds access...),
        /// rather than a host call refusing what it was given. `wasmtime run` exits
        /// with 134 only for these, with 1 otherwise.
        wasm_trap: bool,
    },
    LimitExceeded {
        limit: Limit,
        detail: String,
    },
    /// Blocked while nothing could ever wake it: no guest could run, no network event
    /// and no timer was left.
    Deadlocked {
        waiting: Vec<String>,
    },
    /// Still running when the simulation stopped (a server, or the time limit).
    Running {
        waiting: Vec<String>,
    },
    /// Its start time was never reached.
    NotStarted,
    /// Its host crashed under it (a fault), and it was not restarted.
    Crashed {
        mode: simnet_core::CrashMode,
    },
}

impl Outcome {
    /// The code the guest exited with; `None` for every other ending.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Outcome::Exited(code) => Some(*code),
            _ => None,
        }
    }

    /// Whether the guest exited with code 0.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }

    /// Whether the program went wrong on its own: a non-zero exit, a trap, a limit
    /// exceeded, or a deadlock. A guest still running (a healthy server), one never
    /// started, and one that went down with its crashed host did not.
    pub fn is_failure(&self) -> bool {
        match self {
            Outcome::Exited(code) => *code != 0,
            Outcome::Trapped { .. }
            | Outcome::LimitExceeded { .. }
            | Outcome::Deadlocked { .. } => true,
            Outcome::Running { .. } | Outcome::NotStarted | Outcome::Crashed { .. } => false,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exited with code {code}"),
            Outcome::Trapped { message, .. } => write!(f, "trapped: {message}"),
            Outcome::LimitExceeded { limit, detail } => {
                write!(f, "{limit} limit exceeded: {detail}")
            }
            Outcome::Deadlocked { waiting } => {
                write!(f, "deadlocked")?;
                if !waiting.is_empty() {
                    write!(f, ", waiting for {}", waiting.join("; "))?;
                }
                Ok(())
            }
            Outcome::Running { waiting } => {
                write!(f, "still running")?;
                if !waiting.is_empty() {
                    write!(f, ", waiting for {}", waiting.join("; "))?;
                }
                Ok(())
            }
            Outcome::NotStarted => write!(f, "not started"),
            Outcome::Crashed { mode } => write!(f, "crashed with its host ({mode:?})"),
        }
    }
}

/// One guest in a [`crate::Report`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestReport {
    pub name: String,
    pub host: String,
    pub outcome: Outcome,
    /// Virtual time the guest ended (or the simulation stopped).
    pub end: SimTime,
    /// Fuel (roughly, wasm instructions) the guest consumed.
    pub fuel: u64,
    /// How many times it was started afresh after its host crashed and restarted.
    pub restarts: u32,
    /// Whether it was a daemon (a server the run did not wait for).
    pub daemon: bool,
}

impl GuestReport {
    /// Whether the guest did what it should: a daemon did not fail
    /// ([`Outcome::is_failure`]); any other guest exited with code 0.
    pub fn is_success(&self) -> bool {
        match self.daemon {
            true => !self.outcome.is_failure(),
            false => self.outcome.is_success(),
        }
    }
}

/// Why the simulation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Every guest that was expected to finish did.
    AllFinished,
    /// Nothing could run and no event was left.
    Idle,
    /// The time limit of the run was reached.
    TimeLimit,
    /// The run took longer in real time than its watchdog allows
    /// ([`crate::SimConfig::watchdog`]): not a simulated outcome.
    Watchdog,
    /// The machine could not go on (it ran out of memory or memory mappings creating
    /// a guest): not a simulated outcome; [`Report::host_failure`] says why.
    HostFailure,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::AllFinished => "every guest that was expected to finish has ended",
            StopReason::Idle => "nothing could run and no event was left",
            StopReason::TimeLimit => "the time limit of the run was reached",
            StopReason::Watchdog => "the run took longer in real time than its watchdog allows",
            StopReason::HostFailure => "the machine ran out of resources creating a guest",
        })
    }
}

impl std::error::Error for StopReason {}

/// Why [`crate::Sim::run_until`] stopped before its condition held, with the guests
/// that had failed by then (what a test needs to see: the stop alone would hide a
/// server that trapped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    pub reason: StopReason,
    /// Each guest that had ended as a failure, with its last lines of output (empty
    /// when none had).
    pub failed: String,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the run stopped before the condition held: {}",
            self.reason
        )?;
        match self.failed.is_empty() {
            true => Ok(()),
            false => write!(f, "\n{}", self.failed.trim_end()),
        }
    }
}

impl std::error::Error for Stopped {}

/// The result of [`crate::Sim::run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub guests: Vec<GuestReport>,
    pub end: SimTime,
    pub stop: StopReason,
    pub trace_hash: u64,
    /// With [`StopReason::HostFailure`]: what failed on the machine.
    pub host_failure: Option<String>,
    /// Every (method, error) pair the guests met, in method then error order: how much
    /// failure handling the run exercised.
    pub api_errors: Vec<ApiErrorCount>,
}

/// How often guests met one result of one method (an error, or an injected short
/// read or write or stall), naturally or injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiErrorCount {
    pub method: crate::Method,
    pub result: simnet_core::ApiResult,
    pub natural: u64,
    pub injected: u64,
}

impl Report {
    pub fn guest(&self, name: &str) -> Option<&GuestReport> {
        self.guests.iter().find(|g| g.name == name)
    }

    /// Whether every guest did what it should ([`GuestReport::is_success`]) and the
    /// run was not cut short by the machine (watchdog, host failure).
    pub fn is_success(&self) -> bool {
        !matches!(self.stop, StopReason::Watchdog | StopReason::HostFailure)
            && self.guests.iter().all(GuestReport::is_success)
    }

    /// The guests that did not do what they should, as `name: outcome` lines.
    pub fn failures(&self) -> Vec<String> {
        self.guests
            .iter()
            .filter(|g| !g.is_success())
            .map(|g| format!("{}: {}", g.name, g.outcome))
            .collect()
    }
}
