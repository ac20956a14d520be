//! The shape of a scenario file, as serde reads it (and writes fault entries back).
//! Checking values and resolving names is the other modules' work.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use simnet_wasi::When;
use toml::Spanned;

use super::{Bandwidth, Bytes, Dur};
use crate::world::{FaultKind, HostApiFault, ScheduledFault};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) seed: Option<u64>,
    /// Stop the run at this virtual time.
    pub(super) until: Option<Dur>,
    /// Real time a run may take: a duration, or "off".
    pub(super) watchdog: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) network: Network,
    /// How guests are scheduled and what they may use by default.
    #[serde(default)]
    pub(super) scheduler: SchedulerEntry,
    #[serde(default, rename = "host")]
    pub(super) hosts: Vec<HostEntry>,
    #[serde(default, rename = "link")]
    pub(super) links: Vec<LinkEntry>,
    #[serde(default, rename = "fault")]
    pub(super) faults: Vec<FaultEntry>,
    #[serde(default, rename = "api_fault")]
    pub(super) api_faults: Vec<ApiFaultEntry>,
    /// Probability of a seeded random API fault on each call that can have one.
    pub(super) chaos: Option<Spanned<f64>>,
    /// The fault space `simnet explore --faults random` draws plans from.
    pub(super) explore: Option<ExploreEntry>,
}

/// `[scheduler]`: what computation costs in virtual time and the guests' default
/// limits (a guest's own limits override the last two).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SchedulerEntry {
    pub(super) slice_fuel: Option<Spanned<u64>>,
    pub(super) slice_time: Option<Dur>,
    pub(super) host_call_time: Option<Dur>,
    pub(super) output_limit: Option<Bytes>,
    pub(super) memory_limit: Option<Bytes>,
    pub(super) busy_limit: Option<Dur>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ExploreEntry {
    pub(super) families: Option<Spanned<Vec<String>>>,
    pub(super) crash_hosts: Option<Spanned<Vec<String>>>,
    pub(super) restart: Option<bool>,
    pub(super) horizon: Option<Dur>,
    pub(super) max_faults: Option<Spanned<u64>>,
    pub(super) swarm: Option<bool>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiFaultEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) host: Option<Spanned<String>>,
    pub(super) method: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) nth: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) probability: Option<Spanned<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) effect: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) duration: Option<Spanned<Dur>>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultEntry {
    /// When it applies; with a trigger, how long after the trigger holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) at: Option<Dur>,
    pub(super) kind: Spanned<String>,
    /// Triggers: after the host's Nth accepted connection, its Nth write, or once one
    /// of its programs prints a line matching the pattern (a regular expression).
    /// `on_host` names the host watched (by default the fault's own host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) after_accepts: Option<Spanned<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) after_writes: Option<Spanned<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) on_output: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) on_host: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) from: Option<Spanned<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) to: Option<Spanned<Vec<String>>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) one_way: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) host: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mode: Option<Spanned<String>>,
    /// For a crash: restart the host this long after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) restart_after: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) between: Option<Spanned<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) latency: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) jitter: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) loss: Option<Spanned<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) duplicate: Option<Spanned<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bandwidth: Option<Bandwidth>,
    /// Disk faults: the operations hit (`read`, `write`, `sync`, `any`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) op: Option<Spanned<String>>,
    /// Disk faults: the guest path they are limited to (`/data/wal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) path: Option<String>,
    /// Disk faults: the chance each operation is hit (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) probability: Option<Spanned<f64>>,
    /// `disk-slow`: what every operation costs more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) extra: Option<Dur>,
    /// Disk faults: heal the disk this long after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lasting: Option<Dur>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Network {
    pub(super) latency: Option<Dur>,
    pub(super) jitter: Option<Dur>,
    pub(super) loss: Option<Spanned<f64>>,
    pub(super) duplicate: Option<Spanned<f64>>,
    pub(super) bandwidth: Option<Bandwidth>,
    pub(super) mss: Option<Spanned<u32>>,
    pub(super) send_buffer: Option<Bytes>,
    pub(super) receive_buffer: Option<Bytes>,
    pub(super) send_buffer_max: Option<Bytes>,
    pub(super) receive_buffer_max: Option<Bytes>,
    pub(super) listen_backlog: Option<u32>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct HostEntry {
    pub(super) name: Spanned<String>,
    pub(super) ip: Spanned<toml::Value>,
    /// The host's own guest, named after the host (optional when `guest` entries
    /// name the host's programs).
    pub(super) component: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) args: Vec<String>,
    #[serde(default)]
    pub(super) env: IndexMap<String, String>,
    pub(super) start: Option<Dur>,
    #[serde(default = "yes")]
    pub(super) tcp: bool,
    #[serde(default = "yes")]
    pub(super) udp: bool,
    #[serde(default = "yes")]
    pub(super) ip_name_lookup: bool,
    pub(super) expect: Option<Spanned<toml::Value>>,
    pub(super) memory_limit: Option<Bytes>,
    pub(super) fuel_limit: Option<u64>,
    pub(super) time_limit: Option<Dur>,
    pub(super) busy_limit: Option<Dur>,
    pub(super) resource_limit: Option<usize>,
    /// The program name the guest sees as its first argument.
    pub(super) argv0: Option<String>,
    /// The initial working directory the guest is told.
    pub(super) cwd: Option<String>,
    /// Text on the guest's standard input.
    pub(super) stdin: Option<String>,
    /// Real host directories the guest may use: `"HOST_DIR::GUEST_PATH"`
    /// (`wasmtime run --dir`).
    #[serde(default)]
    pub(super) dir: Vec<Spanned<String>>,
    pub(super) max_sockets: Option<u32>,
    /// Directories on the host's simulated disk: `"HOST_DIR::GUEST_PATH"` (a copy of
    /// a directory beside the scenario) or `"::GUEST_PATH"` (empty).
    #[serde(default)]
    pub(super) disk: Option<Spanned<Vec<String>>>,
    /// Like `disk`, read-only.
    #[serde(default)]
    pub(super) disk_ro: Option<Spanned<Vec<String>>>,
    pub(super) disk_capacity: Option<Bytes>,
    /// What a sync costs besides its bytes.
    pub(super) disk_sync_latency: Option<Dur>,
    /// Bytes per second the device moves.
    pub(super) disk_bandwidth: Option<Bytes>,
    /// What a crash loses of unsynced data: "all", "nothing", "prefix", "torn"
    /// (default: the seed picks).
    pub(super) crash_loss: Option<Spanned<String>>,
    /// More programs the host runs (`[[host.guest]]`), each named.
    #[serde(default, rename = "guest")]
    pub(super) guests: Vec<GuestEntry>,
}

/// A program a host runs besides (or instead of) its own `component`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct GuestEntry {
    pub(super) name: Spanned<String>,
    component: Spanned<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: IndexMap<String, String>,
    start: Option<Dur>,
    #[serde(default = "yes")]
    tcp: bool,
    #[serde(default = "yes")]
    udp: bool,
    #[serde(default = "yes")]
    ip_name_lookup: bool,
    expect: Option<Spanned<toml::Value>>,
    memory_limit: Option<Bytes>,
    fuel_limit: Option<u64>,
    time_limit: Option<Dur>,
    busy_limit: Option<Dur>,
    resource_limit: Option<usize>,
    argv0: Option<String>,
    cwd: Option<String>,
    stdin: Option<String>,
    #[serde(default)]
    dir: Vec<Spanned<String>>,
}

/// What a host entry and a guest entry both say of a program.
pub(super) struct ProgramFields<'a> {
    pub(super) component: &'a Spanned<String>,
    pub(super) args: &'a [String],
    pub(super) env: &'a IndexMap<String, String>,
    pub(super) start: Option<Dur>,
    pub(super) tcp: bool,
    pub(super) udp: bool,
    pub(super) ip_name_lookup: bool,
    pub(super) expect: &'a Option<Spanned<toml::Value>>,
    pub(super) memory_limit: Option<Bytes>,
    pub(super) fuel_limit: Option<u64>,
    pub(super) time_limit: Option<Dur>,
    pub(super) busy_limit: Option<Dur>,
    pub(super) resource_limit: Option<usize>,
    pub(super) argv0: &'a Option<String>,
    pub(super) cwd: &'a Option<String>,
    pub(super) stdin: &'a Option<String>,
    pub(super) dir: &'a [Spanned<String>],
}

/// The program fields of a `[[host]]` or `[[host.guest]]` entry, which name them
/// alike (serde cannot flatten them into one struct and still refuse unknown
/// fields).
macro_rules! program_fields {
    ($entry:expr, $component:expr) => {
        ProgramFields {
            component: $component,
            args: &$entry.args,
            env: &$entry.env,
            start: $entry.start,
            tcp: $entry.tcp,
            udp: $entry.udp,
            ip_name_lookup: $entry.ip_name_lookup,
            expect: &$entry.expect,
            memory_limit: $entry.memory_limit,
            fuel_limit: $entry.fuel_limit,
            time_limit: $entry.time_limit,
            busy_limit: $entry.busy_limit,
            resource_limit: $entry.resource_limit,
            argv0: &$entry.argv0,
            cwd: &$entry.cwd,
            stdin: &$entry.stdin,
            dir: &$entry.dir,
        }
    };
}

impl HostEntry {
    /// The host's own program, if it names one.
    pub(super) fn program(&self) -> Option<ProgramFields<'_>> {
        Some(program_fields!(self, self.component.as_ref()?))
    }

    /// Whether the entry sets program fields without naming a component.
    pub(super) fn has_program_fields(&self) -> bool {
        !self.args.is_empty()
            || !self.env.is_empty()
            || self.start.is_some()
            || self.expect.is_some()
            || self.memory_limit.is_some()
            || self.fuel_limit.is_some()
            || self.time_limit.is_some()
            || self.busy_limit.is_some()
            || self.resource_limit.is_some()
            || self.argv0.is_some()
            || self.cwd.is_some()
            || self.stdin.is_some()
            || !self.dir.is_empty()
            || !self.tcp
            || !self.udp
            || !self.ip_name_lookup
    }
}

impl GuestEntry {
    pub(super) fn program(&self) -> ProgramFields<'_> {
        program_fields!(self, &self.component)
    }
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkEntry {
    pub(super) between: Spanned<Vec<String>>,
    pub(super) latency: Option<Dur>,
    pub(super) jitter: Option<Dur>,
    pub(super) loss: Option<Spanned<f64>>,
    pub(super) duplicate: Option<Spanned<f64>>,
    pub(super) bandwidth: Option<Bandwidth>,
}

/// A value written back to a file: it has no place in any source text.
fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

impl FaultEntry {
    fn new(kind: &str, at: Duration) -> Self {
        FaultEntry {
            at: Some(Dur(at)),
            kind: unplaced(kind.to_string()),
            after_accepts: None,
            after_writes: None,
            on_output: None,
            on_host: None,
            from: None,
            to: None,
            one_way: false,
            host: None,
            mode: None,
            restart_after: None,
            between: None,
            latency: None,
            jitter: None,
            loss: None,
            duplicate: None,
            bandwidth: None,
            op: None,
            path: None,
            probability: None,
            extra: None,
            lasting: None,
        }
    }

    /// The entry that parses back to `f`. A link change lists only what differs from
    /// a default link, so the file's own `[network]` fills in the rest.
    fn from_fault(f: &ScheduledFault) -> Self {
        let names = |v: &[String]| Some(unplaced(v.to_vec()));
        let mut e = match &f.kind {
            FaultKind::Partition { from, to, one_way } => FaultEntry {
                from: names(from),
                to: names(to),
                one_way: *one_way,
                ..FaultEntry::new("partition", f.at)
            },
            FaultKind::Heal { from, to } => FaultEntry {
                from: names(from),
                to: names(to),
                ..FaultEntry::new("heal", f.at)
            },
            FaultKind::Clog { from, to, one_way } => FaultEntry {
                from: names(std::slice::from_ref(from)),
                to: names(std::slice::from_ref(to)),
                one_way: *one_way,
                ..FaultEntry::new("clog", f.at)
            },
            FaultKind::Release { from, to } => FaultEntry {
                from: names(std::slice::from_ref(from)),
                to: names(std::slice::from_ref(to)),
                ..FaultEntry::new("release", f.at)
            },
            // Every setting written out: an entry's missing ones are the file's
            // network defaults, not the link's.
            FaultKind::Link { a, b, config } => FaultEntry {
                between: names(&[a.clone(), b.clone()]),
                // A scenario writes a fixed latency only.
                latency: match config.latency {
                    simnet_core::Latency::Fixed(d) => Some(Dur(d)),
                    _ => None,
                },
                jitter: Some(Dur(config.jitter)),
                loss: Some(unplaced(config.loss)),
                duplicate: Some(unplaced(config.duplicate)),
                bandwidth: config.bandwidth.map(Bandwidth),
                ..FaultEntry::new("link", f.at)
            },
            FaultKind::Crash { host, mode } => FaultEntry {
                host: Some(unplaced(host.clone())),
                mode: Some(unplaced(mode.name().to_string())),
                ..FaultEntry::new("crash", f.at)
            },
            FaultKind::Restart { host } => FaultEntry {
                host: Some(unplaced(host.clone())),
                ..FaultEntry::new("restart", f.at)
            },
            FaultKind::Reset { between } => FaultEntry {
                between: (!between.is_empty()).then(|| unplaced(between.clone())),
                ..FaultEntry::new("reset", f.at)
            },
            FaultKind::Disk { host, fault } => disk_entry(host, fault, f.at),
            FaultKind::DiskHeal { host } => FaultEntry {
                host: Some(unplaced(host.clone())),
                ..FaultEntry::new("disk-heal", f.at)
            },
        };
        if let Some(t) = &f.trigger {
            match &t.when {
                When::Accepts(n) => e.after_accepts = Some(unplaced(*n)),
                When::Writes(n) => e.after_writes = Some(unplaced(*n)),
                When::Output(pattern) => e.on_output = Some(unplaced(pattern.clone())),
            }
            e.on_host = Some(unplaced(t.host.clone()));
        }
        e
    }
}

impl ApiFaultEntry {
    /// The entry that parses back to `f`.
    fn from_fault(f: &HostApiFault) -> Self {
        use simnet_wasi::{Effect, Trigger};
        let (nth, probability) = match f.fault.trigger {
            Trigger::Nth(n) => (Some(n), None),
            Trigger::Probability(p) => (None, Some(unplaced(p))),
        };
        let (error, effect, duration) = match f.fault.effect {
            Effect::Error(code) => (Some(code.as_str()), None, None),
            Effect::FileError(code) => (Some(code.as_str()), None, None),
            Effect::ShortRead => (None, Some("short-read"), None),
            Effect::ShortWrite => (None, Some("short-write"), None),
            Effect::Stall(d) => (None, Some("stall"), Some(unplaced(Dur(d)))),
        };
        ApiFaultEntry {
            host: f.host.clone().map(unplaced),
            method: unplaced(f.fault.method.name().to_string()),
            nth,
            probability,
            error: error.map(|e| unplaced(e.to_string())),
            effect: effect.map(|e| unplaced(e.to_string())),
            duration,
        }
    }
}

/// `faults` and `api_faults` as the file's `[[fault]]` and `[[api_fault]]` entries
/// (what replay files add to a scenario); parsing them back gives the same faults.
pub fn fault_entries(
    faults: &[ScheduledFault],
    api_faults: &[HostApiFault],
) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Entries {
        #[serde(rename = "fault", skip_serializing_if = "Vec::is_empty")]
        faults: Vec<FaultEntry>,
        #[serde(rename = "api_fault", skip_serializing_if = "Vec::is_empty")]
        api_faults: Vec<ApiFaultEntry>,
    }
    let entries = Entries {
        faults: faults.iter().map(FaultEntry::from_fault).collect(),
        api_faults: api_faults.iter().map(ApiFaultEntry::from_fault).collect(),
    };
    toml::to_string(&entries).map_err(|e| anyhow::anyhow!("cannot write fault entries: {e}"))
}

/// The entry that parses back to a disk fault.
fn disk_entry(host: &str, fault: &simnet_core::DiskFault, at: Duration) -> FaultEntry {
    use simnet_core::DiskFault;
    let mut e = FaultEntry {
        host: Some(unplaced(host.to_string())),
        ..FaultEntry::new(fault.kind_name(), at)
    };
    match fault {
        DiskFault::IoError {
            op,
            path,
            probability,
        } => {
            e.op = Some(unplaced(op.name().to_string()));
            e.path = path.clone();
            e.probability = (*probability != 1.0).then(|| unplaced(*probability));
        }
        DiskFault::Slow { extra } => e.extra = Some(Dur(*extra)),
        DiskFault::CorruptReads { probability }
        | DiskFault::LostWrites { probability }
        | DiskFault::MisdirectedWrites { probability } => {
            e.probability = (*probability != 1.0).then(|| unplaced(*probability));
        }
        DiskFault::Full | DiskFault::LyingSync => {}
    }
    e
}
