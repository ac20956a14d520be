//! What a guest is before it runs: its program, arguments, environment, start
//! time, capabilities, limits and directories.

use std::time::Duration;

use simnet_core::HostId;

use crate::host::Capabilities;
use crate::program::Program;

/// Per-guest limits; `None` takes the simulation's default (`SimConfig`), if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of linear memory (per memory).
    pub memory: Option<usize>,
    /// Total fuel.
    pub fuel: Option<u64>,
    /// Virtual time from the guest's start.
    pub virtual_time: Option<Duration>,
    /// Virtual time computing without waiting.
    pub busy: Option<Duration>,
    /// Resources (handles: sockets, streams, pollables, tasks) the guest may hold at
    /// once, as wasmtime's `-S max-resources`; creating one more fails as on
    /// wasmtime (`resource table has no free keys`).
    pub resources: Option<usize>,
}

/// A host directory a guest sees (wasmtime's `--dir HOST::GUEST`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    pub host: std::path::PathBuf,
    /// The path the guest opens it by.
    pub guest: String,
}

/// One guest to run: a program on a host, with its arguments and environment.
#[derive(Clone, Debug)]
pub struct GuestSpec {
    pub name: String,
    pub host: HostId,
    pub program: Program,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Virtual time at which it starts.
    pub start: Duration,
    pub capabilities: Capabilities,
    /// A guest not expected to exit (a server): the simulation does not wait for it,
    /// and it is reported `Running`, not deadlocked, when it blocks forever.
    pub daemon: bool,
    pub limits: Limits,
    /// Host directories the guest may use (read and write), none by default: the
    /// real directories, as `wasmtime run --dir` grants them.
    pub dirs: Vec<Preopen>,
    /// Directories on its host's simulated disk (mounted when a guest of the host
    /// first starts; they live as long as the host).
    pub disks: Vec<crate::DiskMount>,
    pub stdin: crate::Stdin,
    /// The program name the guest sees as its first argument (by default, the
    /// component's file name).
    pub argv0: Option<String>,
    /// The initial working directory `wasi:cli/environment` reports (none by
    /// default, as in wasmtime).
    pub cwd: Option<String>,
}

impl GuestSpec {
    pub fn new(name: impl Into<String>, host: HostId, program: Program) -> Self {
        GuestSpec {
            name: name.into(),
            host,
            program,
            args: Vec::new(),
            env: Vec::new(),
            start: Duration::ZERO,
            capabilities: Capabilities::default(),
            daemon: false,
            limits: Limits::default(),
            dirs: Vec::new(),
            disks: Vec::new(),
            stdin: crate::Stdin::Empty,
            argv0: None,
            cwd: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn start_at(mut self, start: Duration) -> Self {
        self.start = start;
        self
    }

    pub fn daemon(mut self) -> Self {
        self.daemon = true;
        self
    }

    pub fn capabilities(mut self, caps: Capabilities) -> Self {
        self.capabilities = caps;
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Let the guest use the host directory `host` as `guest`.
    pub fn dir(mut self, host: impl Into<std::path::PathBuf>, guest: impl Into<String>) -> Self {
        self.dirs.push(Preopen {
            host: host.into(),
            guest: guest.into(),
        });
        self
    }

    /// Mount `source` (a host directory, an image, or [`crate::DiskSource::Empty`])
    /// on the host's simulated disk, where the guest sees it as `guest` (`/data`).
    /// Every seed starts from the same contents; the host directory is never
    /// written.
    pub fn disk(mut self, guest: impl Into<String>, source: impl Into<crate::DiskSource>) -> Self {
        self.disks.push(crate::DiskMount {
            guest: guest.into(),
            source: source.into(),
            read_only: false,
        });
        self
    }

    /// Like [`GuestSpec::disk`], read-only: guests can change nothing beneath it.
    pub fn disk_read_only(
        mut self,
        guest: impl Into<String>,
        source: impl Into<crate::DiskSource>,
    ) -> Self {
        self.disks.push(crate::DiskMount {
            guest: guest.into(),
            source: source.into(),
            read_only: true,
        });
        self
    }

    pub fn stdin(mut self, stdin: crate::Stdin) -> Self {
        self.stdin = stdin;
        self
    }
}
