//! The nodes of a disk (inodes): files, directories and symbolic links, with their
//! metadata. A file keeps its durable content apart from the writes since its last
//! sync, which live only in the page cache until then.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use super::content::Content;
use super::faults::WriteFate;

/// Symbolic link targets shorter than this many bytes stay in the inode (ext4's
/// "fast" links); longer ones take a block.
pub(crate) const FAST_SYMLINK_MAX: usize = 60;

/// A node's number on its disk. Numbers are never reused within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    pub fn raw(self) -> u32 {
        self.0
    }
}

/// What kind of node it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Directory,
    Symlink,
}

/// A write not yet made durable: the page cache holds it, a sync makes it durable,
/// and a crash keeps all, some or none of these, in order.
#[derive(Clone, Debug)]
pub(crate) enum PendingWrite {
    Write {
        offset: u64,
        data: Bytes,
        at: Duration,
        /// Where a disk fault sends it on the media.
        fate: WriteFate,
    },
    SetLen {
        len: u64,
        at: Duration,
    },
}

impl PendingWrite {
    /// Apply it as the page cache holds it.
    fn apply(&self, content: &mut Content) {
        match self {
            PendingWrite::Write { offset, data, .. } => content.write(*offset, data),
            PendingWrite::SetLen { len, .. } => content.set_len(*len),
        }
    }

    /// Apply it as it reaches the media: a lost write never does, a misdirected
    /// one lands a sector later.
    fn apply_to_media(&self, content: &mut Content) {
        match self {
            PendingWrite::Write {
                fate: WriteFate::Lost,
                ..
            } => {}
            PendingWrite::Write {
                offset,
                data,
                fate: WriteFate::Misdirected,
                ..
            } => content.write(offset + super::content::SECTOR, data),
            other => other.apply(content),
        }
    }

    fn faulty(&self) -> bool {
        matches!(
            self,
            PendingWrite::Write {
                fate: WriteFate::Lost | WriteFate::Misdirected,
                ..
            }
        )
    }

    fn at(&self) -> Duration {
        match self {
            PendingWrite::Write { at, .. } | PendingWrite::SetLen { at, .. } => *at,
        }
    }

    /// How many leading sectors of this write a torn write keeps: strictly fewer
    /// than it spans, at least one (`None`: it cannot tear, spanning one sector, or
    /// being a size change).
    pub(crate) fn torn_choice(&self, rng: &mut crate::rng::SimRng) -> Option<u64> {
        use rand::RngExt;
        match self {
            PendingWrite::Write { offset, data, .. } => {
                let sectors = sectors_of(*offset, data.len() as u64);
                (sectors > 1).then(|| rng.random_range(1..sectors))
            }
            PendingWrite::SetLen { .. } => None,
        }
    }

    /// Bytes the write carries (0 for a size change).
    pub(crate) fn bytes(&self) -> u64 {
        match self {
            PendingWrite::Write { data, .. } => data.len() as u64,
            PendingWrite::SetLen { .. } => 0,
        }
    }
}

/// A regular file: what reads see (`cached`), what survives a crash for sure
/// (`durable`), and the writes between them.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileData {
    pub cached: Content,
    pub durable: Content,
    /// Modification time of the durable version.
    pub durable_mtime: Duration,
    pub pending: Vec<PendingWrite>,
    /// A sync let a lost or misdirected write through: the media differs from the
    /// page cache beyond the pending writes, until a crash shows it.
    pub diverged: bool,
}

impl FileData {
    pub fn new(content: Content, mtime: Duration) -> FileData {
        FileData {
            durable: content.clone(),
            cached: content,
            durable_mtime: mtime,
            pending: Vec::new(),
            diverged: false,
        }
    }

    /// Storage the file holds: its pages in the page cache or on the media,
    /// whichever is more. Pages a size change dropped stay taken until a sync makes
    /// that durable, as ext4 reuses freed blocks only once their release commits; a
    /// crash can then bring them back without the disk holding more than it can.
    pub fn charge(&self) -> u64 {
        self.cached.allocated().max(self.durable.allocated())
    }

    pub fn record(&mut self, write: PendingWrite) {
        write.apply(&mut self.cached);
        self.pending.push(write);
    }

    /// Make every pending write durable (where faults let it land); the bytes that
    /// reached the device.
    pub fn sync(&mut self, mtime: Duration) -> u64 {
        let flushed = self.pending.iter().map(PendingWrite::bytes).sum();
        if self.diverged || self.pending.iter().any(PendingWrite::faulty) {
            for w in &self.pending {
                w.apply_to_media(&mut self.durable);
            }
            self.diverged = true;
        } else {
            self.durable = self.cached.clone();
        }
        self.durable_mtime = mtime;
        self.pending.clear();
        flushed
    }

    /// After a crash: the durable content with the first `keep` pending writes, and
    /// of the next one, if `torn_sectors` is given, only that many of its leading
    /// sectors. Returns the surviving content and modification time.
    pub fn survive(&self, keep: usize, torn_sectors: Option<u64>) -> (Content, Duration) {
        let mut content = self.durable.clone();
        let mut mtime = self.durable_mtime;
        for w in &self.pending[..keep.min(self.pending.len())] {
            w.apply_to_media(&mut content);
            mtime = w.at();
        }
        if let (
            Some(sectors),
            Some(PendingWrite::Write {
                offset,
                data,
                at,
                fate: WriteFate::Written,
            }),
        ) = (torn_sectors, self.pending.get(keep))
        {
            let kept = torn_prefix(*offset, data.len() as u64, sectors);
            if kept > 0 {
                content.write(*offset, &data.slice(..kept as usize));
                mtime = *at;
            }
        }
        (content, mtime)
    }
}

/// How many leading bytes of a write at `offset` of `len` bytes lie in its first
/// `sectors` sectors (a sector is written whole or not at all).
pub(crate) fn torn_prefix(offset: u64, len: u64, sectors: u64) -> u64 {
    use super::content::SECTOR;
    let first_end = (offset / SECTOR + sectors) * SECTOR;
    first_end.saturating_sub(offset).min(len)
}

/// The sectors a write at `offset` of `len` bytes touches.
pub(crate) fn sectors_of(offset: u64, len: u64) -> u64 {
    use super::content::SECTOR;
    if len == 0 {
        return 0;
    }
    (offset + len).div_ceil(SECTOR) - offset / SECTOR
}

/// What a node is, with what it holds.
#[derive(Clone, Debug)]
pub(crate) enum NodeData {
    File(FileData),
    /// Entries by name, in name order (a listing's order).
    Directory {
        entries: BTreeMap<String, NodeId>,
        parent: NodeId,
    },
    Symlink(String),
}

/// One node with its metadata.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub data: NodeData,
    /// Directory entries naming it (a directory counts its `.` and its entries'
    /// `..` as Linux does).
    pub links: u64,
    /// Descriptors guests hold on it: an unlinked node lives while one is open.
    pub open: u32,
    pub atime: Duration,
    pub mtime: Duration,
    pub ctime: Duration,
    /// The path it was last reached by, for reports ("crash lost writes to /data/log").
    pub path: String,
}

impl Node {
    pub fn kind(&self) -> NodeKind {
        match self.data {
            NodeData::File(_) => NodeKind::File,
            NodeData::Directory { .. } => NodeKind::Directory,
            NodeData::Symlink(_) => NodeKind::Symlink,
        }
    }

    /// Size as `stat` reports it.
    pub fn size(&self) -> u64 {
        match &self.data {
            NodeData::File(f) => f.cached.len(),
            NodeData::Directory { .. } => super::content::PAGE as u64,
            NodeData::Symlink(target) => target.len() as u64,
        }
    }

    /// Bytes of storage it takes on the disk (its capacity accounting).
    pub fn allocated(&self) -> u64 {
        match &self.data {
            NodeData::File(f) => f.charge(),
            NodeData::Directory { .. } => super::content::PAGE as u64,
            NodeData::Symlink(target) if target.len() < FAST_SYMLINK_MAX => 0,
            NodeData::Symlink(_) => super::content::PAGE as u64,
        }
    }

    pub fn file(&self) -> Option<&FileData> {
        match &self.data {
            NodeData::File(f) => Some(f),
            _ => None,
        }
    }

    pub fn file_mut(&mut self) -> Option<&mut FileData> {
        match &mut self.data {
            NodeData::File(f) => Some(f),
            _ => None,
        }
    }

    pub fn entries(&self) -> Option<&BTreeMap<String, NodeId>> {
        match &self.data {
            NodeData::Directory { entries, .. } => Some(entries),
            _ => None,
        }
    }

    pub fn entries_mut(&mut self) -> Option<&mut BTreeMap<String, NodeId>> {
        match &mut self.data {
            NodeData::Directory { entries, .. } => Some(entries),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_write_keeps_whole_sectors_only() {
        // A write of 1000 bytes at 300 spans sectors 0 and 1 (bytes 300..1300).
        assert_eq!(sectors_of(300, 1000), 3);
        assert_eq!(torn_prefix(300, 1000, 0), 0);
        assert_eq!(torn_prefix(300, 1000, 1), 212);
        assert_eq!(torn_prefix(300, 1000, 2), 724);
        assert_eq!(torn_prefix(300, 1000, 3), 1000);
        assert_eq!(sectors_of(0, 0), 0);
    }

    #[test]
    fn a_crash_keeps_the_durable_content_and_a_prefix_of_the_pending_writes() {
        let mut f = FileData::new(Content::from_bytes(b"durable"), Duration::ZERO);
        let at = Duration::from_secs(1);
        f.record(PendingWrite::Write {
            offset: 7,
            data: Bytes::from_static(b" one"),
            at,
            fate: WriteFate::Written,
        });
        f.record(PendingWrite::Write {
            offset: 11,
            data: Bytes::from_static(b" two"),
            at,
            fate: WriteFate::Written,
        });
        assert_eq!(f.cached.read(0, 100), b"durable one two");
        let text = |f: &FileData, keep, torn| {
            String::from_utf8(f.survive(keep, torn).0.read(0, 100)).unwrap()
        };
        assert_eq!(text(&f, 0, None), "durable");
        assert_eq!(text(&f, 1, None), "durable one");
        assert_eq!(text(&f, 2, None), "durable one two");
        assert_eq!(text(&f, 1, Some(1)), "durable one two");
        assert_eq!(f.sync(at), 8);
        assert_eq!(text(&f, 0, None), "durable one two");
    }
}
