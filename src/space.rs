//! The fault space: which faults random plans may draw (families, hosts that may
//! crash, whether crashes restart, calls API faults may hit, how many faults and how
//! early), as a scenario's `[explore]` section and `simnet explore`'s flags set it.

use std::time::Duration;

use simnet_wasi::Method;

/// A family of faults a plan may draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Partition,
    Clog,
    Loss,
    Crash,
    Reset,
    ApiError,
    ShortIo,
    Stall,
    Disk,
}

impl Family {
    pub const ALL: [Family; 9] = [
        Family::Partition,
        Family::Clog,
        Family::Loss,
        Family::Crash,
        Family::Reset,
        Family::ApiError,
        Family::ShortIo,
        Family::Stall,
        Family::Disk,
    ];

    /// The name in `[explore] families` and `--families`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Partition => "partition",
            Family::Clog => "clog",
            Family::Loss => "loss",
            Family::Crash => "crash",
            Family::Reset => "reset",
            Family::ApiError => "api-error",
            Family::ShortIo => "short-io",
            Family::Stall => "stall",
            Family::Disk => "disk",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The API-fault families (the others act on the network).
    pub fn is_api(self) -> bool {
        matches!(self, Family::ApiError | Family::ShortIo | Family::Stall)
    }
}

/// A call the guests of a scenario make: API faults are drawn only among these, so
/// that they hit calls that happen (a plan failing `accept` on a host that never
/// accepts tests nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub host: String,
    pub method: Method,
    /// How many times the host made it in a run without faults.
    pub count: u64,
}

/// The most faults one plan may hold: shrinking runs each plan once per fault
/// removed, and a plan of more faults than this says nothing a smaller one cannot.
pub const MAX_FAULTS_PER_PLAN: usize = 64;

/// The families `names` lists, each once, in the order first named; unknown names
/// and an empty list are refused (an empty list would silently draw no faults).
pub fn parse_families<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Family>, String> {
    let mut families = Vec::new();
    for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        let family = Family::from_name(name).ok_or_else(|| {
            let all: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
            format!("unknown family {name:?}; families: {}", all.join(", "))
        })?;
        if !families.contains(&family) {
            families.push(family);
        }
    }
    if families.is_empty() {
        return Err(format!(
            "the list is empty: name at least one of {}",
            Family::ALL.map(|f| f.name()).join(", ")
        ));
    }
    Ok(families)
}

/// What kinds of faults a plan may hold.
#[derive(Clone, Debug)]
pub struct FaultSpace {
    pub hosts: Vec<String>,
    /// Hosts that may crash (a crash of the host under test usually fails any
    /// property, so properties about one host leave it out).
    pub crash_hosts: Vec<String>,
    /// Hosts whose disks disk faults may hit (those with mounted directories).
    pub disk_hosts: Vec<String>,
    /// Every crash is followed by a restart: a host that stays down fails an
    /// expectation that it keeps running, for a reason that says nothing of the code.
    pub restart_crashes: bool,
    /// The families plans draw from.
    pub families: Vec<Family>,
    /// The calls API faults may hit; `None`: every method on every host.
    pub calls: Option<Vec<Call>>,
    /// Text the guests print, that crashes may wait for (taken from a run without
    /// faults, like `calls`).
    pub outputs: Vec<String>,
    /// Faults start within this much virtual time.
    pub horizon: Duration,
    /// The horizon follows the run: an explorer that watches the world run without
    /// faults first sets it to that run's length (else faults that start after a
    /// short run ended would test nothing). Setting a horizon turns this off.
    pub fit_horizon: bool,
    pub max_faults: usize,
    /// Swarm testing: each seed's plan draws from its own random, non-empty subset of
    /// the families (the others fully off), rather than from all of them at once.
    pub swarm: bool,
}

impl FaultSpace {
    /// Every family over `hosts`, any of which may crash (and restarts), up to three
    /// faults within the first 5 s (or the run's length, see `fit_horizon`), with
    /// swarm testing.
    pub fn for_hosts(hosts: Vec<String>) -> FaultSpace {
        FaultSpace {
            crash_hosts: hosts.clone(),
            disk_hosts: hosts.clone(),
            restart_crashes: true,
            families: Family::ALL.to_vec(),
            calls: None,
            outputs: Vec::new(),
            hosts,
            horizon: Duration::from_secs(5),
            fit_horizon: true,
            max_faults: 3,
            swarm: true,
        }
    }

    /// Let faults start within `horizon`, whatever the run's length.
    pub fn set_horizon(&mut self, horizon: Duration) {
        self.horizon = horizon;
        self.fit_horizon = false;
    }

    /// Let plans draw from the families `names` lists (see [`parse_families`]).
    pub fn set_families<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), String> {
        self.families = parse_families(names)?;
        Ok(())
    }

    /// Let plans crash the hosts `names` lists, each once; names of no host and an
    /// empty list are refused.
    pub fn set_crash_hosts<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), String> {
        let known: std::collections::HashSet<&str> =
            self.hosts.iter().map(String::as_str).collect();
        let mut crash_hosts: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
            if !known.contains(name) {
                return Err(format!("no host named {name:?}"));
            }
            if seen.insert(name) {
                crash_hosts.push(name.to_string());
            }
        }
        if crash_hosts.is_empty() {
            return Err(
                "the list is empty: name at least one host (to draw no crashes, leave the \
                        `crash` family out)"
                    .into(),
            );
        }
        self.crash_hosts = crash_hosts;
        Ok(())
    }

    /// Let plans hold up to `n` faults, at most [`MAX_FAULTS_PER_PLAN`].
    pub fn set_max_faults(&mut self, n: u64) -> Result<(), String> {
        match usize::try_from(n) {
            Ok(n) if n <= MAX_FAULTS_PER_PLAN => {
                self.max_faults = n;
                Ok(())
            }
            _ => Err(format!(
                "at most {MAX_FAULTS_PER_PLAN} faults per plan, got {n}"
            )),
        }
    }

    /// The families a strategy can actually draw from (crashes need crash hosts, API
    /// faults calls, network faults two hosts).
    pub(crate) fn drawable(&self) -> Vec<Family> {
        let calls = |pred: &dyn Fn(Method) -> bool| match &self.calls {
            None => !self.hosts.is_empty(),
            Some(c) => c.iter().any(|c| pred(c.method)),
        };
        self.families
            .iter()
            .copied()
            .filter(|f| match f {
                Family::Partition | Family::Clog | Family::Loss | Family::Reset => {
                    self.hosts.len() >= 2
                }
                Family::Crash => !self.crash_hosts.is_empty(),
                Family::Disk => !self.disk_hosts.is_empty(),
                Family::ApiError => calls(&|m| !m.network_errors().is_empty()),
                Family::ShortIo => calls(&|m| matches!(m, Method::Read | Method::Write)),
                Family::Stall => calls(&|m| m == Method::Read),
            })
            .collect()
    }
}
