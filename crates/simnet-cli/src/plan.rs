//! Fault plans in scenario files: a plan (see [`simnet::plan`]) put into a scenario
//! as if written in its file, and rendered as `[[fault]]` and `[[api_fault]]` entries
//! so a shrunk plan is replayable with `simnet run`.

use std::time::Duration;

use simnet_wasi::{ApiFault, Effect, Method, Trigger};

use crate::scenario::{ApiFaultPlan, FaultKind, FaultPlan, FaultTrigger, Scenario};
pub use simnet::plan::{Call, Family, FaultSpace, PlanFault, link_config_strategy, plan_strategy};

/// Put a plan into a scenario (as if written in its file).
pub fn apply(scenario: &Scenario, plan: &[PlanFault]) -> Scenario {
    let mut sc = scenario.clone();
    for f in plan {
        let net = |at: Duration, kind| FaultPlan {
            at,
            kind,
            trigger: None,
        };
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
                on,
            } => {
                let trigger = on.as_ref().map(|when| FaultTrigger {
                    host: host.clone(),
                    when: when.clone(),
                });
                sc.faults.push(FaultPlan {
                    at: *at,
                    kind: FaultKind::Crash {
                        host: host.clone(),
                        mode: *mode,
                    },
                    trigger: trigger.clone(),
                });
                if let Some(r) = restart_after {
                    sc.faults.push(FaultPlan {
                        at: *at + *r,
                        kind: FaultKind::Restart { host: host.clone() },
                        trigger,
                    });
                }
            }
            PlanFault::Disk {
                host,
                fault,
                at,
                lasting,
            } => {
                sc.faults.push(net(
                    *at,
                    FaultKind::Disk {
                        host: host.clone(),
                        fault: fault.clone(),
                    },
                ));
                sc.faults.push(net(
                    *at + *lasting,
                    FaultKind::DiskHeal { host: host.clone() },
                ));
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

/// The plan as scenario entries, to append to the scenario's file for a replay.
pub fn to_toml(plan: &[PlanFault]) -> anyhow::Result<String> {
    let with = apply(&Scenario::empty(), plan);
    crate::scenario::fault_entries(&with.faults, &with.api_faults)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    #[test]
    fn plans_render_as_scenario_entries_that_parse_back() {
        let space = FaultSpace {
            hosts: vec!["a".into(), "b".into()],
            crash_hosts: vec!["a".into()],
            disk_hosts: vec!["b".into()],
            restart_crashes: false,
            families: Family::ALL.to_vec(),
            calls: None,
            horizon: Duration::from_secs(5),
            max_faults: 6,
            swarm: true,
            outputs: vec!["listening on".into(), "said \"hi\" \\ \u{1b}[0m".into()],
        };
        let mut runner = TestRunner::deterministic();
        let strategy = plan_strategy(&space);
        let host = "[[host]]\nname = \"{}\"\nip = \"{}\"\ncomponent = \"builtin:probe\"\n";
        let hosts = host.replacen("{}", "a", 1).replacen("{}", "10.0.0.1", 1)
            + &host.replacen("{}", "b", 1).replacen("{}", "10.0.0.2", 1);
        let mut triggers = std::collections::BTreeSet::new();
        let mut disk_kinds = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let plan = strategy.new_tree(&mut runner).unwrap().current();
            let text = format!("{hosts}{}", to_toml(&plan).unwrap());
            for f in &plan {
                if let PlanFault::Disk { fault, .. } = f {
                    disk_kinds.insert(fault.kind_name());
                }
            }
            for key in ["after_accepts", "after_writes", "on_output"] {
                if text.contains(key) {
                    triggers.insert(key);
                }
            }
            let parsed = Scenario::parse(std::path::Path::new("plan.toml"), &text)
                .unwrap_or_else(|e| panic!("{e:#}\n{text}"));
            let expected = apply(
                &Scenario::parse(std::path::Path::new("plan.toml"), &hosts).unwrap(),
                &plan,
            );
            assert_eq!(parsed.faults, expected.faults, "{text}");
            assert_eq!(parsed.api_faults, expected.api_faults, "{text}");
        }
        assert_eq!(
            triggers.len(),
            3,
            "every trigger kind is drawn: {triggers:?}"
        );
        assert_eq!(
            disk_kinds.len(),
            7,
            "every disk fault is drawn: {disk_kinds:?}"
        );
    }
}
