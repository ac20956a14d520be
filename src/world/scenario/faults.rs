//! `[[fault]]` and `[[api_fault]]` entries, checked: hosts named, values in range,
//! restarts after crashes.

use std::time::Duration;

use anyhow::{Result, anyhow};
use simnet_core::LinkConfig;
use toml::Spanned;

use super::entries::{ApiFaultEntry, FaultEntry};
use super::{Ctx, KnownHosts, check_probability, link_config};
use simnet_wasi::When;

use crate::world::{FaultKind, FaultTrigger, HostApiFault, ScheduledFault};

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

/// Every restart must follow a crash of the same host (a host that is up cannot
/// restart).
pub(super) fn check_restarts(
    ctx: &Ctx,
    entries: &[FaultEntry],
    faults: &[ScheduledFault],
) -> Result<()> {
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
    let mut timeline: Vec<&ScheduledFault> =
        faults.iter().filter(|f| f.trigger.is_none()).collect();
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

pub(super) fn scheduled(
    ctx: &Ctx,
    hosts: &KnownHosts,
    default: &LinkConfig,
    f: &FaultEntry,
) -> Result<Vec<ScheduledFault>> {
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
            let mut out = vec![ScheduledFault {
                at,
                kind: FaultKind::Crash {
                    host: name.clone(),
                    mode,
                },
                trigger: trigger.clone(),
            }];
            if let Some(after) = f.restart_after {
                out.push(ScheduledFault {
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
            let mut out = vec![ScheduledFault {
                at,
                kind: FaultKind::Disk {
                    host: host.clone(),
                    fault,
                },
                trigger: trigger.clone(),
            }];
            if let Some(lasting) = f.lasting {
                out.push(ScheduledFault {
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
    Ok(vec![ScheduledFault { at, kind, trigger }])
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

pub(super) fn api_fault(ctx: &Ctx, hosts: &KnownHosts, f: &ApiFaultEntry) -> Result<HostApiFault> {
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
    Ok(HostApiFault {
        host: f.host.as_ref().map(|h| h.get_ref().clone()),
        fault,
    })
}
