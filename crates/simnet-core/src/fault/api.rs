//! API-level faults: results injected at the `wasi:sockets` and `wasi:filesystem`
//! surfaces (on the simulated disk), by host, method and
//! the n-th call or a probability: error codes the interface allows for the method,
//! short reads and writes, pollables stalled for a while. A chaos rate injects seeded
//! random faults of these kinds, BUGGIFY-style. Every error a guest meets, injected or
//! not, is counted, so a run reports how much failure handling it exercised.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::error::ErrorCode;
use crate::fs_error::FsError;
use crate::ids::{HostId, SocketId};
use crate::rng::SimRng;
use crate::time::SimTime;
use indexmap::IndexMap;
use rand::RngExt;

/// A `wasi:sockets` operation faults can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    CreateTcpSocket,
    StartBind,
    FinishBind,
    StartConnect,
    FinishConnect,
    StartListen,
    FinishListen,
    Accept,
    /// `input-stream.read` (and blocking reads) on a socket.
    Read,
    /// `output-stream.check-write` / `write` on a socket.
    Write,
    ResolveAddresses,
    CreateUdpSocket,
    /// `outgoing-datagram-stream.send`.
    Send,
    /// `incoming-datagram-stream.receive`.
    Receive,
    /// `descriptor.open-at` on the simulated disk.
    OpenAt,
    /// A file's reads: `descriptor.read` and its input stream's reads.
    FileRead,
    /// A file's writes: `descriptor.write` and its output stream's writes.
    FileWrite,
    /// `descriptor.sync` and `sync-data`.
    Sync,
    RenameAt,
    UnlinkFileAt,
    CreateDirectoryAt,
    ReadDirectory,
}

impl Method {
    pub const ALL: [Method; 22] = [
        Method::CreateTcpSocket,
        Method::StartBind,
        Method::FinishBind,
        Method::StartConnect,
        Method::FinishConnect,
        Method::StartListen,
        Method::FinishListen,
        Method::Accept,
        Method::Read,
        Method::Write,
        Method::ResolveAddresses,
        Method::CreateUdpSocket,
        Method::Send,
        Method::Receive,
        Method::OpenAt,
        Method::FileRead,
        Method::FileWrite,
        Method::Sync,
        Method::RenameAt,
        Method::UnlinkFileAt,
        Method::CreateDirectoryAt,
        Method::ReadDirectory,
    ];

    /// The WIT-style name, e.g. `finish-connect`.
    pub fn name(self) -> &'static str {
        match self {
            Method::CreateTcpSocket => "create-tcp-socket",
            Method::StartBind => "start-bind",
            Method::FinishBind => "finish-bind",
            Method::StartConnect => "start-connect",
            Method::FinishConnect => "finish-connect",
            Method::StartListen => "start-listen",
            Method::FinishListen => "finish-listen",
            Method::Accept => "accept",
            Method::Read => "read",
            Method::Write => "write",
            Method::ResolveAddresses => "resolve-addresses",
            Method::CreateUdpSocket => "create-udp-socket",
            Method::Send => "send",
            Method::Receive => "receive",
            Method::OpenAt => "open-at",
            Method::FileRead => "file-read",
            Method::FileWrite => "file-write",
            Method::Sync => "sync",
            Method::RenameAt => "rename-at",
            Method::UnlinkFileAt => "unlink-file-at",
            Method::CreateDirectoryAt => "create-directory-at",
            Method::ReadDirectory => "read-directory",
        }
    }

    /// A `wasi:filesystem` call (its errors are filesystem error codes).
    pub fn is_file(self) -> bool {
        !self.file_errors().is_empty()
    }

    /// The filesystem error codes a failing device or a full disk gives this file
    /// call, which may be injected.
    pub fn file_errors(self) -> &'static [FsError] {
        use FsError::*;
        match self {
            Method::OpenAt | Method::FileWrite | Method::RenameAt | Method::CreateDirectoryAt => {
                &[Io, InsufficientSpace]
            }
            Method::FileRead | Method::Sync | Method::UnlinkFileAt | Method::ReadDirectory => &[Io],
            _ => &[],
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The error codes the interface documents for this method that come from the
    /// environment (not from the guest's own arguments or state), which may be injected.
    pub fn injectable_errors(self) -> &'static [ErrorCode] {
        use ErrorCode::*;
        match self {
            Method::CreateTcpSocket => &[NewSocketLimit, NotSupported],
            Method::StartBind | Method::FinishBind => &[AddressInUse, AddressNotBindable],
            Method::StartConnect | Method::FinishConnect => &[
                Timeout,
                ConnectionRefused,
                ConnectionReset,
                ConnectionAborted,
                RemoteUnreachable,
                AddressInUse,
            ],
            Method::StartListen | Method::FinishListen => &[AddressInUse],
            Method::Accept => &[ConnectionAborted, NewSocketLimit],
            Method::Read | Method::Write => &[ConnectionReset, ConnectionAborted, Timeout],
            Method::ResolveAddresses => &[NameUnresolvable, TemporaryResolverFailure],
            Method::CreateUdpSocket => &[NewSocketLimit, NotSupported],
            Method::Send => &[ConnectionRefused, RemoteUnreachable],
            Method::Receive => &[ConnectionRefused],
            // File calls fail with filesystem codes: `file_errors`.
            _ => &[],
        }
    }
}

impl Method {
    /// The injectable errors a call meets because of the network or its peers, not
    /// because of the program's own set-up: what random plans draw. Creating,
    /// binding and listening fail only for reasons a scenario fixes in advance (its
    /// own ports and limits), so plans leave them alone.
    pub fn network_errors(self) -> &'static [ErrorCode] {
        use ErrorCode::*;
        match self {
            Method::CreateTcpSocket
            | Method::StartBind
            | Method::FinishBind
            | Method::StartListen
            | Method::FinishListen => &[],
            Method::StartConnect | Method::FinishConnect => &[
                Timeout,
                ConnectionRefused,
                ConnectionReset,
                RemoteUnreachable,
            ],
            Method::Accept => &[ConnectionAborted],
            Method::Read | Method::Write => &[ConnectionReset, Timeout],
            Method::ResolveAddresses => &[TemporaryResolverFailure],
            // UDP calls are faulted through the network (loss, partitions, crashes)
            // by random plans, file calls through the disk; a scenario may still
            // name them.
            _ => &[],
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// On the n-th call (1-based) of the method on the host.
    Nth(u64),
    /// On each call with this probability (seeded).
    Probability(f64),
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    /// The call fails with this code (for reads and writes: the connection fails).
    Error(ErrorCode),
    /// A file call fails with this filesystem code.
    FileError(FsError),
    /// A read returns at most one byte.
    ShortRead,
    /// `check-write` grants at most one byte.
    ShortWrite,
    /// The socket's pollables are not ready for this long.
    Stall(Duration),
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Error(code) => f.write_str(code.as_str()),
            Effect::FileError(code) => f.write_str(code.as_str()),
            Effect::ShortRead => f.write_str("short read"),
            Effect::ShortWrite => f.write_str("short write"),
            Effect::Stall(d) => write!(f, "stall {d:?}"),
        }
    }
}

/// One API-level fault.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiFault {
    /// The host whose guests it hits; `None`: every host.
    pub host: Option<HostId>,
    pub method: Method,
    pub trigger: Trigger,
    pub effect: Effect,
}

impl ApiFault {
    /// Whether the effect makes sense for the method (and the error is one the
    /// interface allows there).
    pub fn check(&self) -> Result<(), String> {
        let ok = match self.effect {
            Effect::Error(code) => self.method.injectable_errors().contains(&code),
            Effect::FileError(code) => self.method.file_errors().contains(&code),
            Effect::ShortRead => matches!(self.method, Method::Read | Method::FileRead),
            Effect::ShortWrite => matches!(self.method, Method::Write | Method::FileWrite),
            Effect::Stall(_) => matches!(
                self.method,
                Method::Read
                    | Method::Write
                    | Method::Accept
                    | Method::FinishConnect
                    | Method::Receive
            ),
        };
        if !ok {
            let allowed: Vec<&str> = self
                .method
                .injectable_errors()
                .iter()
                .map(|c| c.as_str())
                .chain(self.method.file_errors().iter().map(|c| c.as_str()))
                .collect();
            return Err(format!(
                "{} cannot {}: its injectable errors are {}{}",
                self.method,
                match self.effect {
                    Effect::Error(c) => format!("fail with {}", c.as_str()),
                    Effect::FileError(c) => format!("fail with {}", c.as_str()),
                    other => format!("have a {other}"),
                },
                allowed.join(", "),
                match self.method {
                    Method::Read => "; also short reads and stalls",
                    Method::Write => "; also short writes and stalls",
                    Method::FileRead => "; also short reads",
                    Method::FileWrite => "; also short writes",
                    Method::Accept | Method::FinishConnect | Method::Receive => "; also stalls",
                    _ => "",
                }
            ));
        }
        if let Trigger::Probability(p) = self.trigger
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("probability must be within 0..=1, got {p}"));
        }
        if self.trigger == Trigger::Nth(0) {
            return Err("calls are counted from 1".into());
        }
        Ok(())
    }
}

/// How often a guest met an error from a method.
/// What a call returned that a guest had to handle: an error, or an injected short
/// read or write or stall (a key of [`crate::Net::api_results`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiResult {
    Error(ErrorCode),
    FileError(FsError),
    ShortRead,
    ShortWrite,
    Stall,
}

impl ApiResult {
    pub fn name(self) -> &'static str {
        match self {
            ApiResult::Error(code) => code.as_str(),
            ApiResult::FileError(code) => code.as_str(),
            ApiResult::ShortRead => "short read",
            ApiResult::ShortWrite => "short write",
            ApiResult::Stall => "stall",
        }
    }
}

impl From<Effect> for ApiResult {
    fn from(e: Effect) -> Self {
        match e {
            Effect::Error(code) => ApiResult::Error(code),
            Effect::FileError(code) => ApiResult::FileError(code),
            Effect::ShortRead => ApiResult::ShortRead,
            Effect::ShortWrite => ApiResult::ShortWrite,
            Effect::Stall(_) => ApiResult::Stall,
        }
    }
}

/// How often guests met one result of one method: naturally, or injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Met {
    pub natural: u64,
    pub injected: u64,
}

/// The API faults in force and what they did: the calls counted per host and method
/// (for `nth` triggers), the sockets stalled, and every result guests met.
pub(crate) struct Injector {
    faults: Vec<ApiFault>,
    chaos: f64,
    /// Calls per host and method, in the order each pair was first called.
    calls: IndexMap<(HostId, Method), u64>,
    /// Where each host's methods sit in `calls` (by host index, then method), so
    /// counting a call needs no hashing: it happens on every socket call.
    slots: Vec<[Option<u32>; Method::ALL.len()]>,
    rng: SimRng,
    stalls: IndexMap<SocketId, SimTime>,
    pub(crate) met: BTreeMap<(Method, ApiResult), Met>,
}

impl Injector {
    pub fn new(seed: u64) -> Self {
        Injector {
            faults: Vec::new(),
            chaos: 0.0,
            calls: IndexMap::new(),
            slots: Vec::new(),
            rng: crate::rng::derive(seed, "api-faults"),
            stalls: IndexMap::new(),
            met: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, fault: ApiFault) {
        self.faults.push(fault);
    }

    pub fn set_chaos(&mut self, rate: f64) {
        self.chaos = rate;
    }

    /// Count a call and decide whether a fault hits it.
    pub fn decide(&mut self, host: HostId, method: Method) -> Option<Effect> {
        let n = self.count(host, method);
        if self.faults.is_empty() && self.chaos == 0.0 {
            return None;
        }
        for f in &self.faults {
            if f.method != method || f.host.is_some_and(|h| h != host) {
                continue;
            }
            let fires = match f.trigger {
                Trigger::Nth(k) => k == n,
                Trigger::Probability(p) => self.rng.random_bool(p),
            };
            if fires {
                return Some(f.effect);
            }
        }
        if self.chaos > 0.0 && self.rng.random_bool(self.chaos) {
            return Some(self.random_effect(method));
        }
        None
    }

    /// Count a call of `method` on `host`; returns how many there have been.
    fn count(&mut self, host: HostId, method: Method) -> u64 {
        let h = host.index();
        if self.slots.len() <= h {
            self.slots.resize(h + 1, [None; Method::ALL.len()]);
        }
        let slot = &mut self.slots[h][method as usize];
        let index = match *slot {
            Some(i) => i as usize,
            None => {
                let (i, _) = self.calls.insert_full((host, method), 0);
                *slot = u32::try_from(i).ok();
                i
            }
        };
        match self.calls.get_index_mut(index) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => 0,
        }
    }

    fn random_effect(&mut self, method: Method) -> Effect {
        let errors: Vec<Effect> = method
            .injectable_errors()
            .iter()
            .map(|&c| Effect::Error(c))
            .chain(method.file_errors().iter().map(|&c| Effect::FileError(c)))
            .collect();
        let extra = match method {
            Method::Read | Method::FileRead => Some(Effect::ShortRead),
            Method::Write | Method::FileWrite => Some(Effect::ShortWrite),
            _ => None,
        };
        let choices = errors.len() + usize::from(extra.is_some());
        let i = self.rng.random_range(0..choices.max(1));
        match (errors.get(i), extra) {
            (Some(&e), _) => e,
            (None, Some(e)) => e,
            (None, None) => Effect::ShortRead,
        }
    }

    /// How many times each host called each method.
    pub fn calls(&self) -> impl Iterator<Item = (HostId, Method, u64)> + '_ {
        self.calls.iter().map(|(&(h, m), &n)| (h, m, n))
    }

    pub fn record(&mut self, method: Method, result: ApiResult, injected: bool) {
        let m = self.met.entry((method, result)).or_default();
        if injected {
            m.injected += 1;
        } else {
            m.natural += 1;
        }
    }

    pub fn stall(&mut self, socket: SocketId, until: SimTime) {
        self.stalls.insert(socket, until);
    }

    /// When a stall on the socket ends, if one is in force.
    pub fn stalled_until(&self, socket: SocketId, now: SimTime) -> Option<SimTime> {
        self.stalls.get(&socket).copied().filter(|&t| t > now)
    }
}
