//! The key-value components under a simulated network: the happy path, loss over many
//! seeds, a crash of the server in the middle of a run, a property over random fault
//! plans, and many seeds explored on every core. Rerun one seed with `SIMNET_SEED=N`,
//! or more with `SIMNET_SEEDS=A..B`; a failing run leaves its timeline, trace and
//! summary under `target/simnet-artifacts/`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, ensure};
use simnet::{Builder, CrashMode, FaultSpace, LinkConfig, PlanFault, Program};

/// The components, built from `guests/` (cargo rebuilds them when their source
/// changes).
fn component(bin: &str) -> Program {
    let guests = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests");
    simnet::build_component(guests, bin).expect("the guests build")
}

/// A server and a client doing `ops` operations, over `link`.
fn world(seed: u64, link: LinkConfig, ops: u32, client_args: &[&str]) -> Result<Builder> {
    let mut args = vec!["server:7000".to_string(), ops.to_string()];
    args.extend(client_args.iter().map(|a| a.to_string()));
    Ok(Builder::new(seed)
        .default_link(link)
        .host("server", "10.0.0.1")
        .host("client", "10.0.0.2")
        .server("server", &component("kv-server"), |g| g.arg("7000"))
        .client("client", &component("kv-client"), move |g| {
            g.args(args).start_at(Duration::from_millis(10))
        }))
}

fn lan() -> LinkConfig {
    LinkConfig::with_latency(Duration::from_millis(2))
}

#[test]
fn the_client_sets_and_reads_back_its_keys() -> Result<()> {
    let mut sim = world(1, lan(), 5, &[])?.build()?;
    let report = sim.run();
    simnet::ensure_success(&sim, &report)?;
    let out = sim.output_of("client").expect("a client").stdout();
    ensure!(out.contains("op 5 ok\ndone"), "{out}");
    Ok(())
}

#[simnet::test(seeds = 0..8)]
fn loss_slows_the_client_down_but_loses_nothing(seed: u64) -> Result<()> {
    let lossy = LinkConfig {
        loss: 0.2,
        jitter: Duration::from_millis(3),
        ..LinkConfig::with_latency(Duration::from_millis(10))
    };
    let mut sim = world(seed, lossy, 5, &[])?.build()?;
    let report = sim.run();
    simnet::ensure_success(&sim, &report)
}

#[test]
fn the_client_recovers_when_the_server_crashes_mid_run() -> Result<()> {
    let mut sim = world(3, lan(), 6, &[])?.build()?;
    sim.run_until(|sim| sim.printed("client", "op 2 ok"))?;
    sim.crash("server", CrashMode::Reset)?;
    // While the server is down the client keeps trying.
    sim.run_for(Duration::from_secs(2))?;
    ensure!(sim.outcome_of("client").is_none(), "the client waits");
    ensure!(!sim.printed("client", "op 3 ok"), "no server, no progress");
    sim.restart("server")?;
    let report = sim.run();
    simnet::ensure_success(&sim, &report)?;
    let out = sim.output_of("client").expect("a client").stdout();
    ensure!(out.contains("op 3: "), "the client saw the crash: {out}");
    ensure!(out.contains("op 6 ok\ndone"), "{out}");
    ensure!(report.guest("server").expect("a server").restarts == 1);
    Ok(())
}

fn space() -> FaultSpace {
    let mut space = FaultSpace::for_hosts(vec!["server".into(), "client".into()]);
    space.families = vec![
        simnet::space::Family::Partition,
        simnet::space::Family::Clog,
        simnet::space::Family::Crash,
    ];
    // The client is the one under test: only the server crashes (and restarts).
    space.crash_hosts = vec!["server".into()];
    // Faults within the first 500 ms, where the client does its work.
    space.set_horizon(Duration::from_millis(500));
    space
}

fn finishes(seed: u64, plan: &[PlanFault], client_args: &[&str]) -> Result<()> {
    let mut sim = world(seed, lan(), 20, client_args)?
        .faults(plan)
        .time_limit(Duration::from_secs(600))
        .build()?;
    let report = sim.run();
    simnet::ensure_success(&sim, &report)
}

#[simnet::test(seeds = 0..12, plans = space())]
fn the_client_finishes_whatever_the_faults(seed: u64, plan: &[PlanFault]) -> Result<()> {
    finishes(seed, plan, &[])
}

#[test]
fn many_seeds_with_random_faults_on_every_core() -> Result<()> {
    // The same world as data: the explorer runs it under many seeds in parallel,
    // each with its own random plan, and groups the failures by shrunk plan.
    let plain = world(0, lan(), 20, &[])?
        .time_limit(Duration::from_secs(600))
        .world()?;
    let summary = plain
        .explore()?
        .seeds_from_env(0..16)?
        .fault_space(space())
        .jobs(None)
        .run(&|_| {})?;
    summary.assert_passed();
    ensure!(summary.passed == summary.seeds);

    // A client that gives up on the first error fails under many plans; the
    // explorer counts every failing seed and groups them by shrunk plan.
    let giving_up = world(0, lan(), 20, &["--give-up"])?
        .time_limit(Duration::from_secs(600))
        .world()?;
    let summary = giving_up
        .explore()?
        .seeds(0..=15)
        .fault_space(space())
        .max_shrunk(4)
        .run(&|_| {})?;
    ensure!(summary.failed > 1, "{}", summary.render(&|_| String::new()));
    let groups = summary.groups();
    ensure!(
        groups.len() < summary.failed as usize,
        "failures share a plan"
    );
    ensure!(groups.iter().any(|g| g.first.plan.len() == 1));
    Ok(())
}

#[test]
fn a_client_that_gives_up_is_caught_with_a_minimal_plan() {
    let failure = std::panic::catch_unwind(|| {
        // Fixed seeds: this test expects a failure, whatever SIMNET_SEEDS says.
        simnet::Seeds::range(0..40)
            .check_plans(&space(), |seed, plan| finishes(seed, plan, &["--give-up"]))
    })
    .expect_err("a fault makes the client give up");
    let text = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("client: exited with code 1"), "{text}");
    assert!(
        text.contains("1 after shrinking"),
        "one fault suffices: {text}"
    );
    assert!(text.contains("crash server"), "{text}");
    assert!(text.contains("SIMNET_SEED="), "{text}");
    assert!(
        text.contains("cargo test -p kv-example --test kv"),
        "{text}"
    );
}
