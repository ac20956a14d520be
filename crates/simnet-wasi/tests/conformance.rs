//! The differential conformance test: guests that call socket methods in every state
//! they reach and print each result run on simnet and on wasmtime-wasi 48's real
//! sockets (loopback only), and must print the same and end the same way.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{describe, program, two_hosts};
use simnet_wasi::{GuestSpec, Outcome, Program};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

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

/// Nothing may leave the machine: connections and datagrams go to loopback only.
/// Binds and listens (which send nothing) may name any address, so that binding a
/// foreign address fails the way the kernel makes it fail, and a WASI 0.3 listen
/// may bind the unspecified address itself.
fn loopback_only(addr: SocketAddr, use_: SocketAddrUse) -> bool {
    addr.ip().is_loopback()
        || matches!(
            use_,
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind | SocketAddrUse::TcpListen
        )
}

/// How a run ended, in the terms both sides share.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Exited(i32),
    Trapped,
}

struct Run {
    stdout: String,
    ending: Ending,
    detail: String,
}

fn run_on_real_wasmtime(bytes: &[u8], args: &[&str]) -> Run {
    run_on_real_wasmtime_with(bytes, args, None)
}

/// With `dir`: a host directory preopened read-write as `/data`.
fn run_on_real_wasmtime_with(bytes: &[u8], args: &[&str], dir: Option<&std::path::Path>) -> Run {
    let engine = Engine::new(&Config::new()).expect("engine");
    let mut linker = Linker::<Real>::new(&engine);
    let mut options = wasmtime_wasi::p2::bindings::LinkOptions::default();
    options.network_error_code(true);
    wasmtime_wasi::p2::add_to_linker_with_options_async(&mut linker, &options).expect("link");
    wasmtime_wasi::p3::add_to_linker(&mut linker).expect("link 0.3");
    let stdout = MemoryOutputPipe::new(1 << 20);
    let stderr = MemoryOutputPipe::new(1 << 20);
    let mut builder = WasiCtxBuilder::new();
    if let Some(dir) = dir {
        builder
            .preopened_dir(dir, "/data", wasmtime_wasi::FsPerms::ReadWrite)
            .expect("preopen");
    }
    let wasi = builder
        .arg("guest.wasm")
        .args(args)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(true)
        .allow_udp(true)
        .socket_addr_check(|addr, use_| Box::pin(async move { loopback_only(addr, use_) }))
        .allow_ip_name_lookup(true)
        .build();
    let mut store = Store::new(
        &engine,
        Real {
            wasi,
            table: ResourceTable::new(),
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let result = rt.block_on(async {
        let component = Component::new(&engine, bytes)?;
        let p3 = component
            .component_type()
            .exports(&engine)
            .any(|(name, _)| name.starts_with("wasi:cli/run@0.3"));
        if p3 {
            // As `wasmtime run` 48 runs a command exporting both versions of `run`.
            let command = wasmtime_wasi::p3::bindings::Command::instantiate_async(
                &mut store, &component, &linker,
            )
            .await?;
            return store
                .run_concurrent(async |a| command.wasi_cli_run().call_run(a).await)
                .await?;
        }
        let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(
            &mut store, &component, &linker,
        )
        .await?;
        command.wasi_cli_run().call_run(&mut store).await
    });
    let ending = match &result {
        Ok(Ok(())) => Ending::Exited(0),
        Ok(Err(())) => Ending::Exited(1),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => Ending::Exited(exit.0),
            None => Ending::Trapped,
        },
    };
    Run {
        stdout: String::from_utf8_lossy(&stdout.contents()).into_owned(),
        ending,
        detail: format!(
            "{result:?}\nstderr:\n{}",
            String::from_utf8_lossy(&stderr.contents())
        ),
    }
}

fn run_on_simnet(program: Program, args: &[&str], seed: u64) -> Run {
    run_on_simnet_with(program, args, seed, false)
}

/// With `disk`: an empty directory mounted as `/data` on the host's simulated disk.
fn run_on_simnet_with(program: Program, args: &[&str], seed: u64, disk: bool) -> Run {
    let (mut sim, server, _) = two_hosts(seed, Duration::from_millis(1));
    let mut spec = GuestSpec::new("guest", server, program).args(args.iter().copied());
    if disk {
        spec = spec.disk("/data", simnet_wasi::DiskSource::Empty);
    }
    sim.spawn(spec);
    let report = sim.run();
    let ending = match &report.guests[0].outcome {
        Outcome::Exited(code) => Ending::Exited(*code),
        Outcome::Trapped { .. } => Ending::Trapped,
        other => panic!(
            "simnet run did not end: {other}\n{}",
            describe(&sim, &report)
        ),
    };
    Run {
        stdout: sim.output(sim.guest_id("guest").unwrap()).stdout(),
        ending,
        detail: describe(&sim, &report),
    }
}

/// Fail with a line-by-line diff unless both runs printed and ended the same.
fn assert_same(what: &str, real: &Run, sim: &Run) {
    if real.stdout == sim.stdout && real.ending == sim.ending {
        return;
    }
    let mut diff = String::new();
    let (r, s): (Vec<&str>, Vec<&str>) =
        (real.stdout.lines().collect(), sim.stdout.lines().collect());
    for i in 0..r.len().max(s.len()) {
        let (a, b) = (r.get(i).copied(), s.get(i).copied());
        if a != b {
            diff.push_str(&format!(
                "line {}: real: {}\n         simnet: {}\n",
                i + 1,
                a.unwrap_or("<none>"),
                b.unwrap_or("<none>")
            ));
        }
    }
    panic!(
        "{what}: simnet differs from wasmtime-wasi on the real kernel\n\
         endings: real {:?}, simnet {:?}\n{diff}\n--- real ---\n{}\n{}\n--- simnet ---\n{}\n{}",
        real.ending, sim.ending, real.stdout, real.detail, sim.stdout, sim.detail
    );
}

#[test]
fn conformance_guest_matches_real_wasmtime() {
    let real = run_on_real_wasmtime(simnet_guests::CONFORMANCE.bytes, &[]);
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    let sim = run_on_simnet(program("conformance"), &[], 1);
    assert_same("conformance", &real, &sim);
}

#[test]
fn wasi_0_3_conformance_guest_matches_real_wasmtime() {
    let real = run_on_real_wasmtime(simnet_guests::CONFORMANCE_P3.bytes, &[]);
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    let sim = run_on_simnet(program("conformance-p3"), &[], 1);
    assert_same("conformance-p3", &real, &sim);
}

#[test]
fn wasi_0_3_files_on_a_simulated_disk_match_real_wasmtime_on_a_real_directory() {
    let dir = scratch("conformance-p3-files");
    let real = run_on_real_wasmtime_with(
        simnet_guests::CONFORMANCE_P3.bytes,
        &["files", "/data"],
        Some(&dir),
    );
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    let sim = run_on_simnet_with(program("conformance-p3"), &["files", "/data"], 1, true);
    assert_same("conformance-p3 files", &real, &sim);
}

#[test]
fn conformance_output_is_the_same_under_other_seeds() {
    let first = run_on_simnet(program("conformance"), &[], 2).stdout;
    for seed in [3, 4, 5] {
        assert_eq!(
            run_on_simnet(program("conformance"), &[], seed).stdout,
            first,
            "seed {seed}"
        );
    }
}

#[test]
fn misuse_of_streams_ends_the_guest_as_on_wasmtime() {
    for case in [
        "write-unpermitted",
        "write-beyond-permit",
        "write-twice-after-one-check",
        "write-zeroes-beyond-permit",
        "blocking-write-too-large",
        "write-empty-while-writing",
        "drop-socket-before-streams",
    ] {
        let real = run_on_real_wasmtime(simnet_guests::CONFORMANCE.bytes, &[case]);
        assert_eq!(real.ending, Ending::Trapped, "{case}: {}", real.detail);
        let sim = run_on_simnet(program("conformance"), &[case], 1);
        assert_same(case, &real, &sim);
    }
}

#[test]
fn udp_conformance_guest_matches_real_wasmtime() {
    let real = run_on_real_wasmtime(simnet_guests::CONFORMANCE_UDP.bytes, &[]);
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    let sim = run_on_simnet(program("conformance-udp"), &[], 1);
    assert_same("conformance-udp", &real, &sim);
}

#[test]
fn misuse_of_udp_streams_ends_the_guest_as_on_wasmtime() {
    for case in [
        "send-unpermitted",
        "send-beyond-permit",
        "send-twice-after-one-check",
        "stream-twice",
        "drop-socket-before-streams",
    ] {
        let real = run_on_real_wasmtime(simnet_guests::CONFORMANCE_UDP.bytes, &[case]);
        assert_eq!(real.ending, Ending::Trapped, "{case}: {}", real.detail);
        let sim = run_on_simnet(program("conformance-udp"), &[case], 1);
        assert_same(case, &real, &sim);
    }
}

#[test]
fn rust_std_guest_matches_real_wasmtime() {
    let real = run_on_real_wasmtime(simnet_guests::CONFORMANCE_STD.bytes, &[]);
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    let sim = run_on_simnet(program("conformance-std"), &[], 1);
    assert_same("conformance-std", &real, &sim);
}

#[test]
fn tokio_guest_matches_real_wasmtime() {
    let real = run_on_real_wasmtime(simnet_guests::CONFORMANCE_TOKIO.bytes, &[]);
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    let sim = run_on_simnet(program("conformance-tokio"), &[], 1);
    assert_same("conformance-tokio", &real, &sim);
}

#[test]
fn python_guest_matches_real_wasmtime() {
    let path = match simnet_guests::python::build("conformance") {
        Ok(path) => path,
        Err(why) => {
            // Written to the terminal directly: a skipped comparison must be seen,
            // not captured with the output of a passing test.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED python_guest_matches_real_wasmtime: the Python guest cannot be built: {why}"
            );
            return;
        }
    };
    let bytes = std::fs::read(&path).expect("read the Python component");
    let real = run_on_real_wasmtime(&bytes, &[]);
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    let program = common::runtime()
        .load_bytes("conformance.py.wasm", &bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    let sim = run_on_simnet(program, &[], 1);
    assert_same("conformance.py", &real, &sim);
}

/// A fresh empty directory for a real run.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn files_guest_on_a_simulated_disk_matches_real_wasmtime_on_a_real_directory() {
    let dir = scratch("conformance-files");
    let real = run_on_real_wasmtime_with(
        simnet_guests::CONFORMANCE_FILES.bytes,
        &["/data"],
        Some(&dir),
    );
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    let sim = run_on_simnet_with(program("conformance-files"), &["/data"], 1, true);
    assert_same("conformance-files", &real, &sim);
}

/// A guest built on demand (Python, Go) run on the simulated disk and on a real
/// directory, compared; skipped, saying why, when the guest cannot be built.
fn files_guest_matches(test: &str, built: Result<std::path::PathBuf, String>) {
    let path = match built {
        Ok(path) => path,
        Err(why) => {
            // Written to the terminal directly: a skipped comparison must be seen,
            // not captured with the output of a passing test.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: the guest cannot be built: {why}"
            );
            return;
        }
    };
    let bytes = std::fs::read(&path).expect("read the component");
    let real = run_on_real_wasmtime_with(&bytes, &[], Some(&scratch(test)));
    assert!(
        real.stdout.contains("== done"),
        "the real run stopped early:\n{}\n{}",
        real.stdout,
        real.detail
    );
    // The same program name as the real run's (Go's heap is sensitive to how much
    // memory the arguments take).
    let program = common::runtime()
        .load_bytes("guest.wasm", &bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    let sim = run_on_simnet_with(program, &[], 1, true);
    assert_same(test, &real, &sim);
}

#[test]
fn python_files_guest_matches_real_wasmtime() {
    files_guest_matches(
        "python_files_guest_matches_real_wasmtime",
        simnet_guests::python::build("files"),
    );
}

#[test]
fn go_files_guest_matches_real_wasmtime() {
    files_guest_matches(
        "go_files_guest_matches_real_wasmtime",
        simnet_guests::go::build("files"),
    );
}
