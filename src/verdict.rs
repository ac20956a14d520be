//! A run's verdict in a test: success, or an error that explains the failure and
//! says where the run's artifacts went (its timeline, trace, summary and capture),
//! so that a failing seed can be looked into without running it again.
//!
//! Artifacts go to `$SIMNET_ARTIFACTS/TARGET/TEST/seed-N/`, or, without that
//! variable, to `simnet-artifacts/` in the test's target directory.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use simnet_wasi::{Report, Sim};

use crate::seeds::TestName;

/// The variable naming the directory failing runs leave their artifacts in.
pub const ARTIFACTS_VAR: &str = "SIMNET_ARTIFACTS";

thread_local! {
    /// The test the seed runner on this thread is running, if any.
    static CURRENT_TEST: RefCell<Option<TestName>> = const { RefCell::new(None) };
}

/// Run `body` as test `test`: verdicts given inside it name the test.
pub(crate) fn as_test<T>(test: &TestName, body: impl FnOnce() -> T) -> T {
    let previous = CURRENT_TEST.with(|t| t.replace(Some(test.clone())));
    let result = body();
    CURRENT_TEST.with(|t| *t.borrow_mut() = previous);
    result
}

/// `Ok` if every guest met its part ([`Report::is_success`]); else an error with
/// [`Sim::explain`]'s text and where the run's artifacts were written.
///
/// ```no_run
/// # fn main() -> anyhow::Result<()> {
/// let mut sim = simnet::Builder::new(7).build()?;
/// let report = sim.run();
/// simnet::ensure_success(&sim, &report)?;
/// # Ok(())
/// # }
/// ```
#[track_caller]
pub fn ensure_success(sim: &Sim, report: &Report) -> anyhow::Result<()> {
    if report.is_success() {
        return Ok(());
    }
    let test = CURRENT_TEST
        .with(|t| t.borrow().clone())
        .unwrap_or_else(TestName::caller);
    let explanation = sim.explain(report);
    let where_to = artifact_dir(&test, sim.config().seed);
    let note = match crate::report::write_artifacts(&where_to, sim, report, &explanation) {
        Ok(()) => format!("artifacts: {}", where_to.display()),
        Err(e) => format!("(its artifacts were not written: {e:#})"),
    };
    anyhow::bail!("{}\n{note}", explanation.trim_end())
}

/// Where the artifacts of `test`'s run under `seed` go.
pub fn artifact_dir(test: &TestName, seed: u64) -> PathBuf {
    let base = match std::env::var_os(ARTIFACTS_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => crate::component::running_target_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("simnet-artifacts"),
    };
    let target = Path::new(&test.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "test".to_string());
    let name = test.name.as_deref().unwrap_or("unnamed").replace("::", "-");
    base.join(target).join(name).join(format!("seed-{seed}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_kept_per_target_test_and_seed() {
        let test = TestName::named("tests/kv.rs", "kv::failing", "gives_up");
        let dir = artifact_dir(&test, 5);
        assert!(
            dir.ends_with("simnet-artifacts/kv/failing-gives_up/seed-5")
                || std::env::var_os(ARTIFACTS_VAR).is_some(),
            "{}",
            dir.display()
        );
    }
}
