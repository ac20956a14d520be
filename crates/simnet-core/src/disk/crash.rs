//! Power failing under a disk: the page cache is gone, and with it what was never
//! made durable, as much as the crash's loss says (see `journal.rs`).

use super::Disk;
use super::journal::CrashLoss;
use super::node::{FileData, NodeId};

/// What a crash took from one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLoss {
    pub path: String,
    /// Unsynced writes (and size changes) lost, whole or torn.
    pub writes: usize,
    /// Bytes those writes carried.
    pub bytes: u64,
}

/// What one crash took from a host's disk, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskCrash {
    pub at: crate::time::SimTime,
    pub host: crate::ids::HostId,
    pub report: CrashReport,
}

/// What a crash took from a disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashReport {
    pub loss: CrashLoss,
    pub files: Vec<FileLoss>,
    /// Journal records (creates, renames, removals) undone.
    pub entry_changes: usize,
}

impl CrashReport {
    pub fn lost_anything(&self) -> bool {
        !self.files.is_empty() || self.entry_changes > 0
    }

    /// Unsynced writes lost, in all files.
    pub fn writes(&self) -> usize {
        self.files.iter().map(|f| f.writes).sum()
    }

    /// Bytes those writes carried.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

impl Disk {
    /// Power fails: the page cache is gone. What was synced survives; of the rest,
    /// `loss` says how much (or the disk's configuration, or else the disk's random
    /// stream, which also draws the lengths of prefixes and torn writes). The
    /// programs holding descriptors died with it: their descriptors are released
    /// as they go.
    pub fn crash(&mut self, loss: Option<CrashLoss>) -> CrashReport {
        let loss = loss
            .or(self.config.crash_loss)
            .unwrap_or_else(|| CrashLoss::draw(&mut self.rng));
        let records = std::mem::take(&mut self.journal.records);
        let keep = loss.keep(records.len(), &mut self.rng);
        for record in records[keep..].iter().rev() {
            for change in record.iter().rev() {
                self.apply(&change.inverse());
            }
        }
        let ids: Vec<NodeId> = self
            .live()
            .filter(|(_, n)| n.file().is_some())
            .map(|(id, _)| id)
            .collect();
        let mut files = Vec::new();
        for id in ids {
            if let Some(lost) = self.crash_file(id, loss) {
                files.push(lost);
            }
        }
        self.collect();
        CrashReport {
            loss,
            files,
            entry_changes: records.len() - keep,
        }
    }

    /// A file after the crash: its durable content with what of its pending writes
    /// `loss` keeps; out of the page cache either way.
    fn crash_file(&mut self, id: NodeId, loss: CrashLoss) -> Option<FileLoss> {
        let node = self.nodes.get_mut(id.0 as usize)?.as_deref_mut()?;
        let path = node.path.clone();
        let super::node::NodeData::File(file) = &mut node.data else {
            return None;
        };
        self.uncached.insert(id);
        let pending = file.pending.len();
        if pending == 0 && !file.diverged {
            return None;
        }
        let kept = loss.keep(pending, &mut self.rng);
        let torn = match loss {
            CrashLoss::Torn if kept < pending => file.pending[kept].torn_choice(&mut self.rng),
            _ => None,
        };
        let (content, mtime) = file.survive(kept, torn);
        let lost = &file.pending[kept..];
        let report = FileLoss {
            path,
            writes: lost.len(),
            bytes: lost.iter().map(|w| w.bytes()).sum(),
        };
        let before = file.charge();
        *file = FileData::new(content, mtime);
        let after = file.charge();
        node.mtime = mtime;
        self.used = (self.used + after).saturating_sub(before);
        (report.writes > 0).then_some(report)
    }
}
