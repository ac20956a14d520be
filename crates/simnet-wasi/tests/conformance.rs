//! The differential conformance test: the conformance guest calls every TCP method in
//! every state it reaches and prints each result; its output on simnet must equal its
//! output on wasmtime-wasi's real sockets (loopback only).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{describe, guest, two_hosts};
use simnet_wasi::Outcome;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

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

/// Nothing may leave the machine: connections go to loopback only. Binds (which send
/// nothing) may name any address, so that binding a foreign address fails the way
/// the kernel makes it fail.
fn loopback_only(addr: SocketAddr, use_: SocketAddrUse) -> bool {
    addr.ip().is_loopback() || matches!(use_, SocketAddrUse::TcpBind)
}

fn run_on_real_wasmtime(bytes: &[u8]) -> String {
    let engine = Engine::new(&Config::new()).expect("engine");
    let mut linker = Linker::<Real>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("link");
    let stdout = MemoryOutputPipe::new(1 << 20);
    let wasi = WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .inherit_stderr()
        .allow_tcp(true)
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
        let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(
            &mut store, &component, &linker,
        )
        .await?;
        command.wasi_cli_run().call_run(&mut store).await
    });
    let out = String::from_utf8_lossy(&stdout.contents()).into_owned();
    assert!(
        matches!(result, Ok(Ok(()))),
        "real run failed: {result:?}\n{out}"
    );
    out
}

fn run_on_simnet(seed: u64) -> String {
    let (mut sim, server, _) = two_hosts(seed, Duration::from_millis(1));
    sim.spawn(guest("conformance", server, "conformance", &[]));
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(report.guests[0].outcome, Outcome::Exited(0), "{all}");
    sim.output(sim.guest_id("conformance").unwrap()).stdout()
}

#[test]
fn conformance_guest_matches_real_wasmtime() {
    let real = run_on_real_wasmtime(simnet_guests::CONFORMANCE.bytes);
    let sim = run_on_simnet(1);
    assert!(
        real.contains("== done"),
        "the real run stopped early:\n{real}"
    );
    if real != sim {
        let mut diff = String::new();
        for (i, (r, s)) in real.lines().zip(sim.lines()).enumerate() {
            if r != s {
                diff.push_str(&format!(
                    "line {}: real: {r}\n         simnet: {s}\n",
                    i + 1
                ));
            }
        }
        panic!(
            "simnet differs from wasmtime-wasi on the real kernel:\n{diff}\n--- real ---\n{real}\n--- simnet ---\n{sim}"
        );
    }
}

#[test]
fn conformance_output_is_the_same_under_other_seeds() {
    let first = run_on_simnet(2);
    for seed in [3, 4, 5] {
        assert_eq!(run_on_simnet(seed), first, "seed {seed}");
    }
}
