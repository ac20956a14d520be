//! Runs the same workloads on simnet-core, turmoil 0.7.2 and turmoil-net 0.1.0 in
//! one process, interleaved, and prints each figure (median wall time of several
//! rounds) and the ratios. Usage: `simnet-bench [--rounds N] [--quick] [--only SIMULATOR] [--workload N]`.
//!
//! (1) 2 hosts, 1 ms one-way latency, 100,000 round trips of 64 bytes on one connection
//! (2) 64 MiB bulk transfer in 64 KiB writes
//! (3) 1 server + 100 client hosts, 100 round trips of 64 bytes each
//! (4) a client sleeps 60 simulated seconds, then does one round trip
//! (5) UDP: 2 hosts, 1 ms one-way latency, 100,000 datagram request/answer pairs
//! (6) UDP: 1 server + 100 client hosts, 100 request/answer pairs each

mod simnet;
mod turmoil_net_peer;
mod turmoil_peer;

use std::time::{Duration, Instant};

use simnet_core::TraceMode;

pub const MSG: usize = 64;

/// What a workload reports: simulated time and the number of operations (round trips
/// or bytes) the wall time is divided by.
pub struct Outcome {
    pub sim: Duration,
    pub ops: usize,
}

struct Sizes {
    rt: usize,
    bulk: usize,
    fan_clients: usize,
    fan_rt: usize,
}

type Run = Box<dyn Fn(&Sizes) -> Outcome>;

struct Workload {
    name: &'static str,
    unit: &'static str,
    runs: Vec<(&'static str, Run)>,
}

fn workloads() -> Vec<Workload> {
    const CHUNK: usize = 64 << 10;
    vec![
        Workload {
            name: "(1) 1 conn, 1 ms, 64 B round trips",
            unit: "us/RT",
            runs: vec![
                (
                    "simnet",
                    Box::new(|s| simnet::round_trips(1, s.rt, TraceMode::Full)),
                ),
                (
                    "simnet (hash-only trace)",
                    Box::new(|s| simnet::round_trips(1, s.rt, TraceMode::HashOnly)),
                ),
                ("turmoil", Box::new(|s| turmoil_peer::round_trips(1, s.rt))),
                (
                    "turmoil-net",
                    Box::new(|s| turmoil_net_peer::round_trips(1, s.rt)),
                ),
            ],
        },
        Workload {
            name: "(2) 64 MiB bulk, 64 KiB writes",
            unit: "GB/s",
            runs: vec![
                (
                    "simnet",
                    Box::new(|s| simnet::bulk(s.bulk, CHUNK, TraceMode::Full)),
                ),
                (
                    "simnet (hash-only trace)",
                    Box::new(|s| simnet::bulk(s.bulk, CHUNK, TraceMode::HashOnly)),
                ),
                ("turmoil", Box::new(|s| turmoil_peer::bulk(s.bulk, CHUNK))),
                (
                    "turmoil-net",
                    Box::new(|s| turmoil_net_peer::bulk(s.bulk, CHUNK)),
                ),
            ],
        },
        Workload {
            name: "(3) 100 clients x 100 round trips",
            unit: "us/RT",
            runs: vec![
                (
                    "simnet",
                    Box::new(|s| simnet::round_trips(s.fan_clients, s.fan_rt, TraceMode::Full)),
                ),
                (
                    "simnet (hash-only trace)",
                    Box::new(|s| simnet::round_trips(s.fan_clients, s.fan_rt, TraceMode::HashOnly)),
                ),
                (
                    "turmoil",
                    Box::new(|s| turmoil_peer::round_trips(s.fan_clients, s.fan_rt)),
                ),
                (
                    "turmoil-net",
                    Box::new(|s| turmoil_net_peer::round_trips(s.fan_clients, s.fan_rt)),
                ),
            ],
        },
        Workload {
            name: "(5) UDP: 1 ms, 64 B request and answer datagrams",
            unit: "us/RT",
            runs: vec![
                (
                    "simnet",
                    Box::new(|s| simnet::udp_round_trips(1, s.rt, TraceMode::Full)),
                ),
                (
                    "simnet (hash-only trace)",
                    Box::new(|s| simnet::udp_round_trips(1, s.rt, TraceMode::HashOnly)),
                ),
                (
                    "turmoil",
                    Box::new(|s| turmoil_peer::udp_round_trips(1, s.rt)),
                ),
                (
                    "turmoil-net",
                    Box::new(|s| turmoil_net_peer::udp_round_trips(s.rt)),
                ),
            ],
        },
        Workload {
            name: "(6) UDP: 100 clients x 100 request and answer datagrams",
            unit: "us/RT",
            runs: vec![
                (
                    "simnet",
                    Box::new(|s| simnet::udp_round_trips(s.fan_clients, s.fan_rt, TraceMode::Full)),
                ),
                (
                    "turmoil",
                    Box::new(|s| turmoil_peer::udp_round_trips(s.fan_clients, s.fan_rt)),
                ),
            ],
        },
        Workload {
            name: "(4) sleep 60 s, then 1 round trip",
            unit: "ms",
            runs: vec![
                (
                    "simnet",
                    Box::new(|_| simnet::sleep_then_round_trip(TraceMode::Full)),
                ),
                (
                    "turmoil",
                    Box::new(|_| turmoil_peer::sleep_then_round_trip()),
                ),
                (
                    "turmoil-net",
                    Box::new(|_| turmoil_net_peer::sleep_then_round_trip()),
                ),
            ],
        },
    ]
}

/// The figure in the workload's unit; for GB/s higher is better, otherwise lower.
fn figure(unit: &str, wall: Duration, ops: usize) -> f64 {
    match unit {
        "GB/s" => ops as f64 / wall.as_secs_f64() / 1e9,
        "us/RT" => wall.as_secs_f64() * 1e6 / ops as f64,
        _ => wall.as_secs_f64() * 1e3,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    let sizes = if quick {
        Sizes {
            rt: 2_000,
            bulk: 4 << 20,
            fan_clients: 100,
            fan_rt: 10,
        }
    } else {
        Sizes {
            rt: 100_000,
            bulk: 64 << 20,
            fan_clients: 100,
            fan_rt: 100,
        }
    };
    let only: Option<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    println!("simnet-bench: {rounds} round(s), median wall time per figure; quick={quick}");
    let pick: Option<String> = args
        .iter()
        .position(|a| a == "--workload")
        .and_then(|i| args.get(i + 1))
        .cloned();
    for mut w in workloads() {
        if pick
            .as_ref()
            .is_some_and(|p| !w.name.starts_with(&format!("({p})")))
        {
            continue;
        }
        if let Some(only) = &only {
            // `--only NAME` keeps the simulators whose name starts with NAME (profiling).
            w.runs.retain(|(name, _)| name.starts_with(only.as_str()));
        }
        let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); w.runs.len()];
        let mut sims = vec![Duration::ZERO; w.runs.len()];
        let mut ops = vec![0usize; w.runs.len()];
        for _ in 0..rounds {
            // Interleaved, so machine noise hits every simulator alike.
            for (i, (_, run)) in w.runs.iter().enumerate() {
                let start = Instant::now();
                let out = run(&sizes);
                walls[i].push(start.elapsed());
                sims[i] = out.sim;
                ops[i] = out.ops;
            }
        }
        println!("\n{}", w.name);
        let figures: Vec<f64> = walls
            .into_iter()
            .enumerate()
            .map(|(i, v)| figure(w.unit, median(v), ops[i]))
            .collect();
        let higher_better = w.unit == "GB/s";
        let best_peer = figures
            .iter()
            .zip(&w.runs)
            .filter(|(_, (name, _))| !name.starts_with("simnet"))
            .map(|(f, _)| *f)
            .fold(None, |acc: Option<f64>, f| {
                Some(acc.map_or(f, |a| if higher_better { a.max(f) } else { a.min(f) }))
            });
        let Some(&simnet) = figures.first() else {
            continue;
        };
        for (i, (name, _)) in w.runs.iter().enumerate() {
            let f = figures[i];
            let vs_simnet = if higher_better {
                simnet / f
            } else {
                f / simnet
            };
            println!(
                "  {name:<26} {f:>12.4} {unit:<6} (virtual {:>10.3} s)  simnet is {vs_simnet:.1}x {}",
                sims[i].as_secs_f64(),
                if higher_better {
                    "the throughput"
                } else {
                    "faster"
                },
                unit = w.unit
            );
        }
        if let Some(peer) = best_peer {
            let ratio = if higher_better {
                simnet / peer
            } else {
                peer / simnet
            };
            println!("  => simnet vs the faster peer: {ratio:.1}x");
        }
    }
}
