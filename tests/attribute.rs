//! `#[simnet::test]`: the function runs once per seed, may return `()` or a
//! `Result`, and a failure names the test in its rerun command whatever thread runs
//! it.

use std::sync::atomic::{AtomicU64, Ordering};

use simnet::{FaultSpace, PlanFault};

static SEEDS_SEEN: AtomicU64 = AtomicU64::new(0);

#[simnet::test(seeds = 0..5)]
fn runs_once_per_seed(seed: u64) {
    assert!(seed < 5);
    SEEDS_SEEN.fetch_or(1 << seed, Ordering::Relaxed);
}

#[test]
fn the_seeded_test_ran_every_seed() {
    // The other test may run before or after this one: run it here too.
    runs_once_per_seed();
    assert_eq!(SEEDS_SEEN.load(Ordering::Relaxed), 0b11111);
}

#[simnet::test(seeds = 3..4)]
fn a_result_is_accepted(seed: u64) -> anyhow::Result<()> {
    anyhow::ensure!(seed == 3, "seed {seed}");
    Ok(())
}

mod failing {
    #[simnet::test(seeds = 0..3)]
    #[should_panic(expected = "seed 1 failed: one is wrong")]
    pub fn fails_at_one(seed: u64) -> Result<(), String> {
        match seed {
            1 => Err("one is wrong".into()),
            _ => Ok(()),
        }
    }
}

#[test]
fn a_failure_names_the_test_whatever_thread_runs_it() {
    // Run on a thread of another name, as `--test-threads=1` runs tests on `main`.
    let failure = std::thread::Builder::new()
        .name("main".into())
        .spawn(|| std::panic::catch_unwind(failing::fails_at_one))
        .unwrap()
        .join()
        .unwrap()
        .expect_err("seed 1 fails");
    let text = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("seed 1 failed: one is wrong"), "{text}");
    assert!(
        text.contains(
            "SIMNET_SEED=1 cargo test -p simnet --test attribute -- --exact failing::fails_at_one"
        ),
        "{text}"
    );
}

fn space() -> FaultSpace {
    let mut space = FaultSpace::for_hosts(vec!["a".into(), "b".into()]);
    space.families = vec![simnet::space::Family::Reset];
    space.max_faults = 2;
    space
}

#[simnet::test(seeds = 0..4, plans = space())]
fn plans_are_drawn_per_seed(_seed: u64, plan: &[PlanFault]) {
    assert!(plan.len() <= 2);
    assert!(plan.iter().all(|f| matches!(f, PlanFault::Reset { .. })));
}

thread_local! {
    /// Runs on this thread (the test runs its seeds on its own thread).
    static TWICE_RUNS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[simnet::test(seeds = 0..2, check_determinism = true)]
fn a_determinism_check_runs_each_seed_twice(_seed: u64) {
    TWICE_RUNS.set(TWICE_RUNS.get() + 1);
}

#[test]
fn the_checked_test_ran_each_seed_twice() {
    a_determinism_check_runs_each_seed_twice();
    assert_eq!(TWICE_RUNS.get(), 4);
}

mod flaky {
    use std::sync::atomic::{AtomicU64, Ordering};

    static CALLS: AtomicU64 = AtomicU64::new(0);

    #[simnet::test(seeds = 0..1, check_determinism = true)]
    #[should_panic(expected = "not deterministic: the first pass gave")]
    pub fn a_verdict_that_changes_between_runs_fails(_seed: u64) -> Result<(), String> {
        match CALLS.fetch_add(1, Ordering::Relaxed) % 2 {
            0 => Ok(()),
            _ => Err("second time".into()),
        }
    }
}
