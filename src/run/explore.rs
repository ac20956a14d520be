//! The explorer: a world under many seeds, on as many threads as asked (each
//! simulation single-threaded), optionally each seed with a random fault plan
//! shrunk to a minimal one when it fails, optionally each seed run twice to check
//! determinism. Failures are counted, the smallest seeds kept, grouped by what
//! failed and how, and each leaves artifacts (timeline, trace, pcap, replay) in a
//! directory the user chooses. `simnet explore` and a test's `World::explore()` are
//! this one runner.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use proptest::strategy::{SBoxedStrategy, ValueTree};
use simnet_core::SimTime;

use super::summary::{Failure, KEPT_FAILURES, Summary};
use super::{Run, RunOptions, SeedSet};
use crate::plan::{PlanFault, plan_strategy};
use crate::report::{PcapStream, write_replay};
use crate::shrink::{ShrinkPath, draw, replay_shrink, shrink};
use crate::space::{Call, FaultSpace};
use crate::world::Prepared;

/// Simplification steps a shrink takes at most.
pub const MAX_SHRINK_STEPS: u32 = 300;

/// Failing seeds whose plans are shrunk: shrinking costs a run per step, and the
/// groups are known after a few.
const SHRUNK_FAILURES: u64 = 20;

/// What a run must satisfy besides finishing: `Err` says why it failed.
pub type Property = Arc<dyn Fn(&Run) -> Result<(), String> + Send + Sync>;

/// A world under many seeds (see the module's documentation). Made by
/// [`crate::World::explore`] or [`Explore::new`], set with its methods, run by
/// [`Explore::run`].
pub struct Explore {
    prepared: Prepared,
    seeds: SeedSet,
    /// Random fault plans are drawn from this space, when set.
    space: Option<FaultSpace>,
    shrink: bool,
    /// Failing seeds whose plans are shrunk (the first ones to fail).
    max_shrunk: u64,
    jobs: usize,
    check_determinism: bool,
    until: Option<Duration>,
    artifacts: Option<PathBuf>,
    replay_dir: Option<PathBuf>,
    property: Property,
    /// A shrunk plan to replay instead of drawing one (`SIMNET_PLAN`).
    replay: Option<ShrinkPath>,
}

/// How far an exploration is, for a progress display.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub failed: u64,
}

impl Explore {
    /// The world's seed alone, without faults, one job, expectations as the property.
    pub fn new(prepared: Prepared) -> Explore {
        let seed = prepared.world().seed;
        Explore {
            prepared,
            seeds: SeedSet::new(seed..=seed, None),
            space: None,
            shrink: true,
            max_shrunk: SHRUNK_FAILURES,
            jobs: 1,
            check_determinism: false,
            until: None,
            artifacts: None,
            replay_dir: None,
            property: Arc::new(|run: &Run| match run.unmet() {
                None => Ok(()),
                Some(why) => Err(why),
            }),
            replay: None,
        }
    }

    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Run these seeds.
    pub fn seeds(mut self, seeds: RangeInclusive<u64>) -> Explore {
        self.seeds = SeedSet::new(seeds, None);
        self
    }

    /// Run `default`, unless `SIMNET_SEED` or `SIMNET_SEEDS` says otherwise; with
    /// `SIMNET_PLAN` (and `SIMNET_SEED`), replay that seed's shrunk plan.
    pub fn seeds_from_env(mut self, default: Range<u64>) -> Result<Explore> {
        let seeds = crate::Seeds::from_env(default).map_err(anyhow::Error::msg)?;
        self.seeds = SeedSet::new(seeds.iter(), None);
        self.replay = ShrinkPath::from_env().map_err(anyhow::Error::msg)?;
        if self.replay.is_some() && seeds.iter().count() != 1 {
            anyhow::bail!(
                "{} replays the shrunk plan of one seed: set {} to that seed too",
                crate::shrink::PLAN_VAR,
                crate::seeds::SEED_VAR
            );
        }
        Ok(self)
    }

    /// Replay the shrunk plan `path` (what a failure printed) instead of drawing and
    /// shrinking: nothing is shrunk again.
    pub fn replay_plan(mut self, path: ShrinkPath) -> Explore {
        self.replay = Some(path);
        self
    }

    /// Run only shard `k` of `n` of the seeds.
    pub fn shard(mut self, k: u64, n: u64) -> Explore {
        let (start, end) = (self.seeds.get(0).unwrap_or(0), self.last_seed());
        self.seeds = SeedSet::new(start..=end, Some((k, n)));
        self
    }

    fn last_seed(&self) -> u64 {
        match self.seeds.len() {
            0 => 0,
            n => self.seeds.get(n - 1).unwrap_or(0),
        }
    }

    /// Give each seed a random fault plan drawn from the world's fault space
    /// (`[explore]`).
    pub fn random_faults(self) -> Explore {
        let space = self.prepared.world().explore.clone();
        self.fault_space(space)
    }

    /// Give each seed a random fault plan drawn from `space`.
    pub fn fault_space(mut self, space: FaultSpace) -> Explore {
        self.space = Some(space);
        self
    }

    /// Shrink failing plans to minimal ones (on by default).
    pub fn shrink(mut self, shrink: bool) -> Explore {
        self.shrink = shrink;
        self
    }

    /// Shrink the plans of at most this many failing seeds (20 by default): each
    /// shrink costs up to 300 runs, and the groups are known after a few.
    pub fn max_shrunk(mut self, n: u64) -> Explore {
        self.max_shrunk = n;
        self
    }

    /// Run this many simulations at once (each on a thread of its own); `None`: as
    /// many as the machine has cores.
    pub fn jobs(mut self, jobs: Option<usize>) -> Explore {
        self.jobs = jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        self
    }

    /// Run each seed twice and fail it on any difference in the trace.
    pub fn check_determinism(mut self, check: bool) -> Explore {
        self.check_determinism = check;
        self
    }

    /// Stop each run at this virtual time.
    pub fn until(mut self, until: Option<Duration>) -> Explore {
        self.until = until;
        self
    }

    /// Leave each failing seed's artifacts in `dir/seed-N/`: the timeline of every
    /// guest (`timeline.txt`), the JSON trace (`trace.jsonl`), the capture
    /// (`capture.pcap`), the summary (`summary.txt`), and the plan (`plan.txt`).
    pub fn artifacts(mut self, dir: impl Into<PathBuf>) -> Explore {
        self.artifacts = Some(dir.into());
        self
    }

    /// Where replay files of a scenario file's failing seeds go (by default, into
    /// each failing seed's artifacts directory, if any; `simnet explore` puts them in
    /// `NAME.replays/` beside the file).
    pub fn replay_dir(mut self, dir: Option<PathBuf>) -> Explore {
        self.replay_dir = dir;
        self
    }

    /// What a run must satisfy (by default: every guest meets its expectation).
    pub fn property(
        mut self,
        property: impl Fn(&Run) -> Result<(), String> + Send + Sync + 'static,
    ) -> Explore {
        self.property = Arc::new(property);
        self
    }

    /// Run every seed; `progress` hears of each seed done (from any thread).
    pub fn run(mut self, progress: &(dyn Fn(Progress) + Sync)) -> Result<Summary> {
        if self.seeds.is_empty() {
            anyhow::bail!(
                "no seed to run: the seed range {} is empty",
                self.seeds.describe()
            );
        }
        if let Some(space) = &mut self.space {
            fit_space(&self.prepared, space, self.until)?;
        }
        let strategy = self.space.as_ref().map(plan_strategy);
        let total = self.seeds.len();
        let jobs = fitting_jobs(self.jobs, self.prepared.world().guests().count())
            .min(usize::try_from(total).unwrap_or(usize::MAX));
        let start = Instant::now();
        let next = AtomicU64::new(0);
        let tally = Mutex::new(Tally::default());
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| {
                    while let Some(seed) = self.seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let result = self.check_seed(seed, strategy.as_ref());
                        let mut t = lock(&tally);
                        t.add(seed, result);
                        let p = Progress {
                            done: t.done,
                            total,
                            failed: t.failed,
                        };
                        drop(t);
                        progress(p);
                    }
                });
            }
        });
        let t = tally.into_inner().unwrap_or_else(|e| e.into_inner());
        // Once every seed has run, so that which failures are shrunk (the smallest
        // seeds') does not depend on which thread finished first.
        let failures =
            self.finish_failures(t.failures.into_values().collect(), strategy.as_ref(), jobs);
        let virtual_ns = u64::try_from(t.virtual_ns).unwrap_or(u64::MAX);
        Ok(Summary {
            shard_text: self.seeds.shard_text(),
            seeds: total,
            passed: t.passed,
            failed: t.failed,
            failures,
            errors: t.errors.into_iter().collect(),
            errors_total: t.errors_total,
            virtual_time: SimTime::from_nanos(virtual_ns),
            wall: start.elapsed(),
        })
    }

    /// Run one seed (twice, if determinism is checked): `Ok(end, None)` if it passed,
    /// `Ok(end, Some(failure))` if not, with the plan as drawn (or replayed).
    fn check_seed(
        &self,
        seed: u64,
        strategy: Option<&SBoxedStrategy<Vec<PlanFault>>>,
    ) -> Result<(SimTime, Option<Failure>)> {
        let drawn = strategy.map_or_else(Vec::new, |s| draw(s, seed).current());
        let plan = match (&self.replay, strategy) {
            (Some(path), Some(s)) => {
                replay_shrink(draw(s, seed), path).map_err(anyhow::Error::msg)?
            }
            _ => drawn.clone(),
        };
        let first = self.run_plan(seed, &plan, None)?;
        let end = first.report.end;
        let mut reason = (self.property)(&first).err();
        if self.check_determinism {
            let second = self.run_plan(seed, &plan, None)?;
            let runs = ((&first.sim, &first.report), (&second.sim, &second.report));
            if let Some(diff) = crate::verdict::first_difference(runs.0, runs.1) {
                reason = Some(format!("not deterministic: {diff}"));
            }
        }
        drop(first);
        let Some(reason) = reason else {
            return Ok((end, None));
        };
        Ok((
            end,
            Some(Failure {
                seed,
                reason,
                plan,
                drawn: drawn.len(),
                shrink_path: self.replay.clone(),
                replayed: self.replay.is_some(),
                replay: None,
                artifacts: None,
            }),
        ))
    }

    /// Shrink the plans of the first failures (when asked), then leave each kept
    /// failure's replay file and artifacts; on `jobs` threads.
    fn finish_failures(
        &self,
        failures: Vec<Failure>,
        strategy: Option<&SBoxedStrategy<Vec<PlanFault>>>,
        jobs: usize,
    ) -> Vec<Failure> {
        let mut shrinkable = 0;
        let work: Vec<(Failure, bool)> = failures
            .into_iter()
            .map(|f| {
                let shrink_it = self.shrink
                    && self.replay.is_none()
                    && strategy.is_some()
                    && !f.plan.is_empty()
                    && !f.reason.starts_with("not deterministic")
                    && shrinkable < self.max_shrunk;
                shrinkable += u64::from(shrink_it);
                (f, shrink_it)
            })
            .collect();
        let done: Mutex<Vec<Option<Failure>>> = Mutex::new(work.iter().map(|_| None).collect());
        let next = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(work.len()).max(1) {
                scope.spawn(|| {
                    while let Some((i, (failure, shrink_it))) =
                        usize::try_from(next.fetch_add(1, Ordering::Relaxed))
                            .ok()
                            .and_then(|i| work.get(i).map(|w| (i, w)))
                    {
                        let mut failure = failure.clone();
                        if *shrink_it && let Some(s) = strategy {
                            self.shrink_failure(&mut failure, s);
                        }
                        self.leave_traces(&mut failure);
                        lock(&done)[i] = Some(failure);
                    }
                });
            }
        });
        done.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .flatten()
            .collect()
    }

    /// Shrink the failure's plan to a minimal one that still fails (its seed fixed).
    fn shrink_failure(&self, failure: &mut Failure, strategy: &SBoxedStrategy<Vec<PlanFault>>) {
        let seed = failure.seed;
        let property = |plan: &[PlanFault]| -> Result<Option<String>> {
            let run = self.run_plan(seed, plan, None)?;
            Ok((self.property)(&run).err())
        };
        let tree = draw(strategy, seed);
        match shrink(tree, failure.reason.clone(), MAX_SHRINK_STEPS, property) {
            Ok((plan, why, path)) => {
                failure.plan = plan;
                failure.reason = why;
                failure.shrink_path = Some(path);
            }
            Err(e) => failure
                .reason
                .push_str(&format!("\n  (its plan was not shrunk: {e:#})")),
        }
    }

    fn run_plan(&self, seed: u64, plan: &[PlanFault], capture: Option<PathBuf>) -> Result<Run> {
        let pcap = match &capture {
            Some(path) => Some(Arc::new(Mutex::new(PcapStream::create(path)?))),
            None => None,
        };
        let options = RunOptions {
            until: self.until,
            capture: pcap.clone().map(PcapStream::sink),
            ..RunOptions::default()
        };
        let run = self.prepared.run(seed, plan, options)?;
        if let Some(pcap) = pcap {
            let stream = Arc::into_inner(pcap)
                .and_then(|m| m.into_inner().ok())
                .context("the capture outlived the run")?;
            stream.finish()?;
        }
        Ok(run)
    }

    /// Write the failure's replay file and artifacts, noting where; what cannot be
    /// written is said in the failure rather than lost with it.
    fn leave_traces(&self, failure: &mut Failure) {
        if let Some(scenario) = &self.prepared.world().path {
            failure.replay = match failure.plan.is_empty() {
                true => Some(format!(
                    "simnet run {} --seed {}",
                    shell_word(&scenario.display().to_string()),
                    failure.seed
                )),
                // Beside the other artifacts unless a directory is named: never into
                // the source tree of a test.
                false => self
                    .replay_dir
                    .clone()
                    .or_else(|| {
                        self.artifacts
                            .as_ref()
                            .map(|a| a.join(format!("seed-{}", failure.seed)))
                    })
                    .map(
                        |dir| match write_replay(scenario, failure.seed, &failure.plan, &dir) {
                            Ok((_, command)) => command,
                            Err(e) => format!("none: the replay file was not written: {e:#}"),
                        },
                    ),
            };
        }
        if let Some(dir) = &self.artifacts {
            let dir = dir.join(format!("seed-{}", failure.seed));
            match self.write_artifacts(failure, &dir) {
                Ok(()) => failure.artifacts = Some(dir),
                Err(e) => failure
                    .reason
                    .push_str(&format!("\n  (its artifacts were not written: {e:#})")),
            }
        }
    }

    /// Run the failure once more with a capture and write what it left.
    fn write_artifacts(&self, failure: &Failure, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let run = self.run_plan(failure.seed, &failure.plan, Some(dir.join("capture.pcap")))?;
        let summary = format!(
            "{}\n\n{}reason: {}\n",
            run.headline(),
            run.summary(),
            failure.reason
        );
        crate::report::write_artifacts(dir, &run.sim, &run.report, &summary)?;
        let plan = dir.join("plan.txt");
        std::fs::write(&plan, plan_text(failure))
            .with_context(|| format!("cannot write {}", plan.display()))
    }
}

/// The fault space fitted to the world: the calls its guests make and the text
/// they print in a run without faults (what API faults may hit and crashes may
/// wait for), and, unless set, a horizon as long as that run.
pub fn fit_space(
    prepared: &Prepared,
    space: &mut FaultSpace,
    until: Option<Duration>,
) -> Result<()> {
    if space.calls.is_some() && !space.fit_horizon {
        return Ok(());
    }
    let seed = prepared.world().seed;
    let options = RunOptions {
        until,
        hash_only: true,
        ..RunOptions::default()
    };
    let run = prepared.run(seed, &[], options)?;
    if space.fit_horizon {
        let end = Duration::from_nanos(run.report.end.as_nanos());
        space.horizon = end.max(Duration::from_millis(1));
    }
    if space.calls.is_some() {
        return Ok(());
    }
    let calls = run.sim.with_net(|net| {
        net.api_calls()
            .map(|(host, method, count)| Call {
                host: net.host_name(host).to_string(),
                method,
                count,
            })
            .collect()
    });
    // A few lines of each guest, shortened to words it printed whole.
    let mut outputs: Vec<String> = Vec::new();
    for g in &run.report.guests {
        let Some(id) = run.sim.guest_id(&g.name) else {
            continue;
        };
        for line in run.sim.output(id).lines().iter().take(4) {
            let text: String = line
                .text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            if !text.is_empty() && !outputs.contains(&text) {
                outputs.push(text);
            }
        }
    }
    space.calls = Some(calls);
    space.outputs = outputs;
    Ok(())
}

/// What the seeds run so far came to.
#[derive(Default)]
struct Tally {
    done: u64,
    passed: u64,
    failed: u64,
    virtual_ns: u128,
    failures: BTreeMap<u64, Failure>,
    errors: BTreeMap<u64, String>,
    errors_total: u64,
}

impl Tally {
    fn add(&mut self, seed: u64, result: Result<(SimTime, Option<Failure>)>) {
        self.done += 1;
        match result {
            Ok((end, failure)) => {
                self.virtual_ns += u128::from(end.as_nanos());
                match failure {
                    None => self.passed += 1,
                    Some(f) => {
                        self.failed += 1;
                        keep(&mut self.failures, seed, f);
                    }
                }
            }
            Err(e) => {
                self.errors_total += 1;
                keep(&mut self.errors, seed, format!("{e:#}"));
            }
        }
    }
}

/// Keep `item` if its seed is among the smallest [`KEPT_FAILURES`].
fn keep<T>(kept: &mut BTreeMap<u64, T>, seed: u64, item: T) {
    kept.insert(seed, item);
    if kept.len() > KEPT_FAILURES {
        kept.pop_last();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// At most as many parallel worlds of `guests` guests as fit in one process under
/// the memory layout those worlds get.
pub fn fitting_jobs(jobs: usize, guests: usize) -> usize {
    let layout = simnet_wasi::MemoryLayout::for_guests(guests);
    let fit = (layout.guests_per_process() / guests.max(1)).max(1);
    jobs.min(fit).max(1)
}

/// A plan as lines: each fault, or the note that there is none.
fn plan_text(failure: &Failure) -> String {
    if failure.plan.is_empty() {
        return match failure.drawn {
            0 => "(no faults)\n".into(),
            n => format!("(none of the {n} faults drawn is needed: the run fails without them)\n"),
        };
    }
    let mut out = String::new();
    for f in &failure.plan {
        let _ = writeln!(out, "{f}");
    }
    out
}

/// `s` as one shell word.
pub fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
