//! Scenario files: TOML describing the network, the hosts and their guests, and the
//! expected outcomes (`docs/scenario.md` documents every field), read into a
//! [`World`]. Parsing rejects unknown fields and bad values with the file, line and
//! field; [`fault_entries`] writes faults back as entries that parse to the same.

mod entries;
mod faults;
mod hosts;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use simnet_core::{LinkConfig, NetConfig, TraceMode};
use toml::Spanned;

use super::World;
use crate::units::{Bandwidth, Bytes, Dur};
pub use entries::fault_entries;
use entries::{File, Network};

/// Read the scenario file at `path`.
pub(super) fn load(path: &Path) -> Result<World> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(path, &text)
}

/// Parse scenario text; `path` names it in errors and anchors relative paths.
pub fn parse(path: &Path, text: &str) -> Result<World> {
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
    let mut world = World::new(file.seed.unwrap_or(0));
    let mut known = KnownHosts::default();
    let mut guest_names: HashSet<String> = HashSet::new();
    let mut owners: HashMap<IpAddr, usize> = HashMap::new();
    for h in &file.hosts {
        let host = hosts::host(&ctx, dir, h)?;
        if !known.add(&host.name) {
            return Err(ctx.err(
                h.name.span(),
                "name",
                format!("host {:?} is defined twice", host.name),
            ));
        }
        for ip in &host.ips {
            if let Some(&owner) = owners.get(ip) {
                return Err(ctx.err(
                    h.ip.span(),
                    "ip",
                    format!("{ip} already belongs to host {:?}", world.hosts[owner].name),
                ));
            }
        }
        for g in &host.guests {
            if !guest_names.insert(g.name.clone()) {
                return Err(ctx.err(
                    h.name.span(),
                    "guest",
                    format!("a guest named {:?} is defined twice", g.name),
                ));
            }
        }
        owners.extend(host.ips.iter().map(|&ip| (ip, world.hosts.len())));
        world.hosts.push(host);
    }
    world.links = file
        .links
        .iter()
        .map(|l| hosts::link(&ctx, &known, &net.default_link, l))
        .collect::<Result<_>>()?;
    for f in &file.faults {
        world
            .faults
            .extend(faults::scheduled(&ctx, &known, &net.default_link, f)?);
    }
    faults::check_restarts(&ctx, &file.faults, &world.faults)?;
    world.api_faults = file
        .api_faults
        .iter()
        .map(|f| faults::api_fault(&ctx, &known, f))
        .collect::<Result<_>>()?;
    world.chaos = check_probability(&ctx, "chaos", &file.chaos, 0.0)?;
    world.explore = hosts::explore_space(&ctx, &world.hosts, file.explore.as_ref())?;
    world.path = Some(path.to_path_buf());
    world.until = file.until.map(|d| d.0);
    if let Some(w) = &file.watchdog {
        world.watchdog = crate::units::parse_watchdog(w.get_ref())
            .map_err(|e| ctx.err(w.span(), "watchdog", e))?
            .0;
    }
    world.net = net;
    world.scheduler = scheduler(&ctx, &file.scheduler)?;
    Ok(world)
}

/// The `[scheduler]` table over the defaults.
fn scheduler(ctx: &Ctx, e: &entries::SchedulerEntry) -> Result<crate::world::Scheduler> {
    let mut s = crate::world::Scheduler::default();
    if let Some(fuel) = &e.slice_fuel {
        if *fuel.get_ref() == 0 {
            return Err(ctx.err(fuel.span(), "slice_fuel", "must be above zero"));
        }
        s.slice_fuel = Some(*fuel.get_ref());
    }
    if let Some(d) = e.slice_time {
        s.slice_time = d.0;
    }
    if let Some(d) = e.host_call_time {
        s.host_call_time = d.0;
    }
    if let Some(b) = e.output_limit {
        s.output_limit = usize::try_from(b.0).unwrap_or(usize::MAX);
    }
    if let Some(b) = e.memory_limit {
        s.memory_limit = Some(usize::try_from(b.0).unwrap_or(usize::MAX));
    }
    if let Some(d) = e.busy_limit {
        s.busy_limit = Some(d.0);
    }
    Ok(s)
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
pub(super) struct KnownHosts {
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

    pub(super) fn has(&self, name: &str) -> bool {
        self.exact.contains(name)
    }
}

pub(super) struct Ctx<'a> {
    pub(super) name: String,
    text: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(
        &self,
        span: Range<usize>,
        field: &str,
        msg: impl std::fmt::Display,
    ) -> anyhow::Error {
        let (line, col) = line_col(self.text, span.start);
        anyhow!("{}:{line}:{col}: {field}: {msg}", self.name)
    }
}

/// A link's settings: `base` with what an entry (`[network]`, `[[link]]` or a link
/// fault) sets of latency, jitter, loss, duplication and bandwidth.
pub(super) fn link_config(
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

pub(super) fn check_probability(
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
