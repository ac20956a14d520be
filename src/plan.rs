//! Fault plans for property-based testing: a proptest strategy of faults over a
//! world's hosts, named, whose shrinking removes faults and weakens them (shorter
//! outages, earlier calls, lower loss). A plan becomes a world's faults with
//! [`crate::World::with_plan`], and scenario entries with
//! [`crate::World::plan_entries`].

use std::fmt;
use std::time::Duration;

use proptest::prelude::*;
use simnet_core::{CrashMode, DiskFault, DiskOp, ErrorCode};
use simnet_wasi::{Method, When};

pub use crate::space::{Call, Family, FaultSpace};

/// One fault of a plan; a unit for shrinking (a partition and its heal go together).
#[derive(Clone, Debug, PartialEq)]
pub enum PlanFault {
    Partition {
        a: String,
        b: String,
        at: Duration,
        lasting: Duration,
    },
    Clog {
        a: String,
        b: String,
        at: Duration,
        lasting: Duration,
    },
    Loss {
        a: String,
        b: String,
        at: Duration,
        loss: f64,
    },
    Crash {
        host: String,
        /// When it crashes; with `on`, how long after the host's event.
        at: Duration,
        mode: CrashMode,
        restart_after: Option<Duration>,
        /// An event on the host that brings the crash (instead of the clock alone).
        on: Option<When>,
    },
    Reset {
        at: Duration,
    },
    ApiError {
        host: String,
        method: Method,
        nth: u64,
        error: ErrorCode,
    },
    ShortReads {
        host: String,
    },
    ShortWrites {
        host: String,
    },
    Stall {
        host: String,
        nth: u64,
        lasting: Duration,
    },
    /// A fault laid over a host's disk, healed after `lasting`.
    Disk {
        host: String,
        fault: DiskFault,
        at: Duration,
        lasting: Duration,
    },
}

impl PlanFault {
    /// The same fault with each pair of hosts in name order: a fault between `a` and
    /// `b` is the fault between `b` and `a` (for grouping failures).
    pub fn normalized(&self) -> PlanFault {
        let ordered = |a: &String, b: &String| match a <= b {
            true => (a.clone(), b.clone()),
            false => (b.clone(), a.clone()),
        };
        match self {
            PlanFault::Partition { a, b, at, lasting } => {
                let (a, b) = ordered(a, b);
                PlanFault::Partition {
                    a,
                    b,
                    at: *at,
                    lasting: *lasting,
                }
            }
            PlanFault::Clog { a, b, at, lasting } => {
                let (a, b) = ordered(a, b);
                PlanFault::Clog {
                    a,
                    b,
                    at: *at,
                    lasting: *lasting,
                }
            }
            PlanFault::Loss { a, b, at, loss } => {
                let (a, b) = ordered(a, b);
                PlanFault::Loss {
                    a,
                    b,
                    at: *at,
                    loss: *loss,
                }
            }
            other => other.clone(),
        }
    }

    /// The family the fault belongs to, by name.
    pub fn family_name(&self) -> &'static str {
        let family = match self {
            PlanFault::Partition { .. } => Family::Partition,
            PlanFault::Clog { .. } => Family::Clog,
            PlanFault::Loss { .. } => Family::Loss,
            PlanFault::Crash { .. } => Family::Crash,
            PlanFault::Reset { .. } => Family::Reset,
            PlanFault::ApiError { .. } => Family::ApiError,
            PlanFault::ShortReads { .. } | PlanFault::ShortWrites { .. } => Family::ShortIo,
            PlanFault::Stall { .. } => Family::Stall,
            PlanFault::Disk { .. } => Family::Disk,
        };
        family.name()
    }
}

/// A trigger in words.
fn when_text(when: &When) -> String {
    match when {
        When::Accepts(n) => format!("its accepted connection {n}"),
        When::Writes(n) => format!("its write {n}"),
        When::Output(pattern) => format!("it prints a line matching {pattern:?}"),
    }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl fmt::Display for PlanFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanFault::Partition { a, b, at, lasting } => {
                write!(
                    f,
                    "partition {a} <-> {b} at {} for {}",
                    ms(*at),
                    ms(*lasting)
                )
            }
            PlanFault::Clog { a, b, at, lasting } => {
                write!(f, "clog {a} <-> {b} at {} for {}", ms(*at), ms(*lasting))
            }
            PlanFault::Loss { a, b, at, loss } => {
                write!(f, "loss {loss:.2} on {a} <-> {b} from {}", ms(*at))
            }
            PlanFault::Crash {
                host,
                at,
                mode,
                restart_after,
                on,
            } => {
                match on {
                    None => write!(f, "crash {host} ({mode:?}) at {}", ms(*at))?,
                    Some(when) => write!(
                        f,
                        "crash {host} ({mode:?}) {} after {}",
                        ms(*at),
                        when_text(when)
                    )?,
                }
                if let Some(r) = restart_after {
                    write!(f, ", restart after {}", ms(*r))?;
                }
                Ok(())
            }
            PlanFault::Reset { at } => write!(f, "reset a connection at {}", ms(*at)),
            PlanFault::ApiError {
                host,
                method,
                nth,
                error,
            } => {
                write!(
                    f,
                    "{host}: {method} call {nth} fails with {}",
                    error.as_str()
                )
            }
            PlanFault::ShortReads { host } => write!(f, "{host}: every read is short"),
            PlanFault::ShortWrites { host } => write!(f, "{host}: every check-write grants 1 byte"),
            PlanFault::Stall { host, nth, lasting } => {
                write!(f, "{host}: read {nth} stalls for {}", ms(*lasting))
            }
            PlanFault::Disk {
                host,
                fault,
                at,
                lasting,
            } => write!(
                f,
                "{host}: {} at {} for {}",
                fault.describe(),
                ms(*at),
                ms(*lasting)
            ),
        }
    }
}

fn duration_up_to(max: Duration) -> impl Strategy<Value = Duration> {
    (0..=max.as_millis() as u64).prop_map(Duration::from_millis)
}

fn pair(hosts: &[String]) -> SBoxedStrategy<(String, String)> {
    let n = hosts.len();
    let hosts = hosts.to_vec();
    (0..n, 1..n.max(2))
        .prop_map(move |(i, d)| (hosts[i].clone(), hosts[(i + d) % n].clone()))
        .sboxed()
}

fn lasting() -> SBoxedStrategy<Duration> {
    (1..=30_000u64).prop_map(Duration::from_millis).sboxed()
}

/// The calls of `space` that `method` allows (all hosts when calls are unknown).
fn calls_of(space: &FaultSpace, pred: impl Fn(Method) -> bool) -> Vec<Call> {
    match &space.calls {
        Some(calls) => calls.iter().filter(|c| pred(c.method)).cloned().collect(),
        None => space
            .hosts
            .iter()
            .flat_map(|h| {
                Method::ALL
                    .into_iter()
                    .filter(|m| pred(*m))
                    .map(|method| Call {
                        host: h.clone(),
                        method,
                        count: 5,
                    })
            })
            .collect(),
    }
}

/// One fault of `family`.
fn family_fault(space: &FaultSpace, family: Family) -> SBoxedStrategy<PlanFault> {
    let hosts = space.hosts.clone();
    let h = space.horizon;
    match family {
        Family::Partition => (pair(&hosts), duration_up_to(h), lasting())
            .prop_map(|((a, b), at, lasting)| PlanFault::Partition { a, b, at, lasting })
            .sboxed(),
        Family::Clog => (pair(&hosts), duration_up_to(h), lasting())
            .prop_map(|((a, b), at, lasting)| PlanFault::Clog { a, b, at, lasting })
            .sboxed(),
        Family::Loss => (pair(&hosts), duration_up_to(h), 1..=50u32)
            .prop_map(|((a, b), at, pct)| PlanFault::Loss {
                a,
                b,
                at,
                loss: f64::from(pct) / 100.0,
            })
            .sboxed(),
        Family::Crash => {
            let host = proptest::sample::select(space.crash_hosts.clone());
            let restart = if space.restart_crashes {
                lasting().prop_map(Some).sboxed()
            } else {
                proptest::option::of(lasting()).sboxed()
            };
            let outputs = space.outputs.clone();
            let on = proptest::option::of(prop_oneof![
                (1..=3u64).prop_map(When::Accepts),
                (1..=5u64).prop_map(When::Writes),
                any::<proptest::sample::Index>().prop_map(move |i| match outputs.is_empty() {
                    true => When::Writes(1),
                    false => When::line_containing(i.get(&outputs).as_str()),
                }),
            ]);
            (host, duration_up_to(h), any::<bool>(), restart, on)
                // Shrinks toward a silent crash at a time: nothing on the wire, the
                // subtler fault, and the simpler trigger.
                .prop_map(|(host, at, reset, restart_after, on)| PlanFault::Crash {
                    // A triggered crash follows its event closely.
                    at: if on.is_some() {
                        Duration::from_millis(at.as_millis() as u64 / 10)
                    } else {
                        at
                    },
                    host,
                    mode: if reset {
                        CrashMode::Reset
                    } else {
                        CrashMode::Silent
                    },
                    restart_after,
                    on,
                })
                .sboxed()
        }
        Family::Reset => duration_up_to(h)
            .prop_map(|at| PlanFault::Reset { at })
            .sboxed(),
        Family::ApiError => {
            let calls = calls_of(space, |m| !m.network_errors().is_empty());
            (
                proptest::sample::select(calls),
                any::<proptest::sample::Index>(),
                any::<proptest::sample::Index>(),
            )
                .prop_map(|(call, e, n)| PlanFault::ApiError {
                    nth: 1 + n.index(call.count.clamp(1, 5) as usize) as u64,
                    error: *e.get(call.method.network_errors()),
                    method: call.method,
                    host: call.host,
                })
                .sboxed()
        }
        Family::ShortIo => {
            let calls = calls_of(space, |m| matches!(m, Method::Read | Method::Write));
            proptest::sample::select(calls)
                .prop_map(|call| match call.method {
                    Method::Read => PlanFault::ShortReads { host: call.host },
                    _ => PlanFault::ShortWrites { host: call.host },
                })
                .sboxed()
        }
        Family::Disk => {
            let host = proptest::sample::select(space.disk_hosts.clone());
            (host, disk_fault(), duration_up_to(h), lasting())
                .prop_map(|(host, fault, at, lasting)| PlanFault::Disk {
                    host,
                    fault,
                    at,
                    lasting,
                })
                .sboxed()
        }
        Family::Stall => {
            let calls = calls_of(space, |m| m == Method::Read);
            (
                proptest::sample::select(calls),
                any::<proptest::sample::Index>(),
                (1..=5_000u64).prop_map(Duration::from_millis),
            )
                .prop_map(|(call, n, lasting)| PlanFault::Stall {
                    nth: 1 + n.index(call.count.clamp(1, 5) as usize) as u64,
                    host: call.host,
                    lasting,
                })
                .sboxed()
        }
    }
}

/// A disk fault: shrinks toward errors a program sees at once on every operation,
/// then toward the subtler ones.
fn disk_fault() -> SBoxedStrategy<DiskFault> {
    let p = (1..=100u32).prop_map(|pct| f64::from(pct) / 100.0);
    prop_oneof![
        (proptest::sample::select(DiskOp::ALL.to_vec()), p.clone()).prop_map(
            |(op, probability)| DiskFault::IoError {
                op,
                path: None,
                probability,
            }
        ),
        Just(DiskFault::Full),
        (1..=500u64).prop_map(|ms| DiskFault::Slow {
            extra: Duration::from_millis(ms)
        }),
        Just(DiskFault::LyingSync),
        p.clone()
            .prop_map(|probability| DiskFault::CorruptReads { probability }),
        p.clone()
            .prop_map(|probability| DiskFault::LostWrites { probability }),
        p.prop_map(|probability| DiskFault::MisdirectedWrites { probability }),
    ]
    .sboxed()
}

/// Up to `max_faults` faults, each from one of `families`, without repeats.
fn faults_from(space: &FaultSpace, families: &[Family]) -> SBoxedStrategy<Vec<PlanFault>> {
    if families.is_empty() {
        return Just(Vec::new()).sboxed();
    }
    let kinds: Vec<SBoxedStrategy<PlanFault>> =
        families.iter().map(|&f| family_fault(space, f)).collect();
    proptest::collection::vec(proptest::strategy::Union::new(kinds), 0..=space.max_faults)
        .prop_map(without_repeats)
        .sboxed()
}

/// The same fault twice does nothing the first did not: keep one.
fn without_repeats(plan: Vec<PlanFault>) -> Vec<PlanFault> {
    let mut out: Vec<PlanFault> = Vec::with_capacity(plan.len());
    for f in plan {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// Plans of up to `max_faults` faults from the space; with swarm testing, from a
/// random subset of its families that the seed chooses first.
pub fn plan_strategy(space: &FaultSpace) -> SBoxedStrategy<Vec<PlanFault>> {
    let families = space.drawable();
    if !space.swarm || families.len() <= 1 {
        return faults_from(space, &families);
    }
    let space = space.clone();
    let n = families.len();
    proptest::sample::subsequence(families, 1..=n)
        .prop_flat_map(move |subset| faults_from(&space, &subset))
        .sboxed()
}

/// Link configurations for property tests: latency up to 200 ms, jitter up to 50 ms,
/// loss up to 30%, unlimited bandwidth or 1 to 1000 Mbps. Shrinks toward a perfect
/// link (no delay, no loss, no bandwidth limit).
pub fn link_config_strategy() -> SBoxedStrategy<simnet_core::LinkConfig> {
    (
        0..=200_000u64,
        0..=50_000u64,
        0..=30u32,
        proptest::option::of(1..=1000u64),
    )
        .prop_map(
            |(latency_us, jitter_us, loss_pct, mbps)| simnet_core::LinkConfig {
                jitter: Duration::from_micros(jitter_us),
                loss: f64::from(loss_pct) / 100.0,
                bandwidth: mbps.map(|m| m * 1_000_000),
                ..simnet_core::LinkConfig::with_latency(Duration::from_micros(latency_us))
            },
        )
        .sboxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest! {
        #[test]
        fn generated_links_are_valid(config in link_config_strategy()) {
            prop_assert!(config.validate().is_ok());
        }
    }
}

#[cfg(test)]
mod space_tests {
    use super::*;
    use proptest::test_runner::TestRunner;

    fn space() -> FaultSpace {
        FaultSpace {
            hosts: vec!["a".into(), "b".into()],
            crash_hosts: vec!["a".into()],
            disk_hosts: Vec::new(),
            restart_crashes: true,
            families: Family::ALL.to_vec(),
            calls: Some(vec![Call {
                host: "b".into(),
                method: Method::Read,
                count: 2,
            }]),
            horizon: Duration::from_secs(5),
            fit_horizon: false,
            max_faults: 4,
            swarm: false,
            outputs: vec!["ready".into()],
        }
    }

    fn plans(space: &FaultSpace, n: usize) -> Vec<Vec<PlanFault>> {
        let mut runner = TestRunner::deterministic();
        let strategy = plan_strategy(space);
        (0..n)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect()
    }

    #[test]
    fn crashes_are_followed_by_restarts_unless_asked_otherwise() {
        for plan in plans(&space(), 200) {
            for f in plan {
                if let PlanFault::Crash { restart_after, .. } = f {
                    assert!(restart_after.is_some());
                }
            }
        }
    }

    #[test]
    fn api_faults_hit_only_calls_the_guests_make() {
        for plan in plans(&space(), 200) {
            for f in plan {
                match f {
                    PlanFault::ApiError {
                        host, method, nth, ..
                    } => {
                        assert_eq!((host.as_str(), method), ("b", Method::Read));
                        assert!((1..=2).contains(&nth));
                    }
                    PlanFault::ShortWrites { .. } => panic!("b never writes"),
                    PlanFault::ShortReads { host } | PlanFault::Stall { host, .. } => {
                        assert_eq!(host, "b")
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn no_plan_holds_the_same_fault_twice() {
        let mut one_family = space();
        one_family.families = vec![Family::Reset];
        one_family.horizon = Duration::from_millis(1);
        for plan in plans(&one_family, 200) {
            let mut seen = Vec::new();
            for f in plan {
                assert!(!seen.contains(&f), "{f} twice");
                seen.push(f);
            }
        }
    }

    #[test]
    fn swarm_plans_draw_from_fewer_families_at_once() {
        let families = |plan: &Vec<PlanFault>| {
            let mut fs: Vec<&'static str> = plan.iter().map(PlanFault::family_name).collect();
            fs.sort();
            fs.dedup();
            fs.len()
        };
        let mut all = space();
        all.max_faults = 6;
        all.calls = None;
        let mut swarm = all.clone();
        swarm.swarm = true;
        let mixed = |s: &FaultSpace| plans(s, 300).iter().map(families).sum::<usize>();
        assert!(
            mixed(&swarm) < mixed(&all),
            "{} vs {}",
            mixed(&swarm),
            mixed(&all)
        );
    }
}
