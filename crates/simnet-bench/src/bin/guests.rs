//! The same guest components on simnet and on wasmtime-wasi's real sockets over
//! loopback, interleaved in one process; prints median wall times and the ratios.
//! Usage: `guests [--rounds N] [--round-trips N]`.
//!
//! (1) echo: 10,000 round trips of 64 bytes between an echo server and client guest
//! (2) bulk: a 1 MiB transfer, then the receiver's checksum back (both guests do
//!     per-byte work: a pattern and FNV-1a)
//! (2b) bulk with light guests: 1 MiB and 64 MiB of one buffer sent again and again,
//!     a word-sum digest back (what the data path itself costs)
//! (3) sleeps: one guest sleeping 10 minutes of virtual time in 600 sleeps (simnet only)

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
}

fn parse_args() -> Args {
    let mut args = Args {
        rounds: 5,
        round_trips: 10_000,
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
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// Two guests on simnet (server on one host, client on another, zero-latency link).
fn on_simnet(rt: &Runtime, server: (&Program, &[&str]), client: (&Program, &[&str])) -> Duration {
    let start = Instant::now();
    let mut sim = Sim::new(rt, SimConfig::new(1));
    let s = sim
        .add_host("server", &["10.0.0.1".parse().unwrap()])
        .unwrap();
    let c = sim
        .add_host("client", &["10.0.0.2".parse().unwrap()])
        .unwrap();
    sim.spawn(GuestSpec::new("server", s, server.0.clone()).args(server.1.iter().copied()));
    sim.spawn(GuestSpec::new("client", c, client.0.clone()).args(client.1.iter().copied()));
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
        RealHost { engine, linker }
    }

    fn store(&self, args: &[&str]) -> Store<Real> {
        let wasi = WasiCtxBuilder::new()
            .arg("guest")
            .args(args)
            .allow_tcp(true)
            // Loopback only: nothing leaves the machine.
            .socket_addr_check(|addr, use_| {
                Box::pin(async move {
                    addr.ip().is_loopback() || matches!(use_, SocketAddrUse::TcpBind)
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

    /// Two guests in one current-thread tokio runtime, as `wasmtime run` would drive them.
    fn run(&self, server: (&Component, &[&str]), client: (&Component, &[&str])) -> Duration {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let start = Instant::now();
        rt.block_on(async {
            let mut ss = self.store(server.1);
            let mut cs = self.store(client.1);
            let s = wasmtime_wasi::p2::bindings::Command::instantiate_async(
                &mut ss,
                server.0,
                &self.linker,
            )
            .await
            .expect("instantiate server");
            let c = wasmtime_wasi::p2::bindings::Command::instantiate_async(
                &mut cs,
                client.0,
                &self.linker,
            )
            .await
            .expect("instantiate client");
            let server = tokio::spawn(async move { s.wasi_cli_run().call_run(&mut ss).await });
            // Let the server reach `accept` before the client connects.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let client = c.wasi_cli_run().call_run(&mut cs).await;
            assert!(
                matches!(client, Ok(Ok(()))),
                "client on the real kernel: {client:?}"
            );
            let server = server.await.expect("join");
            assert!(
                matches!(server, Ok(Ok(()))),
                "server on the real kernel: {server:?}"
            );
        });
        start.elapsed() - Duration::from_millis(20)
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

fn main() {
    let args = parse_args();
    let dir = std::env::temp_dir().join("simnet-bench-cache");
    let rt = Runtime::with_cache_dir(Some(dir)).expect("runtime");
    let load = |g: simnet_guests::Guest| rt.load_bytes(g.name, g.bytes).expect("load");
    let (echo_server, echo_client, probe) = (
        load(simnet_guests::ECHO_SERVER),
        load(simnet_guests::ECHO_CLIENT),
        load(simnet_guests::PROBE),
    );
    let real = RealHost::new();
    let real_component =
        |g: simnet_guests::Guest| Component::new(&real.engine, g.bytes).expect("compile");
    let (r_server, r_client, r_probe) = (
        real_component(simnet_guests::ECHO_SERVER),
        real_component(simnet_guests::ECHO_CLIENT),
        real_component(simnet_guests::PROBE),
    );
    let n = args.round_trips.to_string();
    println!(
        "{} rounds, median wall time, simnet vs wasmtime-wasi on loopback (same components)",
        args.rounds
    );

    let (mut sim, mut kernel) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        sim.push(on_simnet(
            &rt,
            (&echo_server, &["10.0.0.1:7", "1"]),
            (&echo_client, &["10.0.0.1:7", &n, "64"]),
        ));
        let addr = format!("127.0.0.1:{}", free_port());
        kernel.push(real.run((&r_server, &[&addr, "1"]), (&r_client, &[&addr, &n, "64"])));
    }
    let (s, k) = (median(sim), median(kernel));
    let per = |d: Duration| d.as_secs_f64() * 1e6 / args.round_trips as f64;
    println!(
        "(1) echo {n} x 64 B: simnet {:>8.1} ms ({:.2} us/RT)   kernel {:>8.1} ms ({:.2} us/RT)   simnet is {:.1}x faster",
        s.as_secs_f64() * 1e3,
        per(s),
        k.as_secs_f64() * 1e3,
        per(k),
        k.as_secs_f64() / s.as_secs_f64()
    );

    let (mut sim, mut kernel) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        sim.push(on_simnet(
            &rt,
            (&probe, &["bulk-recv", "10.0.0.1:7"]),
            (&probe, &["bulk-send", "10.0.0.1:7", "1048576"]),
        ));
        let addr = format!("127.0.0.1:{}", free_port());
        kernel.push(real.run(
            (&r_probe, &["bulk-recv", &addr]),
            (&r_probe, &["bulk-send", &addr, "1048576"]),
        ));
    }
    let (s, k) = (median(sim), median(kernel));
    println!(
        "(2) bulk 1 MiB:        simnet {:>8.1} ms   kernel {:>8.1} ms   ratio kernel/simnet {:.2}",
        s.as_secs_f64() * 1e3,
        k.as_secs_f64() * 1e3,
        k.as_secs_f64() / s.as_secs_f64()
    );

    for (label, bytes) in [("1 MiB", "1048576"), ("64 MiB", "67108864")] {
        let (mut sim, mut kernel) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            sim.push(on_simnet(
                &rt,
                (&probe, &["bulk-recv-light", "10.0.0.1:7"]),
                (&probe, &["bulk-send-light", "10.0.0.1:7", bytes]),
            ));
            let addr = format!("127.0.0.1:{}", free_port());
            kernel.push(real.run(
                (&r_probe, &["bulk-recv-light", &addr]),
                (&r_probe, &["bulk-send-light", &addr, bytes]),
            ));
        }
        let (s, k) = (median(sim), median(kernel));
        let mb = bytes.parse::<f64>().unwrap_or(0.0) / 1e6;
        println!(
            "(2b) bulk {label}, light guests: simnet {:>8.1} ms ({:.0} MB/s)   kernel {:>8.1} ms ({:.0} MB/s)   ratio kernel/simnet {:.2}",
            s.as_secs_f64() * 1e3,
            mb / s.as_secs_f64(),
            k.as_secs_f64() * 1e3,
            mb / k.as_secs_f64(),
            k.as_secs_f64() / s.as_secs_f64()
        );
    }

    let mut sleeps = Vec::new();
    for _ in 0..args.rounds {
        let start = Instant::now();
        let mut sim = Sim::new(&rt, SimConfig::new(1));
        let h = sim
            .add_host("sleeper", &["10.0.0.1".parse().unwrap()])
            .unwrap();
        sim.spawn(GuestSpec::new("sleeper", h, probe.clone()).args(["sleep", "600", "600"]));
        let report = sim.run();
        assert_eq!(report.guests[0].outcome, Outcome::Exited(0));
        assert_eq!(report.end.as_nanos(), 600_000_000_000);
        sleeps.push(start.elapsed());
    }
    println!(
        "(3) 10 min of virtual sleeps (600 x 1 s): {:.2} ms wall (goal: under 50 ms)",
        median(sleeps).as_secs_f64() * 1e3
    );
}
