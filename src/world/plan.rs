//! A random fault plan (see [`crate::plan`]) laid over a world, as if its faults
//! were written in the world's file.

use std::time::Duration;

use simnet_wasi::{ApiFault, Effect, Method, Trigger};

use super::{FaultKind, FaultTrigger, HostApiFault, ScheduledFault, World};
use crate::plan::PlanFault;

impl World {
    /// This world with `plan`'s faults added, as if written in its file (a loss
    /// keeps the rest of the link's settings as the world has them).
    pub fn with_plan(&self, plan: &[PlanFault]) -> World {
        let mut world = self.clone();
        world.add_plan(plan);
        world
    }

    /// Add `plan`'s faults.
    pub fn add_plan(&mut self, plan: &[PlanFault]) {
        for f in plan {
            self.add_plan_fault(f);
        }
    }

    fn add_plan_fault(&mut self, f: &PlanFault) {
        let sc = self;
        let net = |at: Duration, kind| ScheduledFault {
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
                    ..sc.link_between(a, b)
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
                sc.faults.push(ScheduledFault {
                    at: *at,
                    kind: FaultKind::Crash {
                        host: host.clone(),
                        mode: *mode,
                    },
                    trigger: trigger.clone(),
                });
                if let Some(r) = restart_after {
                    sc.faults.push(ScheduledFault {
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
            } => sc.api_faults.push(HostApiFault {
                host: Some(host.clone()),
                fault: ApiFault {
                    host: None,
                    method: *method,
                    trigger: Trigger::Nth(*nth),
                    effect: Effect::Error(*error),
                },
            }),
            PlanFault::ShortReads { host } => sc.api_faults.push(HostApiFault {
                host: Some(host.clone()),
                fault: ApiFault {
                    host: None,
                    method: Method::Read,
                    trigger: Trigger::Probability(1.0),
                    effect: Effect::ShortRead,
                },
            }),
            PlanFault::ShortWrites { host } => sc.api_faults.push(HostApiFault {
                host: Some(host.clone()),
                fault: ApiFault {
                    host: None,
                    method: Method::Write,
                    trigger: Trigger::Probability(1.0),
                    effect: Effect::ShortWrite,
                },
            }),
            PlanFault::Stall { host, nth, lasting } => sc.api_faults.push(HostApiFault {
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

    /// The settings of the link between `a` and `b`: its own, or the default link.
    pub fn link_between(&self, a: &str, b: &str) -> simnet_core::LinkConfig {
        self.links
            .iter()
            .rev()
            .find(|l| (l.a == a && l.b == b) || (l.a == b && l.b == a))
            .map_or(self.net.default_link, |l| l.config)
    }

    /// `plan` over this world as scenario entries, to append to the world's file for
    /// a replay (a loss fault keeps the rest of its pair's link, as in the run).
    pub fn plan_entries(&self, plan: &[PlanFault]) -> anyhow::Result<String> {
        let mut only_plan = self.clone();
        only_plan.faults.clear();
        only_plan.api_faults.clear();
        only_plan.add_plan(plan);
        super::scenario::fault_entries(&only_plan.faults, &only_plan.api_faults)
    }
}
