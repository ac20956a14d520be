//! A run's verdict in a test: success, or an error that explains the failure and
//! says where the run's artifacts went (its timeline, trace, summary and capture),
//! so that a failing seed can be looked into without running it again.
//!
//! Artifacts go to `$SIMNET_ARTIFACTS/TARGET/TEST/seed-N/`, or, without that
//! variable, to `simnet-artifacts/` in the test's target directory. A seed runner
//! starts by clearing its test's directory, so what is there is its last run's.
//!
//! The runs a verdict judges are also what a determinism check compares: with the
//! check on, the seed runners run each seed twice, and the runs judged in the
//! second pass must match those of the first, trace record for trace record and
//! line for line.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use simnet_core::TraceRecord;
use simnet_wasi::{Report, Sim};

use crate::rerun::TestName;

/// The variable naming the directory failing runs leave their artifacts in.
pub const ARTIFACTS_VAR: &str = "SIMNET_ARTIFACTS";

/// The variable that turns the determinism check on for every seed runner.
pub const CHECK_DETERMINISM_VAR: &str = "SIMNET_CHECK_DETERMINISM";

thread_local! {
    /// The test the seed runner on this thread is running, if any.
    static CURRENT_TEST: RefCell<Option<TestName>> = const { RefCell::new(None) };
    /// The runs judged on this thread while a runner records them.
    static JUDGED: RefCell<Option<Vec<Judged>>> = const { RefCell::new(None) };
    /// A determinism check's first pass, which the second pass's runs are compared
    /// with as they are judged (while their simulations still hold the names a
    /// differing record is shown with).
    static FIRST_PASS: RefCell<std::collections::VecDeque<Judged>> =
        const { RefCell::new(std::collections::VecDeque::new()) };
    /// Where the last failing verdict on this thread left its artifacts, for the
    /// runner to report (a runner's failures then group by their reasons alone).
    static LAST_ARTIFACTS: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
    /// Verdicts write no artifacts (a run made only to measure the runs' length).
    static NO_ARTIFACTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What a runner records of a judged run: how long it ran, every trace record and
/// every guest's output; and, in a determinism check's second pass, where it
/// differs from the first pass's run of the same place.
struct Judged {
    end: Duration,
    records: Vec<TraceRecord>,
    /// Each guest's name and everything it wrote.
    outputs: Vec<(String, String)>,
    /// Where it differs from the run it was compared with, if it was.
    difference: Option<String>,
}

impl Judged {
    fn of(sim: &Sim, report: &Report) -> Judged {
        let records = sim.with_net(|net| net.trace().records().to_vec());
        let outputs = report
            .guests
            .iter()
            .filter_map(|g| {
                let id = sim.guest_id(&g.name)?;
                let out = sim.output(id);
                Some((g.name.clone(), format!("{}{}", out.stdout(), out.stderr())))
            })
            .collect();
        Judged {
            end: Duration::from_nanos(report.end.as_nanos()),
            records,
            outputs,
            difference: None,
        }
    }

    /// Where `later` (a run of `sim`) first differs from `self`: a trace record,
    /// shown as the JSON trace shows it (rendered with `sim`'s names, only for the
    /// record that differs), or a guest's output.
    fn difference(&self, later: &Judged, sim: &Sim) -> Option<String> {
        let (a, b) = (&self.records, &later.records);
        if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
            let guests = sim.guest_names();
            let show = |r| sim.with_net(|net| crate::report::record_json(net, &guests, r));
            return Some(format!(
                "trace event {i} differs:\n    first:  {}\n    second: {}",
                show(&a[i]),
                show(&b[i])
            ));
        }
        if a.len() != b.len() {
            return Some(format!(
                "one trace has {} events, the other {}",
                a.len(),
                b.len()
            ));
        }
        let differs = self
            .outputs
            .iter()
            .zip(&later.outputs)
            .find(|(x, y)| x != y);
        differs
            .map(|((name, _), _)| format!("the output of {name} differs"))
            .or_else(|| {
                (self.outputs.len() != later.outputs.len())
                    .then(|| "the runs have different guests".to_string())
            })
    }
}

/// Where two runs of one seed first differ, if they do: a trace record (as JSON)
/// or a guest's output.
pub(crate) fn first_difference(a: (&Sim, &Report), b: (&Sim, &Report)) -> Option<String> {
    Judged::of(a.0, a.1).difference(&Judged::of(b.0, b.1), b.0)
}

/// Whether seed runners check determinism unless told: `SIMNET_CHECK_DETERMINISM=1`.
pub fn determinism_from_env() -> bool {
    std::env::var(CHECK_DETERMINISM_VAR)
        .is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "no" | "off"))
}

/// Run `body`, recording the runs judged by [`ensure_success`] meanwhile.
fn judging<T>(body: impl FnOnce() -> T) -> (T, Vec<Judged>) {
    let previous = JUDGED.with(|j| j.replace(Some(Vec::new())));
    let result = body();
    let judged = JUDGED.with(|j| j.replace(previous)).unwrap_or_default();
    (result, judged)
}

/// How long the longest run `body` judged lasted in virtual time (`None`: it
/// judged none, so nothing says how long its runs are).
pub(crate) fn judged_length(body: impl FnOnce()) -> Option<Duration> {
    let quiet = NO_ARTIFACTS.with(|q| q.replace(true));
    let ((), judged) = judging(body);
    NO_ARTIFACTS.with(|q| q.set(quiet));
    judged.iter().map(|j| j.end).max()
}

/// Run one seed's `body` twice and fail it if the runs judged by
/// [`ensure_success`] in the two passes, or the two verdicts, differ.
pub(crate) fn twice(mut body: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let (first, judged_first) = judging(&mut body);
    let first_runs = judged_first.len();
    FIRST_PASS.with(|f| *f.borrow_mut() = judged_first.into());
    let (second, judged_second) = judging(&mut body);
    FIRST_PASS.with(|f| f.borrow_mut().clear());
    if first_runs != judged_second.len() {
        return Err(format!(
            "not deterministic: the first pass judged {first_runs} runs, the second {}",
            judged_second.len()
        ));
    }
    for (i, run) in judged_second.iter().enumerate() {
        if let Some(why) = &run.difference {
            return Err(format!(
                "not deterministic: run {} of the seed: {why}",
                i + 1
            ));
        }
    }
    if first != second {
        return Err(format!(
            "not deterministic: the first pass gave {first:?}, the second {second:?}"
        ));
    }
    first
}

/// Run `body` as test `test`: verdicts given inside it name the test, and leave
/// their artifacts' place for the runner ([`take_artifacts`]).
pub(crate) fn as_test<T>(test: &TestName, body: impl FnOnce() -> T) -> T {
    // The test's artifacts are of its last run only: none left from earlier runs
    // of other seeds. (An unnamed test's directory may be another's too: kept.)
    if test.name.is_some()
        && let Some(dir) = artifact_dir(test, 0).parent()
    {
        let _ = std::fs::remove_dir_all(dir);
    }
    /// Puts the previous test back however the body ends (a runner ends by
    /// panicking with its report).
    struct Restore(Option<TestName>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT_TEST.with(|t| *t.borrow_mut() = previous);
        }
    }
    let _restore = Restore(CURRENT_TEST.with(|t| t.replace(Some(test.clone()))));
    body()
}

/// Where the last failing verdict on this thread left its artifacts, taken.
pub(crate) fn take_artifacts() -> Option<PathBuf> {
    LAST_ARTIFACTS.with(|a| a.borrow_mut().take())
}

/// Add `text` (the failure as the runner reports it: seed, reason, plan, rerun
/// command) to the artifacts in `dir`, as `failure.txt`.
pub(crate) fn leave_failure_note(dir: &Path, text: &str) {
    // The artifacts are a help; a failure to add to them is not the test's failure.
    let _ = std::fs::write(dir.join("failure.txt"), text);
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
    JUDGED.with(|j| {
        if let Some(judged) = j.borrow_mut().as_mut() {
            let mut run = Judged::of(sim, report);
            if let Some(first) = FIRST_PASS.with(|f| f.borrow_mut().pop_front()) {
                run.difference = first.difference(&run, sim);
            }
            judged.push(run);
        }
    });
    if report.is_success() {
        return Ok(());
    }
    if NO_ARTIFACTS.with(|q| q.get()) {
        anyhow::bail!("{}", sim.explain(report).trim_end());
    }
    let runner = CURRENT_TEST.with(|t| t.borrow().clone());
    let in_runner = runner.is_some();
    let test = match runner {
        Some(test) => test,
        None => TestName::caller(),
    };
    let explanation = sim.explain(report);
    let where_to = artifact_dir(&test, sim.config().seed);
    // Nothing left from an earlier run of this seed (a capture it kept, say).
    let _ = std::fs::remove_dir_all(&where_to);
    let note = match crate::report::write_artifacts(&where_to, sim, report, &explanation) {
        // A runner reports where they went itself, once per group of failures.
        Ok(()) if in_runner => {
            LAST_ARTIFACTS.with(|a| *a.borrow_mut() = Some(where_to));
            String::new()
        }
        Ok(()) => format!("\nartifacts: {}", where_to.display()),
        Err(e) => format!("\n(its artifacts were not written: {e:#})"),
    };
    anyhow::bail!("{}{note}", explanation.trim_end())
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
