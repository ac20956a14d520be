//! What a crash may take back. Directory entries change through a journal, as on a
//! journaling filesystem: each operation (a create, a rename, an unlink) is one
//! record of entry changes, applied at once to what guests see and made durable when
//! a directory is synced, which commits every record before it. A crash keeps the
//! committed records and a prefix of the rest, undoing the others newest first.
//! File data is pending per file (see `node.rs`); the loss a crash draws says how
//! much of both survives.

use rand::RngExt;

use super::node::NodeId;
use crate::rng::SimRng;

/// One entry change: an entry added to or removed from a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Attach {
        dir: NodeId,
        name: String,
        node: NodeId,
    },
    Detach {
        dir: NodeId,
        name: String,
        node: NodeId,
    },
}

impl Change {
    /// The change that undoes this one.
    pub fn inverse(&self) -> Change {
        match self.clone() {
            Change::Attach { dir, name, node } => Change::Detach { dir, name, node },
            Change::Detach { dir, name, node } => Change::Attach { dir, name, node },
        }
    }
}

/// The records not yet committed, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Journal {
    pub records: Vec<Vec<Change>>,
}

impl Journal {
    pub fn push(&mut self, record: Vec<Change>) {
        if !record.is_empty() {
            self.records.push(record);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn commit(&mut self) -> usize {
        std::mem::take(&mut self.records).len()
    }
}

/// How much of what was never made durable a crash keeps: each is something a real
/// disk can do when power fails with writes in its page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashLoss {
    /// Nothing unsynced survives.
    All,
    /// Everything survives (the kernel had written it all back).
    Nothing,
    /// A prefix of the journal, and of each file's unsynced writes, survives.
    Prefix,
    /// As `Prefix`, and each file's first lost write may be torn: some of its
    /// leading sectors reached the disk.
    Torn,
}

impl CrashLoss {
    pub const ALL: [CrashLoss; 4] = [
        CrashLoss::All,
        CrashLoss::Nothing,
        CrashLoss::Prefix,
        CrashLoss::Torn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CrashLoss::All => "all",
            CrashLoss::Nothing => "nothing",
            CrashLoss::Prefix => "prefix",
            CrashLoss::Torn => "torn",
        }
    }

    pub fn from_name(name: &str) -> Option<CrashLoss> {
        CrashLoss::ALL.into_iter().find(|l| l.name() == name)
    }

    /// A loss drawn from the disk's random stream.
    pub(crate) fn draw(rng: &mut SimRng) -> CrashLoss {
        CrashLoss::ALL[rng.random_range(0..CrashLoss::ALL.len())]
    }

    /// How many of `n` pending items survive.
    pub(crate) fn keep(self, n: usize, rng: &mut SimRng) -> usize {
        match self {
            CrashLoss::All => 0,
            CrashLoss::Nothing => n,
            CrashLoss::Prefix | CrashLoss::Torn => rng.random_range(0..=n),
        }
    }
}
