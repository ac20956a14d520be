//! What compiling components costs a test run, with each compiler wasmtime offers:
//! Cranelift (the default) and Winch (the baseline compiler). For each, every one of
//! simnet's test guests is compiled with no cache, then an echo world (a server and a
//! client, 200 round trips of 64 bytes) runs twice under one seed, to show that fuel
//! and determinism hold and what the compiled code costs at run time.
//!
//! `cargo run --release -p simnet-bench --bin compile -- [--rounds N]`

use std::time::{Duration, Instant};

use simnet_core::LinkConfig;
use simnet_wasi::{Compiler, GuestSpec, Program, Runtime, Sim, SimConfig};

struct Figures {
    compile: Duration,
    bytes: usize,
    run: Duration,
    client_fuel: u64,
    hashes_equal: bool,
}

fn runtime(compiler: Compiler) -> Runtime {
    let config = compiler.config().expect("both compilers are built in");
    Runtime::with_config(&config, None).expect("the engine")
}

fn echo_world(rt: &Runtime, server: &Program, client: &Program, seed: u64) -> (u64, u64) {
    let mut sim = Sim::new(rt, SimConfig::new(seed));
    let (s, c) = sim
        .with_net(|net| {
            net.set_default_link(LinkConfig::with_latency(Duration::from_micros(50)))?;
            Ok::<_, simnet_core::NetError>((
                net.add_host("server", &["10.0.0.1".parse().expect("an address")])?,
                net.add_host("client", &["10.0.0.2".parse().expect("an address")])?,
            ))
        })
        .expect("the hosts");
    sim.spawn(GuestSpec::new("server", s, server.clone()).arg("0.0.0.0:7000"));
    sim.spawn(
        GuestSpec::new("client", c, client.clone())
            .args(["10.0.0.1:7000", "200", "64"])
            .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let client = report.guest("client").expect("a client");
    assert!(client.outcome.is_success(), "{}", sim.explain(&report));
    (report.trace_hash, client.fuel)
}

fn measure(compiler: Compiler) -> Figures {
    let rt = runtime(compiler);
    let start = Instant::now();
    let mut bytes = 0;
    for g in simnet_guests::ALL {
        rt.load_bytes(g.name, g.bytes).expect("the guest compiles");
        bytes += g.bytes.len();
    }
    let compile = start.elapsed();
    let load = |name: &str| {
        let g = simnet_guests::get(name).expect("a guest");
        rt.load_bytes(g.name, g.bytes).expect("loaded")
    };
    let (server, client) = (load("echo-server"), load("echo-client"));
    let start = Instant::now();
    let (h1, fuel) = echo_world(&rt, &server, &client, 1);
    let run = start.elapsed();
    let (h2, _) = echo_world(&rt, &server, &client, 1);
    Figures {
        compile,
        bytes,
        run,
        client_fuel: fuel,
        hashes_equal: h1 == h2,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut rounds = 3;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().and_then(|n| n.parse().ok())) {
            ("--rounds", Some(n)) if n > 0 => rounds = n,
            _ => {
                eprintln!("usage: compile [--rounds N]");
                std::process::exit(2);
            }
        }
    }
    println!(
        "{} guests, compiled with no cache; echo world: 200 round trips of 64 B; medians of {rounds}",
        simnet_guests::ALL.len()
    );
    println!("| compiler | compile all | MB/s | echo run | client fuel | same seed, same trace |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, compiler) in [
        ("Cranelift", Compiler::Cranelift),
        ("Winch", Compiler::Winch),
    ] {
        let figures: Vec<Figures> = (0..rounds).map(|_| measure(compiler)).collect();
        let compile = median(figures.iter().map(|f| f.compile).collect());
        let run = median(figures.iter().map(|f| f.run).collect());
        let f = &figures[0];
        println!(
            "| {name} | {:.0} ms | {:.1} | {:.1} ms | {} | {} |",
            compile.as_secs_f64() * 1e3,
            f.bytes as f64 / compile.as_secs_f64() / 1e6,
            run.as_secs_f64() * 1e3,
            f.client_fuel,
            figures.iter().all(|f| f.hashes_equal),
        );
    }
}
