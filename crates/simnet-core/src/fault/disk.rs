//! Disk faults: what a failing device does to the operations on it, from errors a
//! program sees at once (I/O errors, a full disk) to harm it sees only later (a sync
//! that did not make anything durable, data read back corrupted, writes lost or
//! misplaced on the media, which a crash or a read reveals). Each lasts until the
//! disk is healed. The disk consults them (`disk/faults.rs`), and each effect is
//! traced as it happens.

use std::time::Duration;

/// The operations a disk fault acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiskOp {
    /// Reads, listings and opens of existing files (stats come from the inode
    /// cache and never fail).
    Read,
    /// Writes, size changes, and changes to directories.
    Write,
    /// `sync` and `sync-data`.
    Sync,
    /// Every operation.
    Any,
}

impl DiskOp {
    pub const ALL: [DiskOp; 4] = [DiskOp::Read, DiskOp::Write, DiskOp::Sync, DiskOp::Any];

    pub fn name(self) -> &'static str {
        match self {
            DiskOp::Read => "read",
            DiskOp::Write => "write",
            DiskOp::Sync => "sync",
            DiskOp::Any => "any",
        }
    }

    pub fn from_name(name: &str) -> Option<DiskOp> {
        DiskOp::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Whether a fault on `self` hits an operation of kind `op`.
    pub fn covers(self, op: DiskOp) -> bool {
        self == DiskOp::Any || self == op
    }
}

/// A fault of a host's disk.
#[derive(Clone, Debug, PartialEq)]
pub enum DiskFault {
    /// Operations of `op` on paths under `path` (a guest path prefix such as
    /// `/data/wal`; `None`: the whole disk) fail with `io`, each with `probability`.
    IoError {
        op: DiskOp,
        path: Option<String>,
        probability: f64,
    },
    /// The disk is full: whatever needs more space fails with `insufficient-space`.
    Full,
    /// Every operation costs `extra` more virtual time (a latency spike).
    Slow { extra: Duration },
    /// Syncs report success and make nothing durable (a lying disk).
    LyingSync,
    /// Each read returns its data with one bit flipped, with `probability`.
    CorruptReads { probability: f64 },
    /// Each write, with `probability`, is acknowledged and read back from the page
    /// cache but never reaches the media: a sync does not make it durable.
    LostWrites { probability: f64 },
    /// Each write, with `probability`, reaches the media one sector after where it
    /// was meant to go: the page cache reads right until a crash.
    MisdirectedWrites { probability: f64 },
}

impl DiskFault {
    /// The name a scenario's `[[fault]] kind` gives it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            DiskFault::IoError { .. } => "disk-error",
            DiskFault::Full => "disk-full",
            DiskFault::Slow { .. } => "disk-slow",
            DiskFault::LyingSync => "lying-sync",
            DiskFault::CorruptReads { .. } => "corrupt-reads",
            DiskFault::LostWrites { .. } => "lost-writes",
            DiskFault::MisdirectedWrites { .. } => "misdirected-writes",
        }
    }

    /// Probabilities within 0..=1.
    pub fn check(&self) -> Result<(), String> {
        let p = match self {
            DiskFault::IoError { probability, .. }
            | DiskFault::CorruptReads { probability }
            | DiskFault::LostWrites { probability }
            | DiskFault::MisdirectedWrites { probability } => *probability,
            _ => return Ok(()),
        };
        match (0.0..=1.0).contains(&p) {
            true => Ok(()),
            false => Err(format!("a probability must be within 0..=1, got {p}")),
        }
    }

    /// In words, for the timeline and the trace.
    pub fn describe(&self) -> String {
        let chance = |p: f64| match p {
            1.0 => String::new(),
            p => format!(" ({}% of them)", (p * 100.0 * 100.0).round() / 100.0),
        };
        match self {
            DiskFault::IoError {
                op,
                path,
                probability,
            } => {
                let what = match op {
                    DiskOp::Any => "operations".to_string(),
                    op => format!("{}s", op.name()),
                };
                let under = path
                    .as_ref()
                    .map_or(String::new(), |p| format!(" under {p}"));
                format!("{what}{under} fail with io{}", chance(*probability))
            }
            DiskFault::Full => "disk full".into(),
            DiskFault::Slow { extra } => format!("disk slow: every operation {extra:?} more"),
            DiskFault::LyingSync => "syncs lie: nothing becomes durable".into(),
            DiskFault::CorruptReads { probability } => {
                format!("reads come back corrupted{}", chance(*probability))
            }
            DiskFault::LostWrites { probability } => {
                format!(
                    "writes are lost on the way to the media{}",
                    chance(*probability)
                )
            }
            DiskFault::MisdirectedWrites { probability } => {
                format!(
                    "writes land one sector off on the media{}",
                    chance(*probability)
                )
            }
        }
    }
}

/// One effect of a disk fault on one operation, as the trace records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiskEffect {
    /// An operation failed with `io`.
    IoError(DiskOp),
    /// A write needing space failed with `insufficient-space` on a full disk.
    NoSpace,
    /// A sync made nothing durable.
    LyingSync,
    /// A read returned corrupted data.
    CorruptRead,
    /// A write will never reach the media.
    LostWrite,
    /// A write will reach the media at the wrong place.
    MisdirectedWrite,
}

impl DiskEffect {
    /// A stable number per effect, for the trace hash.
    pub(crate) fn code(self) -> u64 {
        match self {
            DiskEffect::IoError(op) => 1 + op as u64,
            DiskEffect::NoSpace => 8,
            DiskEffect::LyingSync => 9,
            DiskEffect::CorruptRead => 10,
            DiskEffect::LostWrite => 11,
            DiskEffect::MisdirectedWrite => 12,
        }
    }

    /// In words, about the file at `path`.
    pub fn describe(self, path: &str) -> String {
        match self {
            DiskEffect::IoError(op) => format!("{} of {path} fails with io", op.name()),
            DiskEffect::NoSpace => format!("write to {path} fails with insufficient-space"),
            DiskEffect::LyingSync => format!("sync of {path} lies"),
            DiskEffect::CorruptRead => format!("read of {path} comes back corrupted"),
            DiskEffect::LostWrite => format!("write to {path} is lost on the way to the media"),
            DiskEffect::MisdirectedWrite => format!("write to {path} lands one sector off"),
        }
    }
}
