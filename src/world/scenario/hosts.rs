//! Hosts, their guests and disks, links, and the `[explore]` section, checked.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use simnet_core::LinkConfig;
use simnet_wasi::{Capabilities, Limits};
use toml::Spanned;

use super::entries::{ExploreEntry, HostEntry, LinkEntry, ProgramFields};
use super::{Ctx, KnownHosts, link_config};
use crate::space::FaultSpace;
use crate::world::{Expect, Guest, Host, Link, Mount, Source};

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
        let guest =
            crate::world::builtin::find(name).map_err(|e| ctx.err(c.span(), "component", e))?;
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

pub(super) fn host(ctx: &Ctx, dir: &Path, h: &HostEntry) -> Result<Host> {
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
    let mut host = Host::new(name.clone(), ips);
    match h.program() {
        Some(program) => host.guests.push(guest(ctx, dir, name, &program)?),
        None if h.has_program_fields() => {
            return Err(ctx.err(
                h.name.span(),
                "component",
                "the host sets arguments, capabilities, limits or an expectation for a \
                 program but names no `component`",
            ));
        }
        None => {}
    }
    for g in &h.guests {
        host.guests
            .push(guest(ctx, dir, g.name.get_ref().clone(), &g.program())?);
    }
    if host.guests.is_empty() {
        return Err(ctx.err(
            h.name.span(),
            "component",
            "the host runs nothing: give it a `component`, or `[[host.guest]]` entries",
        ));
    }
    host.max_sockets = h.max_sockets;
    host.disks = disk_plans(ctx, dir, h)?;
    host.disk_config = disk_config(ctx, h)?;
    Ok(host)
}

/// A program of a host, named `name`.
fn guest(ctx: &Ctx, dir: &Path, name: String, p: &ProgramFields) -> Result<Guest> {
    if let Some(problem) = simnet_core::host_name_problem(&name) {
        return Err(ctx.err(p.component.span(), "name", problem));
    }
    let mut g = Guest::new(name, resolve_source(ctx, dir, p.component)?);
    g.args = p.args.to_vec();
    g.env = p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    g.start = p.start.map_or(Duration::ZERO, |d| d.0);
    g.caps = Capabilities {
        tcp: p.tcp,
        udp: p.udp,
        ip_name_lookup: p.ip_name_lookup,
    };
    g.expect = parse_expect(ctx, p.expect)?;
    g.limits = Limits {
        memory: p.memory_limit.map(|b| b.0 as usize),
        fuel: p.fuel_limit,
        virtual_time: p.time_limit.map(|d| d.0),
        busy: p.busy_limit.map(|d| d.0),
        resources: p.resource_limit,
    };
    g.argv0 = p.argv0.clone();
    g.cwd = p.cwd.clone();
    if let Some(text) = p.stdin {
        g.stdin = simnet_wasi::Stdin::Bytes(text.as_bytes().into());
    }
    for d in p.dir {
        let Some((host_dir, guest_dir)) = d.get_ref().split_once("::") else {
            return Err(ctx.err(
                d.span(),
                "dir",
                format!("{:?}: expected \"HOST_DIR::GUEST_PATH\"", d.get_ref()),
            ));
        };
        let path = dir.join(host_dir);
        if !path.is_dir() {
            return Err(ctx.err(
                d.span(),
                "dir",
                format!("{} is not a directory", path.display()),
            ));
        }
        g = g.dir(path, guest_dir);
    }
    Ok(g)
}

/// `disk` and `disk_ro` entries, host directories relative to the scenario.
fn disk_plans(ctx: &Ctx, dir: &Path, h: &HostEntry) -> Result<Vec<Mount>> {
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
            if plans.iter().any(|p: &Mount| p.guest == guest) {
                return Err(bad(format!("{guest:?} is mounted twice")));
            }
            plans.push(Mount {
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

pub(super) fn link(
    ctx: &Ctx,
    hosts: &KnownHosts,
    default: &LinkConfig,
    l: &LinkEntry,
) -> Result<Link> {
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
    Ok(Link {
        a: pair[0].clone(),
        b: pair[1].clone(),
        config,
    })
}

/// The `[explore]` section over the scenario's defaults.
pub(super) fn explore_space(
    ctx: &Ctx,
    hosts: &[Host],
    e: Option<&ExploreEntry>,
) -> Result<FaultSpace> {
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let mut space = FaultSpace::for_hosts(names);
    // Disk faults only where there is something on the disk.
    space.disk_hosts = hosts
        .iter()
        .filter(|h| !h.disks.is_empty() || h.guests.iter().any(|g| !g.disks.is_empty()))
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
        space.set_horizon(h.0);
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
