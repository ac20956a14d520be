//! Fault plans for property-based testing: a proptest strategy of faults over a
//! scenario's hosts, whose shrinking removes faults and weakens them (shorter outages,
//! earlier calls, lower loss), and their rendering as scenario `[[fault]]` and
//! `[[api_fault]]` entries so a shrunk plan is replayable with `simnet run`.

use std::fmt;
use std::time::Duration;

use proptest::prelude::*;
use simnet_core::{CrashMode, ErrorCode};
use simnet_wasi::{ApiFault, Effect, Method, Trigger};

use crate::scenario::{ApiFaultPlan, FaultKind, FaultPlan, Scenario};

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
        at: Duration,
        mode: CrashMode,
        restart_after: Option<Duration>,
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
            } => {
                write!(f, "crash {host} ({mode:?}) at {}", ms(*at))?;
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
        }
    }
}

/// What kinds of faults a plan may hold.
#[derive(Clone, Debug)]
pub struct FaultSpace {
    pub hosts: Vec<String>,
    /// Hosts that may crash (a crash of the host under test usually fails any
    /// property, so properties about one host leave it out).
    pub crash_hosts: Vec<String>,
    /// Whether connections may be reset.
    pub resets: bool,
    /// Whether links may turn lossy.
    pub loss: bool,
    /// Faults start within this much virtual time.
    pub horizon: Duration,
    pub network: bool,
    pub api: bool,
    pub max_faults: usize,
}

impl FaultSpace {
    pub fn for_scenario(scenario: &Scenario) -> FaultSpace {
        let hosts: Vec<String> = scenario.hosts.iter().map(|h| h.name.clone()).collect();
        FaultSpace {
            crash_hosts: hosts.clone(),
            resets: true,
            loss: true,
            hosts,
            horizon: Duration::from_secs(5),
            network: true,
            api: true,
            max_faults: 3,
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

fn network_fault(space: &FaultSpace) -> SBoxedStrategy<PlanFault> {
    let hosts = space.hosts.clone();
    let h = space.horizon;
    let lasting = (1..=30_000u64).prop_map(Duration::from_millis);
    let mut kinds: Vec<SBoxedStrategy<PlanFault>> = vec![
        (pair(&hosts), duration_up_to(h), lasting.clone())
            .prop_map(|((a, b), at, lasting)| PlanFault::Partition { a, b, at, lasting })
            .sboxed(),
        (pair(&hosts), duration_up_to(h), lasting.clone())
            .prop_map(|((a, b), at, lasting)| PlanFault::Clog { a, b, at, lasting })
            .sboxed(),
    ];
    if space.loss {
        kinds.push(
            (pair(&hosts), duration_up_to(h), 1..=50u32)
                .prop_map(|((a, b), at, pct)| PlanFault::Loss {
                    a,
                    b,
                    at,
                    loss: f64::from(pct) / 100.0,
                })
                .sboxed(),
        );
    }
    if !space.crash_hosts.is_empty() {
        let host = proptest::sample::select(space.crash_hosts.clone());
        kinds.push(
            (
                host,
                duration_up_to(h),
                any::<bool>(),
                proptest::option::of(lasting),
            )
                // Shrinks toward a silent crash: nothing on the wire, the subtler fault.
                .prop_map(|(host, at, reset, restart_after)| PlanFault::Crash {
                    host,
                    at,
                    mode: if reset {
                        CrashMode::Reset
                    } else {
                        CrashMode::Silent
                    },
                    restart_after,
                })
                .sboxed(),
        );
    }
    if space.resets {
        kinds.push(
            duration_up_to(h)
                .prop_map(|at| PlanFault::Reset { at })
                .sboxed(),
        );
    }
    proptest::strategy::Union::new(kinds).sboxed()
}

fn api_fault(space: &FaultSpace) -> SBoxedStrategy<PlanFault> {
    let host = proptest::sample::select(space.hosts.clone());
    let error = (
        proptest::sample::select(Method::ALL.to_vec()),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(m, i)| (m, *i.get(m.injectable_errors())));
    prop_oneof![
        (host.clone(), error, 1..=5u64).prop_map(|(host, (method, error), nth)| {
            PlanFault::ApiError {
                host,
                method,
                nth,
                error,
            }
        }),
        host.clone().prop_map(|host| PlanFault::ShortReads { host }),
        host.clone()
            .prop_map(|host| PlanFault::ShortWrites { host }),
        (
            host,
            1..=5u64,
            (1..=5_000u64).prop_map(Duration::from_millis)
        )
            .prop_map(|(host, nth, lasting)| PlanFault::Stall { host, nth, lasting }),
    ]
    .sboxed()
}

/// Plans of up to `max_faults` faults from the space.
pub fn plan_strategy(space: &FaultSpace) -> SBoxedStrategy<Vec<PlanFault>> {
    let one = match (space.network, space.api) {
        (true, true) => prop_oneof![network_fault(space), api_fault(space)].sboxed(),
        (true, false) => network_fault(space),
        (false, true) => api_fault(space),
        (false, false) => Just(PlanFault::Reset { at: Duration::ZERO }).sboxed(),
    };
    proptest::collection::vec(one, 0..=space.max_faults).sboxed()
}

/// Put a plan into a scenario (as if written in its file).
pub fn apply(scenario: &Scenario, plan: &[PlanFault]) -> Scenario {
    let mut sc = scenario.clone();
    for f in plan {
        let net = |at: Duration, kind| FaultPlan { at, kind };
        match f {
            PlanFault::Partition { a, b, at, lasting } => {
                sc.faults.push(net(
                    *at,
                    FaultKind::Partition {
                        from: vec![a.clone()],
                        to: vec![b.clone()],
                        one_way: false,
                    },
                ));
                sc.faults.push(net(
                    *at + *lasting,
                    FaultKind::Heal {
                        from: vec![a.clone()],
                        to: vec![b.clone()],
                    },
                ));
            }
            PlanFault::Clog { a, b, at, lasting } => {
                sc.faults.push(net(
                    *at,
                    FaultKind::Clog {
                        from: a.clone(),
                        to: b.clone(),
                        one_way: false,
                    },
                ));
                sc.faults.push(net(
                    *at + *lasting,
                    FaultKind::Release {
                        from: a.clone(),
                        to: b.clone(),
                    },
                ));
            }
            PlanFault::Loss { a, b, at, loss } => {
                let config = simnet_core::LinkConfig {
                    loss: *loss,
                    ..sc.net.default_link
                };
                sc.faults.push(net(
                    *at,
                    FaultKind::Link {
                        a: a.clone(),
                        b: b.clone(),
                        config,
                    },
                ));
            }
            PlanFault::Crash {
                host,
                at,
                mode,
                restart_after,
            } => {
                sc.faults.push(net(
                    *at,
                    FaultKind::Crash {
                        host: host.clone(),
                        mode: *mode,
                    },
                ));
                if let Some(r) = restart_after {
                    sc.faults
                        .push(net(*at + *r, FaultKind::Restart { host: host.clone() }));
                }
            }
            PlanFault::Reset { at } => sc.faults.push(net(
                *at,
                FaultKind::Reset {
                    between: Vec::new(),
                },
            )),
            PlanFault::ApiError {
                host,
                method,
                nth,
                error,
            } => sc.api_faults.push(ApiFaultPlan {
                host: Some(host.clone()),
                fault: ApiFault {
                    host: None,
                    method: *method,
                    trigger: Trigger::Nth(*nth),
                    effect: Effect::Error(*error),
                },
            }),
            PlanFault::ShortReads { host } => sc.api_faults.push(ApiFaultPlan {
                host: Some(host.clone()),
                fault: ApiFault {
                    host: None,
                    method: Method::Read,
                    trigger: Trigger::Probability(1.0),
                    effect: Effect::ShortRead,
                },
            }),
            PlanFault::ShortWrites { host } => sc.api_faults.push(ApiFaultPlan {
                host: Some(host.clone()),
                fault: ApiFault {
                    host: None,
                    method: Method::Write,
                    trigger: Trigger::Probability(1.0),
                    effect: Effect::ShortWrite,
                },
            }),
            PlanFault::Stall { host, nth, lasting } => sc.api_faults.push(ApiFaultPlan {
                host: Some(host.clone()),
                fault: ApiFault {
                    host: None,
                    method: Method::Read,
                    trigger: Trigger::Nth(*nth),
                    effect: Effect::Stall(*lasting),
                },
            }),
        }
    }
    sc
}

fn quoted(v: &[String]) -> String {
    let q: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", q.join(", "))
}

/// The plan as scenario entries, to append to the scenario's file for a replay.
pub fn to_toml(plan: &[PlanFault]) -> String {
    let sc = Scenario::empty();
    let with = apply(&sc, plan);
    let mut out = String::new();
    for f in &with.faults {
        out.push_str(&format!("\n[[fault]]\nat = \"{}\"\n", ms(f.at)));
        match &f.kind {
            FaultKind::Partition { from, to, one_way } => out.push_str(&format!(
                "kind = \"partition\"\nfrom = {}\nto = {}\none_way = {one_way}\n",
                quoted(from),
                quoted(to)
            )),
            FaultKind::Heal { from, to } => out.push_str(&format!(
                "kind = \"heal\"\nfrom = {}\nto = {}\n",
                quoted(from),
                quoted(to)
            )),
            FaultKind::Clog { from, to, one_way } => out.push_str(&format!(
                "kind = \"clog\"\nfrom = [{from:?}]\nto = [{to:?}]\none_way = {one_way}\n"
            )),
            FaultKind::Release { from, to } => out.push_str(&format!(
                "kind = \"release\"\nfrom = [{from:?}]\nto = [{to:?}]\n"
            )),
            FaultKind::Link { a, b, config } => out.push_str(&format!(
                "kind = \"link\"\nbetween = [{a:?}, {b:?}]\nloss = {}\n",
                config.loss
            )),
            FaultKind::Crash { host, mode } => {
                let mode = if *mode == CrashMode::Silent {
                    "silent"
                } else {
                    "reset"
                };
                out.push_str(&format!(
                    "kind = \"crash\"\nhost = {host:?}\nmode = \"{mode}\"\n"
                ));
            }
            FaultKind::Restart { host } => {
                out.push_str(&format!("kind = \"restart\"\nhost = {host:?}\n"))
            }
            FaultKind::Reset { .. } => out.push_str("kind = \"reset\"\n"),
        }
    }
    for a in &with.api_faults {
        out.push_str("\n[[api_fault]]\n");
        if let Some(h) = &a.host {
            out.push_str(&format!("host = {h:?}\n"));
        }
        out.push_str(&format!("method = \"{}\"\n", a.fault.method.name()));
        match a.fault.trigger {
            Trigger::Nth(n) => out.push_str(&format!("nth = {n}\n")),
            Trigger::Probability(p) => out.push_str(&format!("probability = {p:?}\n")),
        }
        match a.fault.effect {
            Effect::Error(code) => out.push_str(&format!("error = \"{}\"\n", code.as_str())),
            Effect::ShortRead => out.push_str("effect = \"short-read\"\n"),
            Effect::ShortWrite => out.push_str("effect = \"short-write\"\n"),
            Effect::Stall(d) => {
                out.push_str(&format!("effect = \"stall\"\nduration = \"{}\"\n", ms(d)))
            }
        }
    }
    out
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
    use proptest::test_runner::TestRunner;

    proptest! {
        #[test]
        fn generated_links_are_valid(config in link_config_strategy()) {
            prop_assert!(config.validate().is_ok());
        }
    }

    #[test]
    fn plans_render_as_scenario_entries_that_parse_back() {
        let space = FaultSpace {
            hosts: vec!["a".into(), "b".into()],
            crash_hosts: vec!["a".into()],
            resets: true,
            loss: true,
            horizon: Duration::from_secs(5),
            network: true,
            api: true,
            max_faults: 6,
        };
        let mut runner = TestRunner::deterministic();
        let strategy = plan_strategy(&space);
        let host = "[[host]]\nname = \"{}\"\nip = \"{}\"\ncomponent = \"builtin:probe\"\n";
        let hosts = host.replacen("{}", "a", 1).replacen("{}", "10.0.0.1", 1)
            + &host.replacen("{}", "b", 1).replacen("{}", "10.0.0.2", 1);
        for _ in 0..50 {
            let plan = strategy.new_tree(&mut runner).unwrap().current();
            let text = format!("{hosts}{}", to_toml(&plan));
            let parsed = Scenario::parse(std::path::Path::new("plan.toml"), &text)
                .unwrap_or_else(|e| panic!("{e:#}\n{text}"));
            let expected = apply(
                &Scenario::parse(std::path::Path::new("plan.toml"), &hosts).unwrap(),
                &plan,
            );
            assert_eq!(parsed.faults.len(), expected.faults.len(), "{text}");
            assert_eq!(parsed.api_faults, expected.api_faults, "{text}");
        }
    }
}
