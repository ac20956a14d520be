//! The operations a guest's filesystem calls become, one per `wasi:filesystem` call,
//! with Linux's answers: which error, which times change, what each costs.

use std::time::Duration;

use bytes::Bytes;

use super::Disk;
use super::config::DiskConfig;
use super::content::{Content, MAX_FILE_SIZE};
use super::journal::Change;
use super::node::{FAST_SYMLINK_MAX, FileData, NodeData, NodeId, NodeKind, PendingWrite};
use super::path::{LastLink, Resolved, resolve_as};
use crate::fault::DiskOp;
use crate::fs_error::FsError;
use crate::time::SimTime;

/// How to open a path (`open-at`'s flags, as far as the disk cares).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Follow a symbolic link as the last component.
    pub follow: bool,
    pub create: bool,
    /// With `create`: fail if it exists.
    pub exclusive: bool,
    pub truncate: bool,
    /// It must be a directory.
    pub directory: bool,
    /// Opened for writing (a directory cannot be).
    pub write: bool,
}

/// What `stat` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub node: NodeId,
    pub kind: NodeKind,
    pub links: u64,
    pub size: u64,
    /// Times since the Unix epoch, on the simulation's wall clock.
    pub atime: Duration,
    pub mtime: Duration,
    pub ctime: Duration,
}

/// A time to set (`new-timestamp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timestamp {
    NoChange,
    Now,
    /// Since the Unix epoch.
    At(Duration),
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: NodeKind,
    pub node: NodeId,
}

impl Disk {
    fn resolve(&self, base: NodeId, path: &str, follow: bool) -> Result<Resolved, FsError> {
        let last = if follow {
            LastLink::Follow
        } else {
            LastLink::FollowIfSlash
        };
        self.resolve_as(base, path, last)
    }

    /// Resolve the path of an entry the call makes, removes or renames: a symbolic
    /// link as its last component is the entry, even with a trailing slash.
    fn resolve_entry(&self, base: NodeId, path: &str) -> Result<Resolved, FsError> {
        self.resolve_as(base, path, LastLink::Entry)
    }

    fn resolve_as(&self, base: NodeId, path: &str, last: LastLink) -> Result<Resolved, FsError> {
        if self.kind(base) != Some(NodeKind::Directory) {
            return Err(FsError::NotDirectory);
        }
        resolve_as(self, base, path, last)
    }

    /// A new entry may go into `dir` only while `dir` is itself linked: a directory
    /// removed under a descriptor takes none (`no-entry`, as on Linux).
    fn check_linked(&self, dir: NodeId) -> Result<(), FsError> {
        match self.is_removed_directory(dir) {
            true => Err(FsError::NoEntry),
            false => Ok(()),
        }
    }

    /// The name a new entry takes in `dir`: there must be one (a path that ends at
    /// the directory itself names an entry that exists), the directory must still be
    /// linked, and no disk fault may fail the change.
    fn claim_name(&mut self, dir: NodeId, name: Option<String>) -> Result<String, FsError> {
        let name = name.ok_or(FsError::Exist)?;
        self.check_linked(dir)?;
        self.faulted_entry(dir, Some(&name))?;
        Ok(name)
    }

    fn op(&mut self) {
        self.cost = self.config.op_latency;
    }

    /// Whether a disk fault fails this operation of kind `op` on `node` (reached by
    /// `path`) with `io`.
    fn faulted(&mut self, op: DiskOp, node: NodeId, path: &str) -> Result<(), FsError> {
        match self.faults.io_error(op, path, node) {
            true => Err(FsError::Io),
            false => Ok(()),
        }
    }

    /// As [`Disk::faulted`], for a node by its own path.
    fn faulted_node(&mut self, op: DiskOp, node: NodeId) -> Result<(), FsError> {
        let path = self.path_of(node);
        self.faulted(op, node, &path)
    }

    /// As [`Disk::faulted`], for an entry about to change in `dir`.
    fn faulted_entry(&mut self, dir: NodeId, name: Option<&str>) -> Result<(), FsError> {
        let path = format!("{}/{}", self.path_of(dir), name.unwrap_or("."));
        self.faulted(DiskOp::Write, dir, &path)
    }

    fn stamp_dir(&mut self, dir: NodeId, now: SimTime) {
        let wall = self.wall(now);
        if let Some(d) = self.node_mut(dir) {
            d.mtime = wall;
            d.ctime = wall;
        }
    }

    /// The node `path` names from `base` (following a last symbolic link if asked),
    /// after checking that `write` access can apply to it.
    pub fn open_at(
        &mut self,
        base: NodeId,
        path: &str,
        opts: OpenOptions,
        now: SimTime,
    ) -> Result<NodeId, FsError> {
        self.op();
        // An exclusive create never follows a link: the link itself exists.
        let follow = opts.follow && !(opts.create && opts.exclusive);
        let r = self.resolve(base, path, follow)?;
        if let Some(node) = r.node {
            if opts.create && opts.exclusive {
                return Err(FsError::Exist);
            }
            self.faulted_node(DiskOp::Read, node)?;
            let kind = self.kind(node).ok_or(FsError::NoEntry)?;
            match kind {
                NodeKind::Symlink => return Err(FsError::Loop),
                NodeKind::Directory if opts.write || opts.truncate => {
                    return Err(FsError::IsDirectory);
                }
                NodeKind::File if opts.directory => return Err(FsError::NotDirectory),
                _ => {}
            }
            if opts.truncate && kind == NodeKind::File {
                self.set_len(node, 0, now)?;
                self.op();
            }
            return Ok(node);
        }
        if !opts.create {
            return Err(FsError::NoEntry);
        }
        if r.trailing_slash {
            return Err(FsError::IsDirectory);
        }
        let name = self.claim_name(r.parent, r.name)?;
        let wall = self.wall(now);
        let path = format!("{}/{name}", self.path_of(r.parent));
        let file = self.new_node(
            NodeData::File(FileData::new(Content::default(), wall)),
            wall,
            path,
        )?;
        self.change(vec![Change::Attach {
            dir: r.parent,
            name,
            node: file,
        }]);
        self.stamp_dir(r.parent, now);
        Ok(file)
    }

    fn path_of(&self, node: NodeId) -> String {
        let path = self.node(node).map_or("", |n| n.path.as_str());
        path.trim_end_matches('/').to_string()
    }

    pub fn stat(&self, node: NodeId) -> Result<Stat, FsError> {
        let n = self.node(node).ok_or(FsError::BadDescriptor)?;
        // A removed directory keeps only its own `.`, which Linux does not count.
        let links = match self.is_removed_directory(node) {
            true => 0,
            false => n.links,
        };
        Ok(Stat {
            node,
            kind: n.kind(),
            links,
            size: n.size(),
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
        })
    }

    pub fn stat_at(&mut self, base: NodeId, path: &str, follow: bool) -> Result<Stat, FsError> {
        self.op();
        // cap-std stats a path of one name without following straight from the
        // directory, so a trailing slash there is not checked (`file/` is found).
        let path = match (follow, single_name(path)) {
            (false, Some(name)) => name,
            _ => path,
        };
        let r = self.resolve(base, path, follow)?;
        self.stat(r.node.ok_or(FsError::NoEntry)?)
    }

    /// Up to `len` bytes of a file from `offset`.
    pub fn read(&mut self, node: NodeId, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        self.node(node).ok_or(FsError::BadDescriptor)?;
        // A negative file offset to the kernel.
        if offset > i64::MAX as u64 {
            return Err(FsError::Invalid);
        }
        self.faulted_node(DiskOp::Read, node)?;
        let n = self.node(node).ok_or(FsError::BadDescriptor)?;
        let file = n.file().ok_or(FsError::IsDirectory)?;
        let mut data = file.cached.read(offset, len);
        let stored = file.cached.allocated();
        self.faults.corrupt(&mut data, node);
        let mut cost = self.config.op_latency
            + DiskConfig::transfer(data.len() as u64, self.config.cache_bandwidth);
        // The first read after a crash brings the file back into the page cache:
        // the blocks it has, not its holes.
        if self.uncached.remove(&node) {
            cost += self.config.read_miss_latency
                + DiskConfig::transfer(stored, self.config.device_bandwidth);
        }
        self.cost = cost;
        Ok(data)
    }

    /// Write `data` at `offset` into the page cache: reads see it at once, a crash
    /// before the file's next sync may lose it. As Linux: an end past the largest
    /// file offset is `invalid`, a write starting at or past the largest file size
    /// `file-too-large`, and one crossing it is cut short there.
    pub fn write(
        &mut self,
        node: NodeId,
        offset: u64,
        mut data: Bytes,
        now: SimTime,
    ) -> Result<u64, FsError> {
        let wall = self.wall(now);
        let cost = self.config.op_latency
            + DiskConfig::transfer(data.len() as u64, self.config.cache_bandwidth);
        self.node(node).ok_or(FsError::BadDescriptor)?;
        self.faulted_node(DiskOp::Write, node)?;
        let n = self.node(node).ok_or(FsError::BadDescriptor)?;
        let file = n.file().ok_or(FsError::IsDirectory)?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(FsError::Invalid)?;
        if end > i64::MAX as u64 {
            return Err(FsError::Invalid);
        }
        if end > MAX_FILE_SIZE && !data.is_empty() {
            if offset >= MAX_FILE_SIZE {
                return Err(FsError::FileTooLarge);
            }
            data.truncate((MAX_FILE_SIZE - offset) as usize);
        }
        let growth = file.cached.growth(offset, data.len() as u64);
        if growth > 0 && self.faults.full() {
            self.faults.no_space(node);
            return Err(FsError::InsufficientSpace);
        }
        self.check_space(growth)?;
        let written = data.len() as u64;
        if written > 0 {
            let fate = self.faults.write_fate(node);
            let n = self.node_mut(node).ok_or(FsError::BadDescriptor)?;
            let before = n.allocated();
            n.mtime = wall;
            n.ctime = wall;
            if let Some(f) = n.file_mut() {
                f.record(PendingWrite::Write {
                    offset,
                    data,
                    at: wall,
                    fate,
                });
            }
            self.recharge(node, before);
        }
        self.cost = cost;
        Ok(written)
    }

    /// The size of a file (where an append writes).
    pub fn size(&self, node: NodeId) -> Result<u64, FsError> {
        Ok(self.node(node).ok_or(FsError::BadDescriptor)?.size())
    }

    /// Cut or extend a file.
    pub fn set_len(&mut self, node: NodeId, len: u64, now: SimTime) -> Result<(), FsError> {
        self.op();
        if len > i64::MAX as u64 {
            return Err(FsError::Invalid);
        }
        if len > MAX_FILE_SIZE {
            return Err(FsError::FileTooLarge);
        }
        self.node(node).ok_or(FsError::BadDescriptor)?;
        self.faulted_node(DiskOp::Write, node)?;
        let wall = self.wall(now);
        let n = self.node_mut(node).ok_or(FsError::BadDescriptor)?;
        let Some(f) = n.file_mut() else {
            return Err(FsError::IsDirectory);
        };
        let before = f.charge();
        f.record(PendingWrite::SetLen { len, at: wall });
        n.mtime = wall;
        n.ctime = wall;
        self.recharge(node, before);
        Ok(())
    }

    pub fn set_times(
        &mut self,
        node: NodeId,
        atime: Timestamp,
        mtime: Timestamp,
        now: SimTime,
    ) -> Result<(), FsError> {
        self.op();
        let wall = self.wall(now);
        let n = self.node_mut(node).ok_or(FsError::BadDescriptor)?;
        let pick = |t: Timestamp, old: Duration| match t {
            Timestamp::NoChange => old,
            Timestamp::Now => wall,
            Timestamp::At(d) => d,
        };
        n.atime = pick(atime, n.atime);
        n.mtime = pick(mtime, n.mtime);
        n.ctime = wall;
        Ok(())
    }

    pub fn set_times_at(
        &mut self,
        base: NodeId,
        path: &str,
        follow: bool,
        atime: Timestamp,
        mtime: Timestamp,
        now: SimTime,
    ) -> Result<(), FsError> {
        let r = self.resolve(base, path, follow)?;
        self.set_times(r.node.ok_or(FsError::NoEntry)?, atime, mtime, now)
    }

    pub fn create_directory_at(
        &mut self,
        base: NodeId,
        path: &str,
        now: SimTime,
    ) -> Result<(), FsError> {
        self.op();
        let r = self.resolve_entry(base, path)?;
        if r.node.is_some() {
            return Err(FsError::Exist);
        }
        let name = self.claim_name(r.parent, r.name)?;
        if self.faults.full() {
            self.faults.no_space(r.parent);
            return Err(FsError::InsufficientSpace);
        }
        self.check_space(super::content::PAGE as u64)?;
        let wall = self.wall(now);
        let path = format!("{}/{name}", self.path_of(r.parent));
        let dir = self.new_node(NodeData::directory(r.parent), wall, path)?;
        self.change(vec![Change::Attach {
            dir: r.parent,
            name,
            node: dir,
        }]);
        self.stamp_dir(r.parent, now);
        Ok(())
    }

    pub fn remove_directory_at(
        &mut self,
        base: NodeId,
        path: &str,
        now: SimTime,
    ) -> Result<(), FsError> {
        self.op();
        let r = self.resolve(base, path, false)?;
        if path.ends_with('/') {
            // cap-std removes `dir/` as `.` within `dir`: once `dir` is found to be a
            // directory, that is invalid.
            r.node.ok_or(FsError::NoEntry)?;
            return Err(FsError::Invalid);
        }
        let Some(name) = r.name else {
            // `.` is invalid to remove; `..` is a directory that is not empty.
            return Err(if path.trim_end_matches('/').ends_with("..") {
                FsError::NotEmpty
            } else {
                FsError::Invalid
            });
        };
        let node = r.node.ok_or(FsError::NoEntry)?;
        let entries = self
            .node(node)
            .and_then(|n| n.entries())
            .ok_or(FsError::NotDirectory)?;
        if !entries.is_empty() {
            return Err(FsError::NotEmpty);
        }
        self.faulted_entry(r.parent, Some(&name))?;
        self.change(vec![Change::Detach {
            dir: r.parent,
            name,
            node,
        }]);
        self.stamp_dir(r.parent, now);
        self.collect();
        Ok(())
    }

    pub fn unlink_file_at(
        &mut self,
        base: NodeId,
        path: &str,
        now: SimTime,
    ) -> Result<(), FsError> {
        self.op();
        let r = self.resolve(base, path, false)?;
        let node = r.node.ok_or(FsError::NoEntry)?;
        let Some(name) = r.name else {
            return Err(FsError::IsDirectory);
        };
        match self.kind(node) {
            Some(NodeKind::Directory) => return Err(FsError::IsDirectory),
            None => return Err(FsError::NoEntry),
            _ => {}
        }
        if r.trailing_slash {
            return Err(FsError::NotDirectory);
        }
        self.faulted_entry(r.parent, Some(&name))?;
        let wall = self.wall(now);
        self.change(vec![Change::Detach {
            dir: r.parent,
            name,
            node,
        }]);
        if let Some(n) = self.node_mut(node) {
            n.ctime = wall;
        }
        self.stamp_dir(r.parent, now);
        self.collect();
        Ok(())
    }

    /// Move `old` (from `base`) to `new` (from `new_base`), atomically replacing
    /// what `new` named.
    pub fn rename_at(
        &mut self,
        base: NodeId,
        old: &str,
        new_base: NodeId,
        new: &str,
        now: SimTime,
    ) -> Result<(), FsError> {
        self.op();
        let from = self.resolve_entry(base, old)?;
        let to = self.resolve_entry(new_base, new)?;
        let node = from.node.ok_or(FsError::NoEntry)?;
        let (Some(from_name), Some(to_name)) = (from.name, to.name) else {
            return Err(FsError::Busy);
        };
        let moving_dir = self.kind(node) == Some(NodeKind::Directory);
        if !moving_dir && (from.trailing_slash || to.trailing_slash) {
            return Err(FsError::NotDirectory);
        }
        if let Some(existing) = to.node {
            if existing == node {
                return Ok(());
            }
            match (moving_dir, self.kind(existing)) {
                (true, Some(NodeKind::Directory)) => {
                    if self.entries_of(existing).is_some_and(|e| !e.is_empty()) {
                        return Err(FsError::NotEmpty);
                    }
                }
                (true, _) => return Err(FsError::NotDirectory),
                (false, Some(NodeKind::Directory)) => return Err(FsError::IsDirectory),
                (false, _) => {}
            }
        }
        if moving_dir && self.is_within(to.parent, node) {
            return Err(FsError::Invalid);
        }
        self.check_linked(to.parent)?;
        self.faulted_entry(from.parent, Some(&from_name))?;
        self.faulted_entry(to.parent, Some(&to_name))?;
        let mut changes = vec![Change::Detach {
            dir: from.parent,
            name: from_name,
            node,
        }];
        if let Some(existing) = to.node {
            changes.push(Change::Detach {
                dir: to.parent,
                name: to_name.clone(),
                node: existing,
            });
        }
        changes.push(Change::Attach {
            dir: to.parent,
            name: to_name,
            node,
        });
        self.change(changes);
        let wall = self.wall(now);
        if let Some(n) = self.node_mut(node) {
            n.ctime = wall;
        }
        self.stamp_dir(from.parent, now);
        self.stamp_dir(to.parent, now);
        self.collect();
        Ok(())
    }

    /// Whether `dir` is `ancestor` or lies beneath it.
    fn is_within(&self, mut dir: NodeId, ancestor: NodeId) -> bool {
        for _ in 0..self.nodes.len() {
            if dir == ancestor {
                return true;
            }
            match self.node(dir).map(|n| &n.data) {
                Some(NodeData::Directory { parent, .. }) if *parent != dir => dir = *parent,
                _ => return false,
            }
        }
        false
    }

    /// A hard link `new` (from `new_base`) to what `old` names.
    pub fn link_at(
        &mut self,
        base: NodeId,
        follow: bool,
        old: &str,
        new_base: NodeId,
        new: &str,
        now: SimTime,
    ) -> Result<(), FsError> {
        self.op();
        let from = self.resolve(base, old, follow)?;
        let node = from.node.ok_or(FsError::NoEntry)?;
        if self.kind(node) == Some(NodeKind::Directory) {
            return Err(FsError::NotPermitted);
        }
        if from.trailing_slash {
            return Err(FsError::NotDirectory);
        }
        let to = self.resolve_entry(new_base, new)?;
        if to.node.is_some() {
            return Err(FsError::Exist);
        }
        if to.trailing_slash {
            return Err(FsError::NoEntry);
        }
        let name = self.claim_name(to.parent, to.name)?;
        self.change(vec![Change::Attach {
            dir: to.parent,
            name,
            node,
        }]);
        let wall = self.wall(now);
        if let Some(n) = self.node_mut(node) {
            n.ctime = wall;
        }
        self.stamp_dir(to.parent, now);
        Ok(())
    }

    /// A symbolic link at `path` (from `base`) holding `target`.
    pub fn symlink_at(
        &mut self,
        base: NodeId,
        target: &str,
        path: &str,
        now: SimTime,
    ) -> Result<(), FsError> {
        self.op();
        if target.is_empty() {
            return Err(FsError::NoEntry);
        }
        if target.len() >= super::path::PATH_MAX {
            return Err(FsError::NameTooLong);
        }
        if target.contains('\0') {
            return Err(FsError::Invalid);
        }
        // A link to an absolute path could only ever lead outside: cap-std refuses
        // to make one.
        if target.starts_with('/') {
            return Err(FsError::NotPermitted);
        }
        let r = self.resolve_entry(base, path)?;
        if r.node.is_some() {
            return Err(FsError::Exist);
        }
        if r.trailing_slash {
            return Err(FsError::NoEntry);
        }
        let name = self.claim_name(r.parent, r.name)?;
        if target.len() >= FAST_SYMLINK_MAX {
            self.check_space(super::content::PAGE as u64)?;
        }
        let wall = self.wall(now);
        let link_path = format!("{}/{name}", self.path_of(r.parent));
        let link = self.new_node(NodeData::Symlink(target.to_string()), wall, link_path)?;
        self.change(vec![Change::Attach {
            dir: r.parent,
            name,
            node: link,
        }]);
        self.stamp_dir(r.parent, now);
        Ok(())
    }

    pub fn readlink_at(&mut self, base: NodeId, path: &str) -> Result<String, FsError> {
        self.op();
        let r = self.resolve(base, path, false)?;
        self.link_target(r.node.ok_or(FsError::NoEntry)?)
    }

    /// A directory's entries, by name.
    pub fn read_directory(&mut self, dir: NodeId) -> Result<Vec<DirEntry>, FsError> {
        self.op();
        self.faulted_node(DiskOp::Read, dir)?;
        self.entries(dir)
    }

    /// Make a file's data durable (`fdatasync`); for a directory, its entries
    /// (with every journal record before them).
    pub fn sync_data(&mut self, node: NodeId, now: SimTime) -> Result<(), FsError> {
        self.sync(node, now)
    }

    /// Make a file durable (`fsync`); for a directory, its entries (with every
    /// journal record before them, as a journaling filesystem commits in order).
    pub fn sync(&mut self, node: NodeId, now: SimTime) -> Result<(), FsError> {
        self.node(node).ok_or(FsError::BadDescriptor)?;
        self.faulted_node(DiskOp::Sync, node)?;
        if self.faults.lying_sync(node) {
            // It reports success after the time a real sync takes, and does nothing.
            self.cost = self.config.sync_latency;
            return Ok(());
        }
        let n = self.node_mut(node).ok_or(FsError::BadDescriptor)?;
        let (mtime, before) = (n.mtime, n.allocated());
        let flushed = match &mut n.data {
            NodeData::File(f) => f.sync(mtime),
            NodeData::Directory { .. } => {
                let records = self.journal.commit();
                self.collect();
                records as u64 * super::content::SECTOR
            }
            NodeData::Symlink(_) => 0,
        };
        self.recharge(node, before);
        let start = now.max(self.device_free_at);
        let done = start
            + self.config.sync_latency
            + DiskConfig::transfer(flushed, self.config.device_bandwidth);
        self.device_free_at = done;
        self.cost = Duration::from_nanos(done.as_nanos() - now.as_nanos());
        Ok(())
    }
}

/// The one name `path` holds, as Rust's `Path::components` sees it (empty and
/// inner `.` components dropped), if it holds exactly one that is neither `.` nor
/// `..`.
fn single_name(path: &str) -> Option<&str> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = path
        .split('/')
        .enumerate()
        .filter(|&(i, c)| !(c.is_empty() || c == "." && i > 0))
        .map(|(_, c)| c);
    match (parts.next(), parts.next()) {
        (Some(one), None) if one != "." && one != ".." => Some(one),
        _ => None,
    }
}
