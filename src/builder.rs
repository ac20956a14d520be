//! A world by names: hosts and their addresses, links, the programs each host runs,
//! and a fault plan, built into a [`Sim`] ready to run or to drive step by step.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use simnet_core::LinkConfig;
use simnet_wasi::{GuestSpec, Program, Sim, SimConfig};

use crate::plan::{PlanFault, schedule};

/// Builds a [`Sim`]. Hosts named by a guest but never declared get an address of
/// their own (`10.0.0.1`, `10.0.0.2`, … in order of first mention).
///
/// ```no_run
/// # fn main() -> anyhow::Result<()> {
/// use std::time::Duration;
/// use simnet::{Builder, LinkConfig};
///
/// let server = simnet::build_component("guests", "kv-server")?;
/// let client = simnet::build_component("guests", "kv-client")?;
/// let mut sim = Builder::new(7)
///     .default_link(LinkConfig { loss: 0.05, ..LinkConfig::with_latency(Duration::from_millis(5)) })
///     .host("server", "10.0.0.1")
///     .server("server", &server, |g| g.arg("7000"))
///     .client("client", &client, |g| g.args(["server:7000", "set", "a", "1"]))
///     .build()?;
/// sim.run_until(|sim| sim.printed("server", "listening")).map_err(anyhow::Error::msg)?;
/// sim.crash("server", simnet::CrashMode::Silent)?;
/// let report = sim.run();
/// assert!(report.is_success(), "{:?}", report.failures());
/// # Ok(()) }
/// ```
pub struct Builder {
    config: SimConfig,
    /// Host names and addresses (an address that did not parse keeps its error
    /// for [`Builder::build`] to report).
    hosts: Vec<(String, Result<IpAddr, String>)>,
    default_link: Option<LinkConfig>,
    links: Vec<(String, String, LinkConfig)>,
    guests: Vec<GuestEntry>,
    plan: Vec<PlanFault>,
}

/// A guest to start once its host exists.
struct GuestEntry {
    host: String,
    program: Program,
    daemon: bool,
    configure: Box<dyn FnOnce(GuestSpec) -> GuestSpec>,
}

impl Builder {
    /// A world whose every random choice follows `seed`, with
    /// [`SimConfig::new`]'s settings.
    pub fn new(seed: u64) -> Builder {
        Builder {
            config: SimConfig::new(seed),
            hosts: Vec::new(),
            default_link: None,
            links: Vec::new(),
            guests: Vec::new(),
            plan: Vec::new(),
        }
    }

    /// Change settings of the simulation (limits, the time limit, the TCP model).
    pub fn config(mut self, change: impl FnOnce(&mut SimConfig)) -> Builder {
        change(&mut self.config);
        self
    }

    /// Stop the run at this virtual time even if guests still run.
    pub fn time_limit(mut self, limit: Duration) -> Builder {
        self.config.time_limit = Some(limit);
        self
    }

    /// A host named `name` with the address `ip` (checked by [`Builder::build`]).
    pub fn host(mut self, name: &str, ip: &str) -> Builder {
        let ip = ip
            .parse()
            .map_err(|_| format!("host {name}: {ip:?} is not an IP address"));
        self.hosts.push((name.to_string(), ip));
        self
    }

    /// The link between every two hosts without a link of their own.
    pub fn default_link(mut self, config: LinkConfig) -> Builder {
        self.default_link = Some(config);
        self
    }

    /// The link between hosts `a` and `b`, both directions.
    pub fn link(mut self, a: &str, b: &str, config: LinkConfig) -> Builder {
        self.links.push((a.to_string(), b.to_string(), config));
        self
    }

    /// Run `program` on host `host` as a server: the run does not wait for it to
    /// end, and still running is a success. The guest is named after its host;
    /// `configure` sets its arguments, environment, start time and limits.
    pub fn server(
        self,
        host: &str,
        program: &Program,
        configure: impl FnOnce(GuestSpec) -> GuestSpec + 'static,
    ) -> Builder {
        self.guest(host, program, true, configure)
    }

    /// Run `program` on host `host` as a client: the run lasts until it (and every
    /// other client) has ended, and success is exiting with 0. Named after its host.
    pub fn client(
        self,
        host: &str,
        program: &Program,
        configure: impl FnOnce(GuestSpec) -> GuestSpec + 'static,
    ) -> Builder {
        self.guest(host, program, false, configure)
    }

    fn guest(
        mut self,
        host: &str,
        program: &Program,
        daemon: bool,
        configure: impl FnOnce(GuestSpec) -> GuestSpec + 'static,
    ) -> Builder {
        self.guests.push(GuestEntry {
            host: host.to_string(),
            program: program.clone(),
            daemon,
            configure: Box::new(configure),
        });
        self
    }

    /// Faults to schedule, by host name (a plan drawn by [`crate::check_plans`], or
    /// written by hand).
    pub fn faults(mut self, plan: &[PlanFault]) -> Builder {
        self.plan.extend_from_slice(plan);
        self
    }

    /// The simulation, at virtual time zero, with nothing run yet.
    pub fn build(self) -> Result<Sim> {
        let mut sim = Sim::new(crate::component::runtime()?, self.config);
        let mut hosts = self.hosts;
        for g in &self.guests {
            if !hosts.iter().any(|(name, _)| *name == g.host) {
                let ip = next_free_address(&hosts);
                hosts.push((g.host.clone(), ip));
            }
        }
        for (name, ip) in &hosts {
            let ip = ip.clone().map_err(anyhow::Error::msg)?;
            sim.add_host(name, &[ip])
                .with_context(|| format!("host {name}"))?;
        }
        if let Some(link) = self.default_link {
            sim.with_net(|net| net.set_default_link(link))
                .context("the default link")?;
        }
        for (a, b, config) in self.links {
            let (ha, hb) = (sim.host(&a)?, sim.host(&b)?);
            sim.with_net(|net| net.set_link(ha, hb, config))
                .with_context(|| format!("the link {a} <-> {b}"))?;
        }
        for (i, g) in self.guests.iter().enumerate() {
            if self.guests[..i].iter().any(|other| other.host == g.host) {
                anyhow::bail!(
                    "host {} runs two guests: each guest is named after its host, so a \
                     host runs one (spawn more with Sim::spawn)",
                    g.host
                );
            }
        }
        for g in self.guests {
            let host = sim.host(&g.host)?;
            let mut spec = (g.configure)(GuestSpec::new(g.host.clone(), host, g.program));
            spec.daemon = g.daemon;
            sim.spawn(spec);
        }
        schedule(&mut sim, &self.plan).context("the fault plan")?;
        Ok(sim)
    }
}

/// The first `10.0.0.N` no host has.
fn next_free_address(hosts: &[(String, Result<IpAddr, String>)]) -> Result<IpAddr, String> {
    (1..=u32::from(u16::MAX))
        .map(|n| IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]))
        .find(|ip| !hosts.iter().any(|(_, h)| h.as_ref() == Ok(ip)))
        .ok_or_else(|| anyhow!("no free address left in 10.0.0.0/8").to_string())
}
