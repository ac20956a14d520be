//! Scenario files: TOML describing the network, the hosts and their guests, and the
//! expected outcomes (`docs/scenario.md` documents every field). Parsing rejects
//! unknown fields and bad values with the file, line and field.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use simnet_core::{LinkConfig, NetConfig, TraceMode};
use simnet_wasi::{Capabilities, GuestSpec, Limits, Outcome, Program, Runtime, Sim, SimConfig};
use toml::Spanned;

use crate::space::FaultSpace;
use crate::units::{Bandwidth, Bytes, Dur};
pub use simnet_wasi::When;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct File {
    seed: Option<u64>,
    /// Stop the run at this virtual time.
    until: Option<Dur>,
    #[serde(default)]
    network: Network,
    #[serde(default, rename = "host")]
    hosts: Vec<HostEntry>,
    #[serde(default, rename = "link")]
    links: Vec<LinkEntry>,
    #[serde(default, rename = "fault")]
    faults: Vec<FaultEntry>,
    #[serde(default, rename = "api_fault")]
    api_faults: Vec<ApiFaultEntry>,
    /// Probability of a seeded random API fault on each call that can have one.
    chaos: Option<Spanned<f64>>,
    /// The fault space `simnet explore --faults random` draws plans from.
    explore: Option<ExploreEntry>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct ExploreEntry {
    families: Option<Spanned<Vec<String>>>,
    crash_hosts: Option<Spanned<Vec<String>>>,
    restart: Option<bool>,
    horizon: Option<Dur>,
    max_faults: Option<Spanned<u64>>,
    swarm: Option<bool>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
struct ApiFaultEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Spanned<String>>,
    method: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nth: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probability: Option<Spanned<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effect: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<Spanned<Dur>>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
struct FaultEntry {
    /// When it applies; with a trigger, how long after the trigger holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<Dur>,
    kind: Spanned<String>,
    /// Triggers: after the host's Nth accepted connection, its Nth write, or once one
    /// of its programs prints a line matching the pattern (a regular expression).
    /// `on_host` names the host watched (by default the fault's own host).
    #[serde(skip_serializing_if = "Option::is_none")]
    after_accepts: Option<Spanned<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after_writes: Option<Spanned<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_output: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_host: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<Spanned<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<Spanned<Vec<String>>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    one_way: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<Spanned<String>>,
    /// For a crash: restart the host this long after.
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_after: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    between: Option<Spanned<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jitter: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loss: Option<Spanned<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<Spanned<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bandwidth: Option<Bandwidth>,
    /// Disk faults: the operations hit (`read`, `write`, `sync`, `any`).
    #[serde(skip_serializing_if = "Option::is_none")]
    op: Option<Spanned<String>>,
    /// Disk faults: the guest path they are limited to (`/data/wal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// Disk faults: the chance each operation is hit (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    probability: Option<Spanned<f64>>,
    /// `disk-slow`: what every operation costs more.
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<Dur>,
    /// Disk faults: heal the disk this long after.
    #[serde(skip_serializing_if = "Option::is_none")]
    lasting: Option<Dur>,
}

/// The `[[fault]] kind`s of disk faults.
const DISK_KINDS: &str =
    "disk-error, disk-full, disk-slow, lying-sync, corrupt-reads, lost-writes, misdirected-writes";

/// A disk fault from its entry: `op`, `path`, `probability`, `extra` as the kind
/// takes them.
fn disk_fault(ctx: &Ctx, f: &FaultEntry, kind: &str) -> Result<simnet_core::DiskFault> {
    use simnet_core::{DiskFault, DiskOp};
    let probability = check_probability(ctx, "probability", &f.probability, 1.0)?;
    let fault = match kind {
        "disk-error" => {
            let op = match &f.op {
                None => DiskOp::Any,
                Some(op) => DiskOp::from_name(op.get_ref()).ok_or_else(|| {
                    ctx.err(
                        op.span(),
                        "op",
                        format!(
                            "expected \"read\", \"write\", \"sync\" or \"any\", got {:?}",
                            op.get_ref()
                        ),
                    )
                })?,
            };
            DiskFault::IoError {
                op,
                path: f.path.clone(),
                probability,
            }
        }
        "disk-full" => DiskFault::Full,
        "disk-slow" => DiskFault::Slow {
            extra: f
                .extra
                .ok_or_else(|| {
                    ctx.err(
                        f.kind.span(),
                        "extra",
                        "disk-slow needs `extra`, the added latency",
                    )
                })?
                .0,
        },
        "lying-sync" => DiskFault::LyingSync,
        "corrupt-reads" => DiskFault::CorruptReads { probability },
        "lost-writes" => DiskFault::LostWrites { probability },
        _ => DiskFault::MisdirectedWrites { probability },
    };
    Ok(fault)
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
    fn from_plan(f: &FaultPlan) -> Self {
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
            FaultKind::Link { a, b, config } => {
                let plain = LinkConfig::default();
                FaultEntry {
                    between: names(&[a.clone(), b.clone()]),
                    // A scenario writes a fixed latency only.
                    latency: match config.latency {
                        simnet_core::Latency::Fixed(d) if config.latency != plain.latency => {
                            Some(Dur(d))
                        }
                        _ => None,
                    },
                    jitter: (config.jitter != plain.jitter).then_some(Dur(config.jitter)),
                    loss: (config.loss != plain.loss).then_some(unplaced(config.loss)),
                    duplicate: (config.duplicate != plain.duplicate)
                        .then_some(unplaced(config.duplicate)),
                    bandwidth: config.bandwidth.map(Bandwidth),
                    ..FaultEntry::new("link", f.at)
                }
            }
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
    fn from_plan(f: &ApiFaultPlan) -> Self {
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
pub fn fault_entries(faults: &[FaultPlan], api_faults: &[ApiFaultPlan]) -> Result<String> {
    #[derive(Serialize)]
    struct Entries {
        #[serde(rename = "fault", skip_serializing_if = "Vec::is_empty")]
        faults: Vec<FaultEntry>,
        #[serde(rename = "api_fault", skip_serializing_if = "Vec::is_empty")]
        api_faults: Vec<ApiFaultEntry>,
    }
    let entries = Entries {
        faults: faults.iter().map(FaultEntry::from_plan).collect(),
        api_faults: api_faults.iter().map(ApiFaultEntry::from_plan).collect(),
    };
    toml::to_string(&entries).context("cannot write fault entries")
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Network {
    latency: Option<Dur>,
    jitter: Option<Dur>,
    loss: Option<Spanned<f64>>,
    duplicate: Option<Spanned<f64>>,
    bandwidth: Option<Bandwidth>,
    mss: Option<Spanned<u32>>,
    send_buffer: Option<Bytes>,
    receive_buffer: Option<Bytes>,
    send_buffer_max: Option<Bytes>,
    receive_buffer_max: Option<Bytes>,
    listen_backlog: Option<u32>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct HostEntry {
    name: Spanned<String>,
    ip: Spanned<toml::Value>,
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
    max_sockets: Option<u32>,
    /// Directories on the host's simulated disk: `"HOST_DIR::GUEST_PATH"` (a copy of
    /// a directory beside the scenario) or `"::GUEST_PATH"` (empty).
    #[serde(default)]
    disk: Option<Spanned<Vec<String>>>,
    /// Like `disk`, read-only.
    #[serde(default)]
    disk_ro: Option<Spanned<Vec<String>>>,
    disk_capacity: Option<Bytes>,
    /// What a sync costs besides its bytes.
    disk_sync_latency: Option<Dur>,
    /// Bytes per second the device moves.
    disk_bandwidth: Option<Bytes>,
    /// What a crash loses of unsynced data: "all", "nothing", "prefix", "torn"
    /// (default: the seed picks).
    crash_loss: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct LinkEntry {
    between: Spanned<Vec<String>>,
    latency: Option<Dur>,
    jitter: Option<Dur>,
    loss: Option<Spanned<f64>>,
    duplicate: Option<Spanned<f64>>,
    bandwidth: Option<Bandwidth>,
}

/// What a host's guest must do for the run to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exit with this code.
    Exit(i32),
    /// Still be running when the run ends (a server).
    Running,
}

impl Expect {
    pub fn met_by(&self, outcome: &Outcome) -> bool {
        match self {
            Expect::Exit(code) => outcome == &Outcome::Exited(*code),
            Expect::Running => matches!(outcome, Outcome::Running { .. }),
        }
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Exit(code) => write!(f, "exit {code}"),
            Expect::Running => f.write_str("running"),
        }
    }
}

/// Where a host's component comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// One of simnet's own guests, embedded in the binary (`builtin:echo-server`).
    Builtin(&'static str),
}

#[derive(Clone, Debug)]
pub struct HostPlan {
    pub name: String,
    pub ips: Vec<IpAddr>,
    pub source: Source,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub start: Duration,
    pub caps: Capabilities,
    pub expect: Expect,
    pub limits: Limits,
    pub max_sockets: Option<u32>,
    /// Directories on the host's disk (host directories not yet read).
    pub disks: Vec<DiskPlan>,
    /// The host's disk, when its settings differ from the default.
    pub disk_config: Option<simnet_core::disk::DiskConfig>,
}

/// A directory to mount on a host's disk: a host directory (`None`: empty) and
/// where guests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskPlan {
    pub host_dir: Option<PathBuf>,
    pub guest: String,
    pub read_only: bool,
}

/// An API fault, with its host still named.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiFaultPlan {
    pub host: Option<String>,
    pub fault: simnet_wasi::ApiFault,
}

/// A fault at a virtual time, with hosts still named.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// When it applies; with a trigger, how long after the trigger first holds.
    pub at: Duration,
    pub kind: FaultKind,
    /// What makes it fire besides the clock: a condition on a host.
    pub trigger: Option<FaultTrigger>,
}

/// A condition on a host that fires a fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultTrigger {
    pub host: String,
    pub when: When,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    Partition {
        from: Vec<String>,
        to: Vec<String>,
        one_way: bool,
    },
    Heal {
        from: Vec<String>,
        to: Vec<String>,
    },
    Clog {
        from: String,
        to: String,
        one_way: bool,
    },
    Release {
        from: String,
        to: String,
    },
    Link {
        a: String,
        b: String,
        config: LinkConfig,
    },
    Crash {
        host: String,
        mode: simnet_core::CrashMode,
    },
    Restart {
        host: String,
    },
    Reset {
        between: Vec<String>,
    },
    Disk {
        host: String,
        fault: simnet_core::DiskFault,
    },
    DiskHeal {
        host: String,
    },
}

#[derive(Clone, Debug)]
pub struct LinkPlan {
    pub a: String,
    pub b: String,
    pub config: LinkConfig,
}

/// A parsed, checked scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub path: PathBuf,
    pub seed: u64,
    pub until: Option<Duration>,
    pub net: NetConfig,
    pub hosts: Vec<HostPlan>,
    pub links: Vec<LinkPlan>,
    pub faults: Vec<FaultPlan>,
    pub api_faults: Vec<ApiFaultPlan>,
    pub chaos: f64,
    /// Real time a run may take (set from the command line; `None`: no watchdog).
    pub watchdog: Option<Duration>,
    /// What random fault plans may hold (`[explore]`).
    pub explore: FaultSpace,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The key assigned on `line` (1-based), to name the field in a value error that
/// does not name it already.
fn field_on_line<'a>(text: &'a str, line: usize, message: &str) -> Option<&'a str> {
    if message.contains("field `") {
        return None;
    }
    let (key, _) = text.lines().nth(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then_some(key)
}

/// The host names a scenario defines, for checking the names its entries use in
/// constant time (a world may have a hundred thousand hosts). Names are unique
/// ignoring case, as name lookups ignore it.
#[derive(Default)]
struct KnownHosts {
    exact: HashSet<String>,
    folded: HashSet<String>,
}

impl KnownHosts {
    /// Add `name`; false if a host has it already (in any case).
    fn add(&mut self, name: &str) -> bool {
        let fresh = self.folded.insert(name.to_ascii_lowercase());
        if fresh {
            self.exact.insert(name.to_string());
        }
        fresh
    }

    fn has(&self, name: &str) -> bool {
        self.exact.contains(name)
    }
}

struct Ctx<'a> {
    name: String,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, field: &str, msg: impl std::fmt::Display) -> anyhow::Error {
        let (line, col) = line_col(self.text, span.start);
        anyhow!("{}:{line}:{col}: {field}: {msg}", self.name)
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parse scenario text; `path` names it in errors and anchors relative component
    /// paths.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario> {
        let ctx = Ctx {
            name: path.display().to_string(),
            text,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            match field_on_line(text, line, e.message()) {
                Some(field) => anyhow!("{}:{line}:{col}: {field}: {}", ctx.name, e.message()),
                None => anyhow!("{}:{line}:{col}: {}", ctx.name, e.message()),
            }
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let net = network_config(&ctx, &file.network)?;
        if file.hosts.is_empty() {
            bail!("{}: no [[host]]: a scenario needs at least one", ctx.name);
        }
        let mut hosts: Vec<HostPlan> = Vec::new();
        let mut known = KnownHosts::default();
        let mut owners: HashMap<IpAddr, usize> = HashMap::new();
        for h in &file.hosts {
            let plan = host_plan(&ctx, dir, h)?;
            if !known.add(&plan.name) {
                return Err(ctx.err(
                    h.name.span(),
                    "name",
                    format!("host {:?} is defined twice", plan.name),
                ));
            }
            for ip in &plan.ips {
                if let Some(&owner) = owners.get(ip) {
                    return Err(ctx.err(
                        h.ip.span(),
                        "ip",
                        format!("{ip} already belongs to host {:?}", hosts[owner].name),
                    ));
                }
            }
            owners.extend(plan.ips.iter().map(|&ip| (ip, hosts.len())));
            hosts.push(plan);
        }
        let links = file
            .links
            .iter()
            .map(|l| link_plan(&ctx, &known, &net.default_link, l))
            .collect::<Result<_>>()?;
        let mut faults = Vec::new();
        for f in &file.faults {
            faults.extend(fault_plan(&ctx, &known, &net.default_link, f)?);
        }
        check_restarts(&ctx, &file.faults, &faults)?;
        let api_faults = file
            .api_faults
            .iter()
            .map(|f| api_fault_plan(&ctx, &known, f))
            .collect::<Result<_>>()?;
        let chaos = check_probability(&ctx, "chaos", &file.chaos, 0.0)?;
        let explore = explore_space(&ctx, &hosts, file.explore.as_ref())?;
        Ok(Scenario {
            explore,
            path: path.to_path_buf(),
            api_faults,
            chaos,
            seed: file.seed.unwrap_or(0),
            until: file.until.map(|d| d.0),
            net,
            hosts,
            links,
            faults,
            watchdog: SimConfig::new(0).watchdog,
        })
    }
}

/// A link's settings: `base` with what an entry (`[network]`, `[[link]]` or a link
/// fault) sets of latency, jitter, loss, duplication and bandwidth.
fn link_config(
    ctx: &Ctx,
    base: &LinkConfig,
    latency: Option<Dur>,
    jitter: Option<Dur>,
    loss: &Option<Spanned<f64>>,
    duplicate: &Option<Spanned<f64>>,
    bandwidth: Option<Bandwidth>,
) -> Result<LinkConfig> {
    let mut config = *base;
    if let Some(d) = latency {
        config.latency = LinkConfig::with_latency(d.0).latency;
    }
    if let Some(d) = jitter {
        config.jitter = d.0;
    }
    config.loss = check_probability(ctx, "loss", loss, base.loss)?;
    config.duplicate = check_probability(ctx, "duplicate", duplicate, base.duplicate)?;
    if let Some(b) = bandwidth {
        config.bandwidth = Some(b.0);
    }
    Ok(config)
}

fn check_probability(
    ctx: &Ctx,
    field: &str,
    p: &Option<Spanned<f64>>,
    default: f64,
) -> Result<f64> {
    match p {
        None => Ok(default),
        Some(v) if (0.0..=1.0).contains(v.get_ref()) => Ok(*v.get_ref()),
        Some(v) => Err(ctx.err(
            v.span(),
            field,
            format!("must be between 0 and 1, got {}", v.get_ref()),
        )),
    }
}

fn network_config(ctx: &Ctx, n: &Network) -> Result<NetConfig> {
    let default_link = link_config(
        ctx,
        &LinkConfig::default(),
        n.latency,
        n.jitter,
        &n.loss,
        &n.duplicate,
        n.bandwidth,
    )?;
    let mut net = NetConfig {
        default_link,
        ..NetConfig::default()
    };
    if let Some(mss) = &n.mss {
        if !(64..=65_000).contains(mss.get_ref()) {
            return Err(ctx.err(
                mss.span(),
                "mss",
                format!("must be between 64 and 65000, got {}", mss.get_ref()),
            ));
        }
        net.tcp.mss = *mss.get_ref();
    }
    if let Some(b) = n.send_buffer {
        net.tcp.send_buffer = b.0.clamp(
            *net.tcp.send_buffer_range.start(),
            *net.tcp.send_buffer_range.end(),
        );
    }
    if let Some(b) = n.receive_buffer {
        net.tcp.receive_buffer = b.0.clamp(
            *net.tcp.receive_buffer_range.start(),
            *net.tcp.receive_buffer_range.end(),
        );
    }
    // Autotuning never goes below the default, and past 1 GiB is no real kernel's.
    const TUNED_MAX: u64 = 1 << 30;
    if let Some(b) = n.send_buffer_max {
        net.tcp.send_buffer_max = b.0.clamp(net.tcp.send_buffer, TUNED_MAX);
    }
    if let Some(b) = n.receive_buffer_max {
        net.tcp.receive_buffer_max = b.0.clamp(net.tcp.receive_buffer, TUNED_MAX);
    }
    if let Some(b) = n.listen_backlog {
        net.tcp.listen_backlog = b;
    }
    net.trace = TraceMode::Full;
    Ok(net)
}

fn parse_expect(ctx: &Ctx, v: &Option<Spanned<toml::Value>>) -> Result<Expect> {
    let Some(v) = v else {
        return Ok(Expect::Exit(0));
    };
    match v.get_ref() {
        toml::Value::Integer(code) => u8::try_from(*code)
            .map(|c| Expect::Exit(i32::from(c)))
            .map_err(|_| {
                ctx.err(
                    v.span(),
                    "expect",
                    format!("exit code {code} is out of range: exit codes are 0 to 255"),
                )
            }),
        toml::Value::String(s) if s == "running" => Ok(Expect::Running),
        other => Err(ctx.err(
            v.span(),
            "expect",
            format!("expected an exit code (like 0) or \"running\", got {other}"),
        )),
    }
}

fn resolve_source(ctx: &Ctx, dir: &Path, c: &Spanned<String>) -> Result<Source> {
    let s = c.get_ref();
    if let Some(name) = s.strip_prefix("builtin:") {
        let guest = simnet_guests::get(name).ok_or_else(|| {
            let names: Vec<&str> = simnet_guests::ALL.iter().map(|g| g.name).collect();
            ctx.err(
                c.span(),
                "component",
                format!(
                    "no built-in guest {name:?}; built-ins: {}",
                    names.join(", ")
                ),
            )
        })?;
        return Ok(Source::Builtin(guest.name));
    }
    let path = dir.join(s);
    if path.is_dir() {
        return Err(ctx.err(
            c.span(),
            "component",
            format!(
                "{} is a directory, not a component (.wasm) file",
                path.display()
            ),
        ));
    }
    if !path.is_file() {
        return Err(ctx.err(
            c.span(),
            "component",
            format!("{} does not exist", path.display()),
        ));
    }
    Ok(Source::File(path))
}

fn host_plan(ctx: &Ctx, dir: &Path, h: &HostEntry) -> Result<HostPlan> {
    let name = h.name.get_ref().clone();
    if let Some(problem) = simnet_core::host_name_problem(&name) {
        return Err(ctx.err(h.name.span(), "name", problem));
    }
    let bad = |what: &dyn std::fmt::Display| ctx.err(h.ip.span(), "ip", what);
    let raw: Vec<&str> = match h.ip.get_ref() {
        toml::Value::String(s) => vec![s.as_str()],
        toml::Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| bad(&"expected a string or an array of strings"))
            })
            .collect::<Result<_>>()?,
        _ => {
            return Err(bad(
                &"expected an address like \"10.0.0.1\" or an array of them",
            ));
        }
    };
    let mut ips = Vec::new();
    for ip in raw {
        let parsed: IpAddr = ip
            .parse()
            .map_err(|_| bad(&format!("{ip:?} is not an IP address")))?;
        if !simnet_core::is_valid_host_address(parsed) {
            return Err(bad(&simnet_core::NetError::InvalidHostAddress(parsed)));
        }
        ips.push(parsed);
    }
    Ok(HostPlan {
        name,
        ips,
        source: resolve_source(ctx, dir, &h.component)?,
        args: h.args.clone(),
        env: h.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        start: h.start.map_or(Duration::ZERO, |d| d.0),
        caps: Capabilities {
            tcp: h.tcp,
            udp: h.udp,
            ip_name_lookup: h.ip_name_lookup,
        },
        expect: parse_expect(ctx, &h.expect)?,
        limits: Limits {
            memory: h.memory_limit.map(|b| b.0 as usize),
            fuel: h.fuel_limit,
            virtual_time: h.time_limit.map(|d| d.0),
            busy: h.busy_limit.map(|d| d.0),
        },
        max_sockets: h.max_sockets,
        disks: disk_plans(ctx, dir, h)?,
        disk_config: disk_config(ctx, h)?,
    })
}

/// `disk` and `disk_ro` entries, host directories relative to the scenario.
fn disk_plans(ctx: &Ctx, dir: &Path, h: &HostEntry) -> Result<Vec<DiskPlan>> {
    let mut plans = Vec::new();
    for (field, list, read_only) in [("disk", &h.disk, false), ("disk_ro", &h.disk_ro, true)] {
        let Some(list) = list else { continue };
        for item in list.get_ref() {
            let bad = |why: String| ctx.err(list.span(), field, why);
            let Some((host, guest)) = item.split_once("::") else {
                return Err(bad(format!(
                    "{item:?}: expected \"HOST_DIR::GUEST_PATH\" or \"::GUEST_PATH\""
                )));
            };
            if guest.is_empty() {
                return Err(bad(format!(
                    "{item:?}: name the directory guests see after `::`"
                )));
            }
            let host_dir = match host {
                "" => None,
                host => {
                    let path = dir.join(host);
                    if !path.is_dir() {
                        return Err(bad(format!(
                            "{} is not a directory{}",
                            path.display(),
                            if path.exists() {
                                ""
                            } else {
                                " (it does not exist)"
                            }
                        )));
                    }
                    Some(path)
                }
            };
            if plans.iter().any(|p: &DiskPlan| p.guest == guest) {
                return Err(bad(format!("{guest:?} is mounted twice")));
            }
            plans.push(DiskPlan {
                host_dir,
                guest: guest.to_string(),
                read_only,
            });
        }
    }
    Ok(plans)
}

/// The host's disk settings, if any differ from the default.
fn disk_config(ctx: &Ctx, h: &HostEntry) -> Result<Option<simnet_core::disk::DiskConfig>> {
    let set = h.disk_capacity.is_some()
        || h.disk_sync_latency.is_some()
        || h.disk_bandwidth.is_some()
        || h.crash_loss.is_some();
    if !set {
        return Ok(None);
    }
    let mut config = simnet_core::disk::DiskConfig::default();
    if let Some(b) = h.disk_capacity {
        config.capacity = b.0;
    }
    if let Some(d) = h.disk_sync_latency {
        config.sync_latency = d.0;
    }
    if let Some(b) = h.disk_bandwidth {
        if b.0 == 0 {
            return Err(ctx.err(h.name.span(), "disk_bandwidth", "must be above zero"));
        }
        config.device_bandwidth = b.0;
    }
    if let Some(loss) = &h.crash_loss {
        let name = loss.get_ref();
        config.crash_loss = Some(simnet_core::disk::CrashLoss::from_name(name).ok_or_else(
            || {
                ctx.err(
                    loss.span(),
                    "crash_loss",
                    format!("expected \"all\", \"nothing\", \"prefix\" or \"torn\", got {name:?}"),
                )
            },
        )?);
    }
    Ok(Some(config))
}

fn link_plan(
    ctx: &Ctx,
    hosts: &KnownHosts,
    default: &LinkConfig,
    l: &LinkEntry,
) -> Result<LinkPlan> {
    let pair = l.between.get_ref();
    if pair.len() != 2 {
        return Err(ctx.err(l.between.span(), "between", "name exactly two hosts"));
    }
    for name in pair {
        if !hosts.has(name) {
            return Err(ctx.err(
                l.between.span(),
                "between",
                format!("no host named {name:?}"),
            ));
        }
    }
    if pair[0] == pair[1] {
        return Err(ctx.err(
            l.between.span(),
            "between",
            format!(
                "a link joins two different hosts, not {:?} to itself",
                pair[0]
            ),
        ));
    }
    let config = link_config(
        ctx,
        default,
        l.latency,
        l.jitter,
        &l.loss,
        &l.duplicate,
        l.bandwidth,
    )?;
    Ok(LinkPlan {
        a: pair[0].clone(),
        b: pair[1].clone(),
        config,
    })
}

fn host_names(
    ctx: &Ctx,
    hosts: &KnownHosts,
    field: &str,
    names: &Option<Spanned<Vec<String>>>,
) -> Result<Vec<String>> {
    let Some(names) = names else {
        return Err(anyhow!(
            "{}: fault: `{field}` is required for this kind",
            ctx.name
        ));
    };
    for n in names.get_ref() {
        if !hosts.has(n) {
            return Err(ctx.err(names.span(), field, format!("no host named {n:?}")));
        }
    }
    Ok(names.get_ref().clone())
}

fn one_host(
    ctx: &Ctx,
    hosts: &KnownHosts,
    field: &str,
    names: &Option<Spanned<Vec<String>>>,
) -> Result<String> {
    let list = host_names(ctx, hosts, field, names)?;
    match list.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(ctx.err(
            names.as_ref().map_or(0..0, |n| n.span()),
            field,
            "name exactly one host",
        )),
    }
}

/// The `[explore]` section over the scenario's defaults.
fn explore_space(ctx: &Ctx, hosts: &[HostPlan], e: Option<&ExploreEntry>) -> Result<FaultSpace> {
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let mut space = FaultSpace::for_hosts(names);
    // Disk faults only where there is something on the disk.
    space.disk_hosts = hosts
        .iter()
        .filter(|h| !h.disks.is_empty())
        .map(|h| h.name.clone())
        .collect();
    let Some(e) = e else {
        return Ok(space);
    };
    if let Some(families) = &e.families {
        space
            .set_families(families.get_ref().iter().map(String::as_str))
            .map_err(|why| ctx.err(families.span(), "families", why))?;
    }
    if let Some(crash) = &e.crash_hosts {
        space
            .set_crash_hosts(crash.get_ref().iter().map(String::as_str))
            .map_err(|why| ctx.err(crash.span(), "crash_hosts", why))?;
    }
    if let Some(r) = e.restart {
        space.restart_crashes = r;
    }
    if let Some(h) = e.horizon {
        space.horizon = h.0;
    }
    if let Some(m) = &e.max_faults {
        space
            .set_max_faults(*m.get_ref())
            .map_err(|why| ctx.err(m.span(), "max_faults", why))?;
    }
    if let Some(sw) = e.swarm {
        space.swarm = sw;
    }
    Ok(space)
}

/// Every restart must follow a crash of the same host (a host that is up cannot
/// restart).
fn check_restarts(ctx: &Ctx, entries: &[FaultEntry], faults: &[FaultPlan]) -> Result<()> {
    // Triggered faults happen at no known time: a triggered restart needs only some
    // crash of its host.
    for f in faults.iter().filter(|f| f.trigger.is_some()) {
        if let FaultKind::Restart { host } = &f.kind
            && !faults
                .iter()
                .any(|c| matches!(&c.kind, FaultKind::Crash { host: h, .. } if h == host))
        {
            return Err(anyhow!(
                "{}: fault: restart of host {host:?}, which never crashes",
                ctx.name
            ));
        }
    }
    let mut timeline: Vec<&FaultPlan> = faults.iter().filter(|f| f.trigger.is_none()).collect();
    timeline.sort_by_key(|f| f.at);
    let mut down: Vec<&str> = Vec::new();
    for f in timeline {
        match &f.kind {
            FaultKind::Crash { host, .. } => down.push(host),
            FaultKind::Restart { host } => {
                let Some(i) = down.iter().position(|h| h == host) else {
                    let span = entries
                        .iter()
                        .find(|e| {
                            e.kind.get_ref() == "restart"
                                && e.host.as_ref().is_some_and(|h| h.get_ref() == host)
                        })
                        .map_or(0..0, |e| e.kind.span());
                    return Err(ctx.err(
                        span,
                        "kind",
                        format!("restart of host {host:?}, which has not crashed before it"),
                    ));
                };
                down.remove(i);
            }
            _ => {}
        }
    }
    Ok(())
}

fn fault_plan(
    ctx: &Ctx,
    hosts: &KnownHosts,
    default: &LinkConfig,
    f: &FaultEntry,
) -> Result<Vec<FaultPlan>> {
    let trigger = fault_trigger(ctx, hosts, f)?;
    let at = match (f.at, &trigger) {
        (Some(at), _) => at.0,
        (None, Some(_)) => Duration::ZERO,
        (None, None) => {
            return Err(ctx.err(
                f.kind.span(),
                "at",
                "a fault needs `at`, or a trigger (after_accepts, after_writes, on_output)",
            ));
        }
    };
    let host = || -> Result<String> {
        let h = f
            .host
            .as_ref()
            .ok_or_else(|| ctx.err(f.kind.span(), "host", "this kind needs `host`"))?;
        if !hosts.has(h.get_ref()) {
            return Err(ctx.err(h.span(), "host", format!("no host named {:?}", h.get_ref())));
        }
        Ok(h.get_ref().clone())
    };
    let kind = match f.kind.get_ref().as_str() {
        "partition" => FaultKind::Partition {
            from: host_names(ctx, hosts, "from", &f.from)?,
            to: host_names(ctx, hosts, "to", &f.to)?,
            one_way: f.one_way,
        },
        "heal" => FaultKind::Heal {
            from: host_names(ctx, hosts, "from", &f.from)?,
            to: host_names(ctx, hosts, "to", &f.to)?,
        },
        "clog" => FaultKind::Clog {
            from: one_host(ctx, hosts, "from", &f.from)?,
            to: one_host(ctx, hosts, "to", &f.to)?,
            one_way: f.one_way,
        },
        "release" => FaultKind::Release {
            from: one_host(ctx, hosts, "from", &f.from)?,
            to: one_host(ctx, hosts, "to", &f.to)?,
        },
        "link" => {
            let pair = host_names(ctx, hosts, "between", &f.between)?;
            let [a, b] = pair.as_slice() else {
                return Err(ctx.err(
                    f.between.as_ref().map_or(0..0, |b| b.span()),
                    "between",
                    "name exactly two hosts",
                ));
            };
            let config = link_config(
                ctx,
                default,
                f.latency,
                f.jitter,
                &f.loss,
                &f.duplicate,
                f.bandwidth,
            )?;
            FaultKind::Link {
                a: a.clone(),
                b: b.clone(),
                config,
            }
        }
        "crash" => {
            let mode = match f.mode.as_ref().map(|m| m.get_ref().as_str()) {
                None | Some("reset") => simnet_core::CrashMode::Reset,
                Some("silent") => simnet_core::CrashMode::Silent,
                Some(other) => {
                    let span = f.mode.as_ref().map_or(0..0, |m| m.span());
                    return Err(ctx.err(
                        span,
                        "mode",
                        format!("expected \"reset\" or \"silent\", got {other:?}"),
                    ));
                }
            };
            let name = host()?;
            let trigger = trigger.map(|mut t| {
                if t.host.is_empty() {
                    t.host = name.clone();
                }
                t
            });
            let mut out = vec![FaultPlan {
                at,
                kind: FaultKind::Crash {
                    host: name.clone(),
                    mode,
                },
                trigger: trigger.clone(),
            }];
            if let Some(after) = f.restart_after {
                out.push(FaultPlan {
                    at: at + after.0,
                    kind: FaultKind::Restart { host: name },
                    trigger,
                });
            }
            return Ok(out);
        }
        "restart" => FaultKind::Restart { host: host()? },
        "disk-heal" => FaultKind::DiskHeal { host: host()? },
        disk if DISK_KINDS.split(", ").any(|k| k == disk) => {
            let host = host()?;
            let fault = disk_fault(ctx, f, disk)?;
            // A trigger watches the fault's own host unless it names another.
            let trigger = trigger.map(|mut t| {
                if t.host.is_empty() {
                    t.host = host.clone();
                }
                t
            });
            let mut out = vec![FaultPlan {
                at,
                kind: FaultKind::Disk {
                    host: host.clone(),
                    fault,
                },
                trigger: trigger.clone(),
            }];
            if let Some(lasting) = f.lasting {
                out.push(FaultPlan {
                    at: at + lasting.0,
                    kind: FaultKind::DiskHeal { host },
                    trigger,
                });
            }
            return Ok(out);
        }
        "reset" => FaultKind::Reset {
            between: match &f.between {
                Some(_) => host_names(ctx, hosts, "between", &f.between)?,
                None => Vec::new(),
            },
        },
        other => {
            return Err(ctx.err(
                f.kind.span(),
                "kind",
                format!("unknown fault {other:?}; kinds: partition, heal, clog, release, link, crash, restart, reset, {DISK_KINDS}, disk-heal"),
            ));
        }
    };
    let sides = match &kind {
        FaultKind::Partition { from, to, .. } | FaultKind::Heal { from, to } => {
            Some((from.clone(), to.clone()))
        }
        FaultKind::Clog { from, to, .. } | FaultKind::Release { from, to } => {
            Some((vec![from.clone()], vec![to.clone()]))
        }
        _ => None,
    };
    if let Some((from, to)) = sides
        && let Some(both) = from.iter().find(|h| to.contains(h))
    {
        return Err(ctx.err(
            f.to.as_ref().map_or(f.kind.span(), |t| t.span()),
            "to",
            format!("host {both:?} is on both sides: a host is never cut off from itself"),
        ));
    }
    let trigger = match trigger {
        Some(t) if t.host.is_empty() => {
            let own = match &kind {
                FaultKind::Restart { host } => Some(host.clone()),
                _ => None,
            };
            let Some(host) = own else {
                return Err(ctx.err(
                    f.kind.span(),
                    "on_host",
                    "name the host whose events trigger this fault",
                ));
            };
            Some(FaultTrigger { host, ..t })
        }
        other => other,
    };
    Ok(vec![FaultPlan { at, kind, trigger }])
}

/// The fault's trigger, if it has one (its host is left empty when `on_host` does not
/// name one: the fault's own host then).
fn fault_trigger(ctx: &Ctx, hosts: &KnownHosts, f: &FaultEntry) -> Result<Option<FaultTrigger>> {
    let mut whens = Vec::new();
    if let Some(n) = &f.after_accepts {
        whens.push((n.span(), "after_accepts", When::Accepts(*n.get_ref())));
    }
    if let Some(n) = &f.after_writes {
        whens.push((n.span(), "after_writes", When::Writes(*n.get_ref())));
    }
    if let Some(text) = &f.on_output {
        whens.push((
            text.span(),
            "on_output",
            When::Output(text.get_ref().clone()),
        ));
    }
    for (span, field, when) in &whens {
        when.check().map_err(|e| ctx.err(span.clone(), field, e))?;
    }
    let when = match whens.len() {
        0 => {
            if let Some(h) = &f.on_host {
                return Err(ctx.err(h.span(), "on_host", "on_host needs a trigger"));
            }
            return Ok(None);
        }
        1 => whens.remove(0).2,
        _ => {
            return Err(ctx.err(
                whens[1].0.clone(),
                "trigger",
                "give one trigger: after_accepts, after_writes or on_output",
            ));
        }
    };
    let host = match &f.on_host {
        Some(h) => {
            if !hosts.has(h.get_ref()) {
                return Err(ctx.err(
                    h.span(),
                    "on_host",
                    format!("no host named {:?}", h.get_ref()),
                ));
            }
            h.get_ref().clone()
        }
        None => f
            .host
            .as_ref()
            .map(|h| h.get_ref().clone())
            .unwrap_or_default(),
    };
    Ok(Some(FaultTrigger { host, when }))
}

fn api_fault_plan(ctx: &Ctx, hosts: &KnownHosts, f: &ApiFaultEntry) -> Result<ApiFaultPlan> {
    use simnet_wasi::{ApiFault, Effect, Method, Trigger};
    if let Some(h) = &f.host
        && !hosts.has(h.get_ref())
    {
        return Err(ctx.err(h.span(), "host", format!("no host named {:?}", h.get_ref())));
    }
    let method = Method::from_name(f.method.get_ref()).ok_or_else(|| {
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        ctx.err(
            f.method.span(),
            "method",
            format!(
                "unknown method {:?}; methods: {}",
                f.method.get_ref(),
                names.join(", ")
            ),
        )
    })?;
    let trigger = match (f.nth, &f.probability) {
        (Some(n), None) => Trigger::Nth(n),
        (None, Some(p)) => Trigger::Probability(*p.get_ref()),
        _ => {
            return Err(ctx.err(
                f.method.span(),
                "nth",
                "give exactly one of `nth` and `probability`",
            ));
        }
    };
    let stall = f.effect.as_ref().is_some_and(|e| e.get_ref() == "stall");
    if let Some(d) = &f.duration
        && !stall
    {
        return Err(ctx.err(
            d.span(),
            "duration",
            "only a stall (`effect = \"stall\"`) lasts a duration",
        ));
    }
    let effect = match (&f.error, &f.effect) {
        (Some(e), None) if method.is_file() => {
            let code = simnet_core::disk::FsError::from_name(e.get_ref()).ok_or_else(|| {
                ctx.err(
                    e.span(),
                    "error",
                    format!("unknown filesystem error code {:?}", e.get_ref()),
                )
            })?;
            Effect::FileError(code)
        }
        (Some(e), None) => {
            let code = simnet_core::ErrorCode::ALL
                .into_iter()
                .find(|c| c.as_str() == e.get_ref())
                .ok_or_else(|| {
                    ctx.err(
                        e.span(),
                        "error",
                        format!("unknown error code {:?}", e.get_ref()),
                    )
                })?;
            Effect::Error(code)
        }
        (None, Some(e)) => match e.get_ref().as_str() {
            "short-read" => Effect::ShortRead,
            "short-write" => Effect::ShortWrite,
            "stall" => Effect::Stall(
                f.duration
                    .as_ref()
                    .ok_or_else(|| ctx.err(e.span(), "duration", "a stall needs `duration`"))?
                    .get_ref()
                    .0,
            ),
            other => {
                return Err(ctx.err(
                    e.span(),
                    "effect",
                    format!("expected \"short-read\", \"short-write\" or \"stall\", got {other:?}"),
                ));
            }
        },
        _ => {
            return Err(ctx.err(
                f.method.span(),
                "error",
                "give exactly one of `error` and `effect`",
            ));
        }
    };
    let fault = ApiFault {
        host: None,
        method,
        trigger,
        effect,
    };
    fault
        .check()
        .map_err(|e| ctx.err(f.method.span(), "api_fault", e))?;
    Ok(ApiFaultPlan {
        host: f.host.as_ref().map(|h| h.get_ref().clone()),
        fault,
    })
}

/// A host's disk directories as mounts, each host directory read into an image
/// once (every seed mounts the same pages).
fn disk_mounts(h: &HostPlan) -> Result<Vec<simnet_wasi::DiskMount>> {
    h.disks
        .iter()
        .map(|d| {
            let source = match &d.host_dir {
                None => simnet_wasi::DiskSource::Empty,
                Some(dir) => simnet_wasi::load_image(dir)
                    .map_err(|e| anyhow!("disk {}: {e}", d.guest))?
                    .into(),
            };
            Ok(simnet_wasi::DiskMount {
                guest: d.guest.clone(),
                source,
                read_only: d.read_only,
            })
        })
        .collect()
}

/// The network fault for a plan entry, with host names resolved.
pub fn to_fault(net: &simnet_core::Net, kind: &FaultKind) -> simnet_core::Fault {
    use simnet_core::Fault;
    let id = |n: &String| net.host(n).expect("host names are checked when parsed");
    let ids = |v: &Vec<String>| v.iter().map(id).collect::<Vec<_>>();
    match kind {
        FaultKind::Partition { from, to, one_way } => Fault::Partition {
            from: ids(from),
            to: ids(to),
            one_way: *one_way,
        },
        FaultKind::Heal { from, to } => Fault::Heal {
            from: ids(from),
            to: ids(to),
        },
        FaultKind::Clog { from, to, one_way } => Fault::Clog {
            from: id(from),
            to: id(to),
            one_way: *one_way,
        },
        FaultKind::Release { from, to } => Fault::Release {
            from: id(from),
            to: id(to),
        },
        FaultKind::Link { a, b, config } => Fault::SetLink {
            a: id(a),
            b: id(b),
            config: *config,
        },
        FaultKind::Crash { host, mode } => Fault::Crash {
            host: id(host),
            mode: *mode,
        },
        FaultKind::Restart { host } => Fault::Restart { host: id(host) },
        FaultKind::Disk { host, fault } => Fault::Disk {
            host: id(host),
            fault: fault.clone(),
        },
        FaultKind::DiskHeal { host } => Fault::DiskHeal { host: id(host) },
        FaultKind::Reset { between } => Fault::ResetRandomConnection {
            between: ids(between),
        },
    }
}

impl Scenario {
    /// The first host whose guest did not meet its expectation in `report`, as a
    /// sentence ("client: expected exit 0, got: …").
    pub fn first_unmet(&self, report: &simnet_wasi::Report) -> Option<String> {
        report.guests.iter().zip(&self.hosts).find_map(|(g, h)| {
            (!h.expect.met_by(&g.outcome))
                .then(|| format!("{}: expected {}, got: {}", g.name, h.expect, g.outcome))
        })
    }

    /// A scenario with nothing in it (to render fault entries with).
    pub(crate) fn empty() -> Scenario {
        Scenario {
            path: PathBuf::new(),
            seed: 0,
            until: None,
            net: NetConfig::default(),
            hosts: Vec::new(),
            links: Vec::new(),
            faults: Vec::new(),
            api_faults: Vec::new(),
            chaos: 0.0,
            watchdog: None,
            explore: FaultSpace::for_hosts(Vec::new()),
        }
    }
}

/// A scenario with its components loaded, ready to run under any seed.
pub struct Prepared {
    pub scenario: Scenario,
    programs: Vec<Program>,
    /// Per host, its disk directories as mounts of images read once.
    disks: Vec<Vec<simnet_wasi::DiskMount>>,
}

impl Prepared {
    pub fn new(rt: &Runtime, scenario: Scenario) -> Result<Prepared> {
        let programs = scenario
            .hosts
            .iter()
            .map(|h| {
                match &h.source {
                    Source::File(path) => rt.load(path),
                    Source::Builtin(name) => {
                        let g = simnet_guests::get(name).expect("resolved when parsed");
                        rt.load_bytes(g.name, g.bytes)
                    }
                }
                .map_err(|e| anyhow!("host {:?}: {e}", h.name))
            })
            .collect::<Result<_>>()?;
        let disks = scenario
            .hosts
            .iter()
            .map(|h| disk_mounts(h).map_err(|e| anyhow!("host {:?}: {e}", h.name)))
            .collect::<Result<_>>()?;
        Ok(Prepared {
            scenario,
            programs,
            disks,
        })
    }

    /// Build the simulation for `seed`, stopping at `until` if given (else the
    /// scenario's own `until`, else simnet's default limit).
    pub fn build(
        &self,
        rt: &Runtime,
        seed: u64,
        until: Option<Duration>,
        trace: TraceMode,
    ) -> Result<Sim> {
        self.build_scenario(rt, &self.scenario, seed, until, trace)
    }

    /// Build a variant of the scenario (same hosts and programs, other faults).
    pub fn build_scenario(
        &self,
        rt: &Runtime,
        sc: &Scenario,
        seed: u64,
        until: Option<Duration>,
        trace: TraceMode,
    ) -> Result<Sim> {
        let mut config = SimConfig::new(seed);
        config.net = sc.net.clone();
        config.net.trace = trace;
        if let Some(u) = until.or(sc.until) {
            config.time_limit = Some(u);
        }
        config.watchdog = sc.watchdog;
        let mut sim = Sim::new(rt, config);
        for ((h, program), disks) in sc.hosts.iter().zip(&self.programs).zip(&self.disks) {
            let id = sim
                .add_host(&h.name, &h.ips)
                .map_err(|e| anyhow!("host {:?}: {e}", h.name))?;
            if let Some(n) = h.max_sockets {
                sim.with_net(|net| net.set_socket_limit(id, n));
            }
            if let Some(mut config) = h.disk_config {
                config.epoch = sim.config().epoch;
                sim.with_net(|net| net.disk_mut(id).set_config(config));
            }
            let mut spec = GuestSpec::new(h.name.clone(), id, program.clone())
                .args(h.args.iter().cloned())
                .start_at(h.start)
                .capabilities(h.caps)
                .limits(h.limits.clone());
            spec.env = h.env.clone();
            spec.disks = disks.clone();
            if h.expect == Expect::Running {
                spec = spec.daemon();
            }
            sim.spawn(spec);
        }
        for f in &sc.api_faults {
            let mut fault = f.fault.clone();
            fault.host = f
                .host
                .as_ref()
                .map(|h| sim.with_net(|net| net.host(h).expect("checked when parsed")));
            sim.inject(fault).map_err(|e| anyhow!("api_fault: {e}"))?;
        }
        if sc.chaos > 0.0 {
            sim.set_chaos(sc.chaos).map_err(|e| anyhow!("{e}"))?;
        }
        for f in &sc.faults {
            let fault = sim.with_net(|net| to_fault(net, &f.kind));
            match &f.trigger {
                None => sim.schedule_fault(f.at, fault),
                Some(t) => {
                    let host = sim.with_net(|net| net.host(&t.host).expect("checked when parsed"));
                    sim.schedule_fault_when(host, t.when.clone(), f.at, fault)
                }
            }
            .map_err(|e| anyhow!("fault at {:?}: {e}", f.at))?;
        }
        for l in &sc.links {
            sim.with_net(|net| {
                let a = net.host(&l.a).expect("checked when parsed");
                let b = net.host(&l.b).expect("checked when parsed");
                net.set_link(a, b, l.config)
            })
            .map_err(|e| anyhow!("link {} <-> {}: {e}", l.a, l.b))?;
        }
        Ok(sim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Family;

    const HOSTS: &str = r#"
[network]
latency = "5ms"
[[host]]
name = "a"
ip = "10.0.0.1"
component = "builtin:probe"
[[host]]
name = "b"
ip = "10.0.0.2"
component = "builtin:probe"
"#;

    const FAULTS: &str = r#"
[[fault]]
at = "1s"
kind = "partition"
from = ["a"]
to = ["b"]
one_way = true
[[fault]]
at = "2s"
kind = "heal"
from = ["a"]
to = ["b"]
[[fault]]
at = "1ms"
kind = "clog"
from = ["b"]
to = ["a"]
[[fault]]
at = "1s 500ms"
kind = "release"
from = ["b"]
to = ["a"]
[[fault]]
at = "3s"
kind = "link"
between = ["a", "b"]
jitter = "2ms"
loss = 0.25
bandwidth = "10Mbps"
[[fault]]
kind = "crash"
host = "a"
mode = "silent"
on_output = "ready [0-9]+"
restart_after = "1s"
[[fault]]
at = "4s"
kind = "crash"
host = "b"
after_accepts = 2
[[fault]]
at = "5s"
kind = "partition"
from = ["a"]
to = ["b"]
after_writes = 3
on_host = "b"
[[fault]]
at = "6s"
kind = "reset"
between = ["a"]
[[fault]]
at = "7s"
kind = "reset"
[[api_fault]]
host = "a"
method = "read"
nth = 2
effect = "stall"
duration = "250ms"
[[api_fault]]
method = "finish-connect"
probability = 0.5
error = "connection-refused"
[[api_fault]]
host = "b"
method = "write"
nth = 1
effect = "short-write"
"#;

    #[test]
    fn every_fault_written_back_parses_to_the_same_fault() {
        let path = std::path::Path::new("faults.toml");
        let original = Scenario::parse(path, &format!("{HOSTS}{FAULTS}")).unwrap();
        assert_eq!(original.faults.len(), 11);
        let text = fault_entries(&original.faults, &original.api_faults).unwrap();
        let again = Scenario::parse(path, &format!("{HOSTS}{text}"))
            .unwrap_or_else(|e| panic!("{e:#}\n{text}"));
        assert_eq!(again.faults, original.faults, "{text}");
        assert_eq!(again.api_faults, original.api_faults, "{text}");
    }

    #[test]
    fn buffer_maxima_set_autotuning_within_bounds() {
        let path = std::path::Path::new("buffers.toml");
        let with = |network: &str| {
            let text = HOSTS.replace("latency = \"5ms\"", network);
            Scenario::parse(path, &text).unwrap().net.tcp
        };
        let tcp = with("send_buffer_max = \"8MiB\"\nreceive_buffer_max = \"65536\"");
        assert_eq!(tcp.send_buffer_max, 8 << 20);
        assert_eq!(tcp.receive_buffer_max, 65_536);
        // Below the default means no tuning; beyond 1 GiB is capped.
        let tcp = with("send_buffer_max = \"1KiB\"\nreceive_buffer_max = \"100GiB\"");
        assert_eq!(tcp.send_buffer_max, tcp.send_buffer);
        assert_eq!(tcp.receive_buffer_max, 1 << 30);
        let defaults = with("");
        assert_eq!(defaults.send_buffer_max, 2 << 20);
        assert_eq!(defaults.receive_buffer_max, 3 << 20);
    }

    #[test]
    fn the_explore_section_sets_the_fault_space() {
        let path = std::path::Path::new("explore.toml");
        let text = format!(
            "{HOSTS}[explore]\nfamilies = [\"crash\", \"stall\"]\ncrash_hosts = [\"b\"]\n\
             restart = false\nhorizon = \"2s\"\nmax_faults = 2\nswarm = false\n"
        );
        let space = Scenario::parse(path, &text).unwrap().explore;
        assert_eq!(space.families, [Family::Crash, Family::Stall]);
        assert_eq!(space.crash_hosts, ["b"]);
        assert!(!space.restart_crashes);
        assert_eq!(space.horizon, Duration::from_secs(2));
        assert_eq!(space.max_faults, 2);
        assert!(!space.swarm);
        let defaults = Scenario::parse(path, HOSTS).unwrap().explore;
        assert_eq!(defaults.families, Family::ALL);
        assert!(defaults.restart_crashes && defaults.swarm);
        for (field, error) in [
            (
                "families = [\"meteor\"]",
                "explore.toml:13:12: families: unknown family \"meteor\"",
            ),
            (
                "crash_hosts = [\"c\"]",
                "explore.toml:13:15: crash_hosts: no host named \"c\"",
            ),
            (
                "max_faults = 1000",
                "explore.toml:13:14: max_faults: at most 64 faults per plan",
            ),
        ] {
            let e = Scenario::parse(path, &format!("{HOSTS}[explore]\n{field}\n")).unwrap_err();
            assert!(format!("{e:#}").starts_with(error), "{e:#}");
        }
    }
}
