//! The same file workloads three ways, interleaved in one process: on simnet's
//! simulated disk, on simnet with a real directory (`--dir`), and on wasmtime-wasi
//! over a real temporary directory; prints median wall times and the ratios.
//! Usage: `files [--rounds N]`.
//!
//! (1) appends: 2,000 appends of 100 bytes, each followed by `sync_data`
//! (2) bulk: 64 MiB written in 64 KiB chunks, synced, and read back
//! (3) tree: 10,000 small files created, listed, renamed and removed

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use simnet_wasi::{DiskSource, GuestSpec, Outcome, Program, Runtime, Sim, SimConfig};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

const WORKLOADS: &[(&str, &[&str])] = &[
    (
        "2,000 appends of 100 B + sync_data",
        &["file-appends", "/data", "2000", "100"],
    ),
    (
        "64 MiB written, synced, read",
        &["file-bulk", "/data", "64"],
    ),
    (
        "10,000 files created, listed, renamed, removed",
        &["file-tree", "/data", "10000"],
    ),
];

/// A fresh empty directory on this machine's disk.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("simnet-files-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// One run on simnet: the guest's directory on the simulated disk, or (with `dir`)
/// the real one.
fn on_simnet(rt: &Runtime, program: &Program, args: &[&str], dir: Option<&Path>) -> Duration {
    let mut sim = Sim::new(rt, SimConfig::new(1));
    let host = sim
        .add_host("host", &["10.0.0.1".parse().unwrap()])
        .expect("host");
    let spec = GuestSpec::new("guest", host, program.clone()).args(args.iter().copied());
    let spec = match dir {
        Some(dir) => spec.dir(dir, "/data"),
        None => spec.disk("/data", DiskSource::Empty),
    };
    sim.spawn(spec);
    let start = Instant::now();
    let report = sim.run();
    let took = start.elapsed();
    assert_eq!(
        report.guests[0].outcome,
        Outcome::Exited(0),
        "{:?}",
        sim.output_of("guest").map(|o| o.stderr())
    );
    took
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

/// One run on wasmtime-wasi, the directory a real one on this machine's disk.
fn on_wasmtime(
    engine: &Engine,
    linker: &Linker<Real>,
    component: &Component,
    args: &[&str],
    dir: &Path,
) -> Duration {
    let mut b = WasiCtxBuilder::new();
    b.arg("guest.wasm").args(args);
    b.preopened_dir(dir, "/data", FsPerms::ReadWrite)
        .expect("preopen");
    let mut store = Store::new(
        engine,
        Real {
            wasi: b.build(),
            table: ResourceTable::new(),
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let start = Instant::now();
    let result = rt.block_on(async {
        let command =
            wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, component, linker)
                .await?;
        command.wasi_cli_run().call_run(&mut store).await
    });
    let took = start.elapsed();
    assert!(matches!(result, Ok(Ok(()))), "{result:?}");
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut rounds = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds needs a number")
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let rt = Runtime::with_cache_dir(None).expect("runtime");
    let guest = simnet_guests::PROBE;
    let program = rt
        .load_bytes(guest.name, guest.bytes)
        .expect("the probe loads");
    let engine = Engine::new(&Config::new()).expect("engine");
    let mut linker = Linker::<Real>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("link");
    let component = Component::new(&engine, guest.bytes).expect("compile");
    println!(
        "{:<48} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "workload (median of rounds, wall ms)",
        "sim disk",
        "sim --dir",
        "wasmtime",
        "disk x",
        "--dir x"
    );
    for (name, args) in WORKLOADS {
        let (mut disk, mut dir, mut real) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            // Interleaved, so the machine's noise falls on all three alike.
            disk.push(on_simnet(&rt, &program, args, None));
            let d = scratch(&format!("sim-{round}"));
            dir.push(on_simnet(&rt, &program, args, Some(&d)));
            let _ = std::fs::remove_dir_all(&d);
            let d = scratch(&format!("real-{round}"));
            real.push(on_wasmtime(&engine, &linker, &component, args, &d));
            let _ = std::fs::remove_dir_all(&d);
        }
        let (disk, dir, real) = (median(disk), median(dir), median(real));
        println!(
            "{name:<48} {:>12.1} {:>12.1} {:>12.1} {:>9.1} {:>9.2}",
            ms(disk),
            ms(dir),
            ms(real),
            real.as_secs_f64() / disk.as_secs_f64(),
            real.as_secs_f64() / dir.as_secs_f64(),
        );
    }
    println!(
        "disk x: how many times faster the simulated disk is than wasmtime-wasi on this \
         machine's disk; --dir x: the same for simnet's real-directory path (1 = as fast)"
    );
}
