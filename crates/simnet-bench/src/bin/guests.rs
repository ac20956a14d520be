//! The same guest components on simnet and on wasmtime-wasi's real sockets over
//! loopback, interleaved in one process; prints median wall times and the ratios.
//! Usage: `guests [--rounds N] [--round-trips N] [--only ROW,...] [--simnet-only]`
//! (rows: 1, 2, 2b, 3, 4, 5, 6, 7, 8, 9).
//!
//! (1) echo: 10,000 round trips of 64 bytes between an echo server and client guest
//! (2) bulk: a 1 MiB transfer, then the receiver's checksum back (both guests do
//!     per-byte work: a pattern and FNV-1a)
//! (2b) bulk with light guests: 1 MiB and 64 MiB of one buffer sent again and again,
//!     a word-sum digest back (what the data path itself costs)
//! (3) tokio: 100 concurrent connections from one tokio guest, 64-byte round trips
//!     against a poll-driven echo server
//! (4) Python: a componentize-py echo client, 64-byte round trips
//! (5) per call: one host call repeated in a guest over a loopback connection to
//!     itself, the run with N calls minus the run with none, divided by N
//! (6) sleeps: one guest sleeping 10 minutes of virtual time in 600 sleeps (simnet only)
//! (7) to (9), WASI 0.3 guests (`p3-net`) against wasmtime-wasi's p3 host:
//! (7) echo: 10,000 round trips of 64 bytes on one connection
//! (8) bulk: 1 MiB and 64 MiB of one buffer sent again and again to a sink
//! (9) 100 connections at once from one guest, 64-byte round trips, against a
//!     server serving each connection as its own task

use std::net::TcpListener;
use std::time::{Duration, Instant};

use simnet_wasi::{GuestSpec, Outcome, Program, Runtime, Sim, SimConfig};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

struct Args {
    rounds: usize,
    round_trips: u64,
    /// Rows to run (`--only 1,2b,5`); all when empty.
    only: Vec<String>,
    /// Run simnet only, not the kernel (`--simnet-only`, for profiling).
    simnet_only: bool,
}

impl Args {
    fn wants(&self, row: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|r| r == row)
    }
}

fn parse_args() -> Args {
    let mut args = Args {
        rounds: 5,
        round_trips: 10_000,
        only: Vec::new(),
        simnet_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{a} needs a number"))
        };
        match a.as_str() {
            "--rounds" => args.rounds = value() as usize,
            "--round-trips" => args.round_trips = value(),
            "--simnet-only" => args.simnet_only = true,
            "--only" => {
                let rows = it
                    .next()
                    .unwrap_or_else(|| panic!("--only needs rows, e.g. 1,2b"));
                args.only = rows.split(',').map(str::to_string).collect();
            }
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

type Run<'a, P> = (&'a P, &'a [&'a str]);

/// Guests on simnet, each on a host of its own (10.0.0.1, .2, ...) over zero-latency
/// links; the first is the server the others connect to.
fn on_simnet(rt: &Runtime, guests: &[Run<'_, Program>]) -> Duration {
    simnet_run(rt, guests, false)
}

/// Guests on simnet, all on one host (10.0.0.1), talking over its loopback as the
/// kernel's guests do.
fn on_simnet_loopback(rt: &Runtime, guests: &[Run<'_, Program>]) -> Duration {
    simnet_run(rt, guests, true)
}

fn simnet_run(rt: &Runtime, guests: &[Run<'_, Program>], one_host: bool) -> Duration {
    let start = Instant::now();
    let mut sim = Sim::new(rt, SimConfig::new(1));
    let mut hosts = Vec::new();
    for (i, (program, args)) in guests.iter().enumerate() {
        let name = format!("guest{i}");
        if i == 0 || !one_host {
            let ip = format!("10.0.0.{}", i + 1).parse().expect("address");
            hosts.push(sim.add_host(&name, &[ip]).expect("host"));
        }
        let host = hosts[hosts.len() - 1];
        sim.spawn(GuestSpec::new(&name, host, (*program).clone()).args(args.iter().copied()));
    }
    let report = sim.run();
    let elapsed = start.elapsed();
    for g in &report.guests {
        assert_eq!(
            g.outcome,
            Outcome::Exited(0),
            "{} on simnet: {}",
            g.name,
            g.outcome
        );
    }
    elapsed
}

struct Real {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Real {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct RealHost {
    engine: Engine,
    linker: Linker<Real>,
}

impl RealHost {
    fn new() -> Self {
        let engine = Engine::new(&Config::new()).expect("engine");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("link");
        wasmtime_wasi::p3::add_to_linker(&mut linker).expect("link 0.3");
        RealHost { engine, linker }
    }

    fn store(&self, args: &[&str]) -> Store<Real> {
        let wasi = WasiCtxBuilder::new()
            .arg("guest")
            .args(args)
            .allow_tcp(true)
            // Loopback only: nothing leaves the machine (binding and listening send
            // nothing).
            .socket_addr_check(|addr, use_| {
                Box::pin(async move {
                    addr.ip().is_loopback()
                        || matches!(use_, SocketAddrUse::TcpBind | SocketAddrUse::TcpListen)
                })
            })
            .build();
        Store::new(
            &self.engine,
            Real {
                wasi,
                table: ResourceTable::new(),
            },
        )
    }

    /// Guests in one current-thread tokio runtime, as `wasmtime run` would drive them:
    /// all but the last start first (servers), then the last runs (the client).
    fn run(&self, guests: &[Run<'_, Component>]) -> Duration {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let (client, servers) = guests.split_last().expect("a guest");
        let pause = if servers.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_millis(20)
        };
        let start = Instant::now();
        rt.block_on(async {
            let mut running = Vec::new();
            for (component, args) in servers {
                let store = self.store(args);
                let run = self.run_guest(store, (*component).clone());
                running.push(tokio::spawn(run));
            }
            let store = self.store(client.1);
            // Let the servers reach `accept` before the client connects.
            tokio::time::sleep(pause).await;
            let result = self.run_guest(store, client.0.clone()).await;
            assert!(
                matches!(result, Ok(Ok(()))),
                "client on the real kernel: {result:?}"
            );
            for server in running {
                let result = server.await.expect("join");
                assert!(
                    matches!(result, Ok(Ok(()))),
                    "server on the real kernel: {result:?}"
                );
            }
        });
        start.elapsed() - pause
    }

    /// Instantiate and run a guest: its WASI 0.3 `run` if it exports one, as `wasmtime
    /// run` does, else its 0.2 one.
    fn run_guest(
        &self,
        mut store: Store<Real>,
        component: Component,
    ) -> impl std::future::Future<Output = wasmtime::Result<Result<(), ()>>> + Send + 'static {
        let (engine, linker) = (self.engine.clone(), self.linker.clone());
        async move {
            let p3 = component
                .component_type()
                .exports(&engine)
                .any(|(name, _)| name.starts_with("wasi:cli/run@0.3"));
            if p3 {
                let cmd = wasmtime_wasi::p3::bindings::Command::instantiate_async(
                    &mut store, &component, &linker,
                )
                .await?;
                return store
                    .run_concurrent(async |a| cmd.wasi_cli_run().call_run(a).await)
                    .await?;
            }
            let cmd = wasmtime_wasi::p2::bindings::Command::instantiate_async(
                &mut store, &component, &linker,
            )
            .await?;
            cmd.wasi_cli_run().call_run(&mut store).await
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Medians of `rounds` runs on simnet and on the kernel, interleaved.
/// With `--simnet-only` the kernel is not run (for profiling simnet alone) and its
/// time reads as zero.
fn compare(
    args: &Args,
    mut on_sim: impl FnMut() -> Duration,
    mut on_kernel: impl FnMut() -> Duration,
) -> (Duration, Duration) {
    let (mut sim, mut kernel) = (Vec::new(), vec![Duration::ZERO]);
    for _ in 0..args.rounds {
        sim.push(on_sim());
        if !args.simnet_only {
            kernel.push(on_kernel());
        }
    }
    if kernel.len() > 1 {
        kernel.remove(0);
    }
    (median(sim), median(kernel))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Microseconds per round trip.
fn per_rt(d: Duration, round_trips: u64) -> f64 {
    d.as_secs_f64() * 1e6 / round_trips as f64
}

fn kernel_address() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// The guests the rows use, compiled for simnet and for plain wasmtime.
struct Guests {
    sim: [Program; 6],
    /// Empty with `--simnet-only`.
    real: Vec<Component>,
}

const ECHO_SERVER: usize = 0;
const ECHO_CLIENT: usize = 1;
const PROBE: usize = 2;
const MANY: usize = 3;
const TOKIO_LOAD: usize = 4;
const P3_NET: usize = 5;

fn main() {
    let args = parse_args();
    let dir = std::env::temp_dir().join("simnet-bench-cache");
    let rt = Runtime::with_cache_dir(Some(dir)).expect("runtime");
    let real = RealHost::new();
    let embedded = [
        simnet_guests::ECHO_SERVER,
        simnet_guests::ECHO_CLIENT,
        simnet_guests::PROBE,
        simnet_guests::MANY,
        simnet_guests::TOKIO_LOAD,
        simnet_guests::P3_NET,
    ];
    let g = Guests {
        sim: embedded.map(|g| rt.load_bytes(g.name, g.bytes).expect("load")),
        real: if args.simnet_only {
            Vec::new()
        } else {
            embedded
                .iter()
                .map(|g| Component::new(&real.engine, g.bytes).expect("compile"))
                .collect()
        },
    };
    println!(
        "{} rounds, median wall time, simnet vs wasmtime-wasi on loopback (same components)",
        args.rounds
    );
    if args.wants("1") {
        echo_row(&args, &rt, &real, &g);
    }
    bulk_rows(&args, &rt, &real, &g);
    if args.wants("3") {
        tokio_row(&args, &rt, &real, &g);
    }
    if args.wants("4") {
        python_row(&args, &rt, &real, &g);
    }
    if args.wants("5") {
        call_rows(&args, &rt, &real, &g);
    }
    if args.wants("6") {
        sleep_row(&args, &rt, &g);
    }
    p3_rows(&args, &rt, &real, &g);
}

/// The port of an address: WASI 0.3 servers listen on all addresses.
fn port(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or(addr)
}

fn p3_rows(args: &Args, rt: &Runtime, real: &RealHost, g: &Guests) {
    let p3 = (&g.sim[P3_NET], g.real.get(P3_NET));
    if args.wants("7") {
        let n = args.round_trips.to_string();
        let times = server_and_client(
            args,
            rt,
            real,
            p3,
            p3,
            |addr| strings(&["echo-server", port(addr), "1"]),
            |addr| strings(&["clients", addr, "1", &n, "64"]),
        );
        print_round_trips(&format!("(7) 0.3 echo {n} x 64 B"), times, args.round_trips);
    }
    if args.wants("8") {
        for (label, bytes) in [("1 MiB", "1048576"), ("64 MiB", "67108864")] {
            bulk_row(
                args,
                rt,
                real,
                (g, P3_NET),
                &format!("(8) 0.3 bulk {label}"),
                bytes,
                |addr| strings(&["sink", port(addr)]),
                |addr| strings(&["source", addr, bytes]),
            );
        }
    }
    if args.wants("9") {
        let each = (args.round_trips / 100).max(1);
        let n = each.to_string();
        let times = server_and_client(
            args,
            rt,
            real,
            p3,
            p3,
            |addr| strings(&["echo-server", port(addr), "100"]),
            |addr| strings(&["clients", addr, "100", &n, "64"]),
        );
        let label = format!("(9) 0.3, 100 connections x {each} x 64 B");
        print_round_trips(&label, times, each * 100);
    }
}

/// A server and a client guest, on simnet against the kernel; `server_args` and
/// `client_args` give their arguments for the server's address.
fn server_and_client(
    args: &Args,
    rt: &Runtime,
    real: &RealHost,
    server: (&Program, Option<&Component>),
    client: (&Program, Option<&Component>),
    server_args: impl Fn(&str) -> Vec<String>,
    client_args: impl Fn(&str) -> Vec<String>,
) -> (Duration, Duration) {
    compare(
        args,
        || {
            let (s, c) = (server_args("10.0.0.1:7"), client_args("10.0.0.1:7"));
            on_simnet(rt, &[(server.0, &words(&s)), (client.0, &words(&c))])
        },
        || {
            let addr = kernel_address();
            let (s, c) = (server_args(&addr), client_args(&addr));
            let component = |c: Option<&Component>| c.expect("compiled for the kernel").clone();
            let (rs, rc) = (component(server.1), component(client.1));
            real.run(&[(&rs, &words(&s)), (&rc, &words(&c))])
        },
    )
}

/// Print a round-trip row: times, time per round trip, and the ratio.
fn print_round_trips(label: &str, (s, k): (Duration, Duration), round_trips: u64) {
    println!(
        "{label}: simnet {:>8.1} ms ({:.2} us/RT)   kernel {:>8.1} ms ({:.2} us/RT)   simnet is {:.1}x faster",
        ms(s),
        per_rt(s, round_trips),
        ms(k),
        per_rt(k, round_trips),
        k.as_secs_f64() / s.as_secs_f64()
    );
}

fn words(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn echo_row(args: &Args, rt: &Runtime, real: &RealHost, g: &Guests) {
    let n = args.round_trips.to_string();
    let times = server_and_client(
        args,
        rt,
        real,
        (&g.sim[ECHO_SERVER], g.real.get(ECHO_SERVER)),
        (&g.sim[ECHO_CLIENT], g.real.get(ECHO_CLIENT)),
        |addr| strings(&[addr, "1"]),
        |addr| strings(&[addr, &n, "64"]),
    );
    print_round_trips(&format!("(1) echo {n} x 64 B"), times, args.round_trips);
}

fn bulk_rows(args: &Args, rt: &Runtime, real: &RealHost, g: &Guests) {
    let rows = [
        ("2", "(2) bulk 1 MiB", "bulk-recv", "bulk-send", "1048576"),
        (
            "2b",
            "(2b) bulk 1 MiB, light",
            "bulk-recv-light",
            "bulk-send-light",
            "1048576",
        ),
        (
            "2b",
            "(2b) bulk 64 MiB, light",
            "bulk-recv-light",
            "bulk-send-light",
            "67108864",
        ),
    ];
    for (row, label, recv, send, bytes) in rows {
        if args.wants(row) {
            bulk_row(
                args,
                rt,
                real,
                (g, PROBE),
                label,
                bytes,
                |addr| strings(&[recv, addr]),
                |addr| strings(&[send, addr, bytes]),
            );
        }
    }
}

/// A bulk transfer from a sending guest to a receiving one, each given its
/// arguments for the receiver's address: on simnet both on one host (loopback) and
/// on two, against the kernel's loopback; prints the times, rates and ratios.
#[allow(clippy::too_many_arguments)]
fn bulk_row(
    args: &Args,
    rt: &Runtime,
    real: &RealHost,
    (g, guest): (&Guests, usize),
    label: &str,
    bytes: &str,
    recv_args: impl Fn(&str) -> Vec<String>,
    send_args: impl Fn(&str) -> Vec<String>,
) {
    let sim = &g.sim[guest];
    let on = |addr: &str| (recv_args(addr), send_args(addr));
    let mut two_hosts = Vec::new();
    let (one, k) = compare(
        args,
        || {
            let (r, s) = on("10.0.0.1:7");
            two_hosts.push(on_simnet(rt, &[(sim, &words(&r)), (sim, &words(&s))]));
            let (r, s) = on("127.0.0.1:7");
            on_simnet_loopback(rt, &[(sim, &words(&r)), (sim, &words(&s))])
        },
        || {
            let (r, s) = on(&kernel_address());
            let kernel = &g.real[guest];
            real.run(&[(kernel, &words(&r)), (kernel, &words(&s))])
        },
    );
    let two = median(two_hosts);
    let mb = bytes.parse::<f64>().unwrap_or(0.0) / 1e6;
    let rate = |d: Duration| mb / d.as_secs_f64();
    println!(
        "{label}: simnet loopback {:>7.1} ms ({:.0} MB/s), two hosts {:>7.1} ms ({:.0} MB/s)   kernel loopback {:>7.1} ms ({:.0} MB/s)   simnet is {:.2}x / {:.2}x faster",
        ms(one),
        rate(one),
        ms(two),
        rate(two),
        ms(k),
        rate(k),
        k.as_secs_f64() / one.as_secs_f64(),
        k.as_secs_f64() / two.as_secs_f64(),
    );
}

fn tokio_row(args: &Args, rt: &Runtime, real: &RealHost, g: &Guests) {
    const CONNS: &str = "100";
    let rounds_each = (args.round_trips / 100).max(1);
    let each = rounds_each.to_string();
    let times = server_and_client(
        args,
        rt,
        real,
        (&g.sim[MANY], g.real.get(MANY)),
        (&g.sim[TOKIO_LOAD], g.real.get(TOKIO_LOAD)),
        |addr| strings(&["serve", addr, CONNS]),
        |addr| strings(&[addr, CONNS, &each, "64"]),
    );
    let label = format!("(3) tokio, 100 connections x {each} x 64 B");
    print_round_trips(&label, times, rounds_each * 100);
}

fn python_row(args: &Args, rt: &Runtime, real: &RealHost, g: &Guests) {
    let path = match simnet_guests::python::build("echo_client") {
        Ok(path) => path,
        Err(why) => return println!("(4) Python echo: skipped ({why})"),
    };
    let bytes = std::fs::read(&path).expect("the built Python component");
    let sim_client = rt.load_bytes("echo_client", &bytes).expect("load");
    let real_client =
        (!args.simnet_only).then(|| Component::new(&real.engine, &bytes).expect("compile"));
    let n = (args.round_trips / 10).max(1);
    let count = n.to_string();
    let times = server_and_client(
        args,
        rt,
        real,
        (&g.sim[ECHO_SERVER], g.real.get(ECHO_SERVER)),
        (&sim_client, real_client.as_ref()),
        |addr| strings(&[addr, "1"]),
        |addr| strings(&[addr, &count, "64"]),
    );
    print_round_trips(&format!("(4) Python echo {n} x 64 B"), times, n);
}

fn call_rows(args: &Args, rt: &Runtime, real: &RealHost, g: &Guests) {
    const CALLS: u64 = 200_000;
    let calls = CALLS.to_string();
    for kind in ["clock", "check-write", "read-empty", "ready", "round-trip"] {
        let time = |count: &str| {
            compare(
                args,
                || on_simnet(rt, &[(&g.sim[MANY], &["calls", kind, count])]),
                || real.run(&[(&g.real[MANY], &["calls", kind, count])]),
            )
        };
        let (s0, k0) = time("0");
        let (s, k) = time(&calls);
        let ns =
            |d: Duration, base: Duration| d.saturating_sub(base).as_secs_f64() * 1e9 / CALLS as f64;
        let (s_ns, k_ns) = (ns(s, s0), ns(k, k0));
        println!(
            "(5) per call, {kind:<11}: simnet {s_ns:>7.0} ns   kernel {k_ns:>7.0} ns   simnet is {:.1}x faster",
            k_ns / s_ns
        );
    }
}

fn sleep_row(args: &Args, rt: &Runtime, g: &Guests) {
    let mut sleeps = Vec::new();
    for _ in 0..args.rounds {
        let start = Instant::now();
        let mut sim = Sim::new(rt, SimConfig::new(1));
        let h = sim
            .add_host("sleeper", &["10.0.0.1".parse().unwrap()])
            .unwrap();
        sim.spawn(GuestSpec::new("sleeper", h, g.sim[PROBE].clone()).args(["sleep", "600", "600"]));
        let report = sim.run();
        assert_eq!(report.guests[0].outcome, Outcome::Exited(0));
        assert_eq!(report.end.as_nanos(), 600_000_000_000);
        sleeps.push(start.elapsed());
    }
    println!(
        "(6) 10 min of virtual sleeps (600 x 1 s): {:.2} ms wall (goal: under 50 ms)",
        median(sleeps).as_secs_f64() * 1e3
    );
}
