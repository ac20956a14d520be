//! What an exploration or a seed runner came to: the failing seeds, grouped (the same
//! shrunk plan and the same failure are one bug), and the one report every runner
//! prints, in a test as on the command line.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use simnet_core::SimTime;

use crate::plan::PlanFault;
use crate::shrink::ShrinkPath;
use crate::units::secs;

/// Failures (and errors) kept for the report: the ones with the smallest seeds, so
/// the report is the same however the threads interleave; the rest are counted.
pub(super) const KEPT_FAILURES: usize = 100;

/// One failing seed.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    /// Why it failed: the unmet expectation or the property's reason.
    pub reason: String,
    /// Its fault plan (shrunk, if shrinking was asked and the seed was among the
    /// first failures); empty without random faults.
    pub plan: Vec<PlanFault>,
    /// How many faults the seed drew before shrinking.
    pub drawn: usize,
    /// The shrink's decisions, to replay the shrunk plan (`SIMNET_PLAN`).
    pub shrink_path: Option<ShrinkPath>,
    /// The plan was replayed from a shrink's decisions (`SIMNET_PLAN`), not drawn.
    pub replayed: bool,
    /// The command that replays it from a scenario file, when there is one.
    pub replay: Option<String>,
    /// Where its artifacts went.
    pub artifacts: Option<PathBuf>,
}

/// Failing seeds with the same plan and the same reason: one bug.
#[derive(Clone, Debug)]
pub struct FailureGroup<'a> {
    pub seeds: Vec<u64>,
    /// The first (smallest) seed's failure.
    pub first: &'a Failure,
}

/// What an exploration came to.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The shard run, in words (` (shard 2/8)`; empty: the whole range).
    pub shard_text: String,
    pub seeds: u64,
    pub passed: u64,
    pub failed: u64,
    /// The failures of the smallest failing seeds (at most 100), by seed.
    pub failures: Vec<Failure>,
    /// Seeds simnet could not run (a setup error, the machine), with why.
    pub errors: Vec<(u64, String)>,
    pub errors_total: u64,
    pub virtual_time: SimTime,
    pub wall: Duration,
}

/// `n` things, as words: `1 seed`, `2 seeds`.
fn counted(n: u64, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}

/// One failure (`first`, standing for the failing `seeds`) as every report shows
/// it: the reason, the plan and how it came about, how to rerun it, its artifacts.
pub fn render_failure(
    first: &Failure,
    seeds: &[u64],
    rerun: &dyn Fn(&Failure) -> String,
) -> String {
    let mut out = String::new();
    match seeds {
        [_, _, ..] => {
            let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
            let _ = writeln!(
                out,
                "{} seeds failed ({}): {}",
                seeds.len(),
                list.join(", "),
                first.reason
            );
        }
        _ => {
            let _ = writeln!(out, "seed {} failed: {}", first.seed, first.reason);
        }
    }
    if first.drawn > 0 || !first.plan.is_empty() {
        let how = match (&first.shrink_path, first.replayed) {
            (_, true) => "replayed as given".to_string(),
            (Some(_), false) => format!(
                "{} drawn, {} after shrinking",
                first.drawn,
                first.plan.len()
            ),
            (None, false) => "as drawn, not shrunk".to_string(),
        };
        let _ = write!(
            out,
            "  fault plan ({}, {how}):",
            counted(first.plan.len() as u64, "fault")
        );
        for f in &first.plan {
            let _ = write!(out, "\n    - {f}");
        }
        if first.plan.is_empty() {
            out.push_str("\n    (none: the run fails without faults)");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "  replay: {}", rerun(first));
    if let Some(dir) = &first.artifacts {
        let _ = writeln!(out, "  artifacts: {}", dir.display());
    }
    out
}

/// A plan as a grouping key: its faults, normalized (the same fault named in either
/// direction is one) and sorted.
pub fn plan_key<'a>(plan: impl IntoIterator<Item = &'a PlanFault>) -> Vec<String> {
    let mut key: Vec<String> = plan
        .into_iter()
        .map(|p| p.normalized().to_string())
        .collect();
    key.sort();
    key
}

/// The part of a failure's reason that says what went wrong, for grouping: virtual
/// times (`at 0.014000s`) and ephemeral ports (`10.0.0.2:54373`) differ from seed
/// to seed for the same failure.
pub fn group_key(reason: &str) -> String {
    reason
        .split(' ')
        .map(|word| match is_seconds(word) {
            true => "_s".to_string(),
            false => without_port(word),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A socket address with an ephemeral port (`10.0.0.2:54373`, Linux's range
/// 32768-60999) as `10.0.0.2:_`; any other word as it is.
fn without_port(word: &str) -> String {
    let core = word.trim_end_matches([',', ';', ')', '\n']);
    match core.parse::<std::net::SocketAddr>() {
        Ok(addr) if (32768..=60999).contains(&addr.port()) => {
            format!("{}:_{}", addr.ip(), &word[core.len()..])
        }
        _ => word.to_string(),
    }
}

/// `1.250000s` (possibly followed by a newline or punctuation).
fn is_seconds(word: &str) -> bool {
    let word = word.trim_end_matches(['\n', ',', ';', ':', ')']);
    word.strip_suffix('s')
        .is_some_and(|n| n.contains('.') && n.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

impl Summary {
    /// Every seed passed and none failed to run.
    pub fn is_success(&self) -> bool {
        self.failed == 0 && self.errors_total == 0
    }

    /// The kept failures grouped: the same (normalized) shrunk plan and failure
    /// form one group, and unshrunk failures the same failure; listed by the
    /// smallest seed.
    pub fn groups(&self) -> Vec<FailureGroup<'_>> {
        let mut groups: indexmap::IndexMap<(Option<Vec<String>>, String), FailureGroup<'_>> =
            indexmap::IndexMap::new();
        for f in &self.failures {
            // Plans as drawn differ from seed to seed for the same bug: unshrunk
            // failures are grouped by what went wrong alone.
            let plan = f.shrink_path.as_ref().map(|_| plan_key(&f.plan));
            groups
                .entry((plan, group_key(&f.reason)))
                .or_insert_with(|| FailureGroup {
                    seeds: Vec::new(),
                    first: f,
                })
                .seeds
                .push(f.seed);
        }
        groups.into_values().collect()
    }

    /// The report: counts, then each group of failures with its plan and how to
    /// replay it (`rerun` says how, for a failure), then the errors.
    pub fn render(&self, rerun: &dyn Fn(&Failure) -> String) -> String {
        let mut out = format!(
            "{}{}: {} passed, {} failed",
            counted(self.seeds, "seed"),
            self.shard_text,
            self.passed,
            self.failed
        );
        // A runner of test bodies does not know how long their runs were.
        if self.virtual_time > SimTime::ZERO {
            let _ = write!(
                out,
                "; {} of virtual time in {:.2}s of wall time",
                secs(self.virtual_time),
                self.wall.as_secs_f64()
            );
        }
        out.push('\n');
        for g in self.groups() {
            out.push_str(&render_failure(g.first, &g.seeds, rerun));
        }
        let more = self.failed.saturating_sub(self.failures.len() as u64);
        if more > 0 {
            let _ = writeln!(
                out,
                "... and {more} more failing seeds (the {KEPT_FAILURES} smallest are listed)"
            );
        }
        for (seed, e) in &self.errors {
            let _ = writeln!(out, "error: seed {seed}: {e}");
        }
        let more = self.errors_total.saturating_sub(self.errors.len() as u64);
        if more > 0 {
            let _ = writeln!(out, "... and {more} more errors");
        }
        out
    }

    /// Panic with the report unless every seed passed: for a test, with the commands
    /// that rerun each failure alone from the test (`SIMNET_SEED`, `SIMNET_PLAN`).
    #[track_caller]
    pub fn assert_passed(&self) {
        if self.is_success() {
            return;
        }
        let location = std::panic::Location::caller();
        let thread = std::thread::current();
        let rerun = |f: &Failure| {
            crate::rerun::rerun_command_with_plan(
                f.seed,
                f.shrink_path.as_ref(),
                location.file(),
                thread.name(),
            )
        };
        panic!("{}", self.render(&rerun));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_at_different_times_share_a_group() {
        let a = "client: exited with code 1 at 0.014000s\n    | op 1: refused";
        let b = "client: exited with code 1 at 2.500000s\n    | op 1: refused";
        assert_eq!(group_key(a), group_key(b));
        assert_ne!(group_key(a), group_key("client: trapped at 0.014000s"));
        assert_eq!(
            group_key("read on 10.0.0.2:54373 -> 10.0.0.1:7000"),
            group_key("read on 10.0.0.2:49152 -> 10.0.0.1:7000")
        );
        assert_eq!(
            group_key("from 10.0.0.2:54373, then"),
            group_key("from 10.0.0.2:33000, then")
        );
        // A server's port, or a file's line, is part of what went wrong.
        assert_ne!(group_key("to 10.0.0.1:7000"), group_key("to 10.0.0.1:7001"));
        assert_ne!(group_key("at main.rs:42"), group_key("at main.rs:43"));
    }

    fn failure(seed: u64, a: &str, b: &str) -> Failure {
        Failure {
            seed,
            reason: "client: expected exit 0".into(),
            plan: vec![PlanFault::Partition {
                a: a.into(),
                b: b.into(),
                at: Duration::from_millis(5),
                lasting: Duration::from_millis(100),
            }],
            drawn: 3,
            shrink_path: Some(crate::shrink::ShrinkPath::parse("1S").unwrap()),
            replayed: false,
            replay: None,
            artifacts: None,
        }
    }

    #[test]
    fn a_fault_in_either_direction_is_one_group() {
        let summary = Summary {
            shard_text: String::new(),
            seeds: 3,
            passed: 0,
            failed: 3,
            failures: vec![
                failure(1, "client", "server"),
                failure(2, "server", "client"),
                failure(3, "client", "other"),
            ],
            errors: Vec::new(),
            errors_total: 0,
            virtual_time: SimTime::ZERO,
            wall: Duration::ZERO,
        };
        let groups = summary.groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].seeds, [1, 2]);
        assert_eq!(groups[1].seeds, [3]);
        let text = summary.render(&|f| format!("rerun {}", f.seed));
        assert!(
            text.contains("2 seeds failed (1, 2): client: expected exit 0"),
            "{text}"
        );
        // Unshrunk, the plans are as drawn: the same failure is one group.
        let mut unshrunk = summary.clone();
        unshrunk
            .failures
            .iter_mut()
            .for_each(|f| f.shrink_path = None);
        assert_eq!(unshrunk.groups().len(), 1);
        let text = unshrunk.render(&|f| format!("rerun {}", f.seed));
        assert!(
            text.contains("fault plan (1 fault, as drawn, not shrunk)"),
            "{text}"
        );
    }
}
