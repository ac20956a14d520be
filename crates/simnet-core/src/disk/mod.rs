//! A host's disk: directories, files, symbolic links and hard links with POSIX
//! semantics as wasmtime-wasi gives them to a guest on Linux, a page cache that
//! holds what was never synced, and crashes that lose some of it (see
//! `docs/storage-model.md`). Sans-I/O like the network: operations take the virtual
//! time and say what they cost; nothing here touches a real file.

mod config;
mod content;
mod crash;

mod faults;
mod image;
mod journal;
mod node;
mod ops;
mod path;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub use crate::fs_error::FsError;
pub use config::DiskConfig;
pub use content::{Content, PAGE, SECTOR};
pub use crash::{CrashReport, DiskCrash, FileLoss};
pub use image::{DiskImage, ImageEntry};
pub use journal::CrashLoss;
pub use node::{NodeId, NodeKind};
pub use ops::{DirEntry, OpenOptions, Stat, Timestamp};

pub use path::{MAX_SYMLINKS, NAME_MAX, PATH_MAX, Resolved};

use journal::{Change, Journal};
use node::{FileData, Node, NodeData};

use crate::rng::SimRng;
use crate::time::SimTime;

/// A mounted directory: where guests see it and its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub guest_path: String,
    pub node: NodeId,
    pub read_only: bool,
}

/// One host's disk.
#[derive(Debug)]
pub struct Disk {
    config: DiskConfig,
    /// Nodes by number (never reused); a freed node's slot keeps only an empty
    /// pointer, so a run that makes and removes many files stays small.
    nodes: Vec<Option<Box<Node>>>,
    root: NodeId,
    mounts: Vec<Mount>,
    journal: Journal,
    /// Bytes of storage in use (files' pages, directories).
    used: u64,
    /// When the device is next free: syncs queue on it.
    device_free_at: SimTime,
    /// The cost of the last operation, for the caller to wait out.
    cost: Duration,
    /// Draws what crashes lose.
    rng: SimRng,
    /// The faults laid over the disk, with their own random stream.
    faults: faults::DiskFaults,
    /// Files whose data a crash took out of the page cache (read from the device
    /// on their next read).
    uncached: BTreeSet<NodeId>,
    /// Nodes that lost a link or a descriptor: `collect` looks at these.
    maybe_dead: BTreeSet<NodeId>,
}

impl Disk {
    /// An empty disk; `rng` draws what its crashes lose.
    pub fn new(config: DiskConfig, mut rng: SimRng) -> Disk {
        use rand::{Rng, SeedableRng};
        let fault_rng = SimRng::seed_from_u64(rng.next_u64());
        let mut disk = Disk {
            rng,
            faults: faults::DiskFaults::new(fault_rng),
            config,
            nodes: Vec::new(),
            root: NodeId(0),
            mounts: Vec::new(),
            journal: Journal::default(),
            used: 0,
            device_free_at: SimTime::ZERO,
            cost: Duration::ZERO,
            uncached: BTreeSet::new(),
            maybe_dead: BTreeSet::new(),
        };
        let epoch = config.epoch;
        disk.root = disk
            .new_node(NodeData::directory(NodeId(0)), epoch, "/".into())
            .unwrap_or(NodeId(0));
        disk
    }

    pub fn config(&self) -> &DiskConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: DiskConfig) {
        self.config = config;
    }

    /// The directories mounted so far, in mount order.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// Bytes of storage in use.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Put `image` in the directory guests see as `guest_path` (`/data`, `.`), a
    /// directory of its own on the disk; its contents count as durable. A path
    /// mounted already gets the image's entries added. Mounts are separate
    /// directories whatever their paths (`/data` and `/data/sub` do not nest).
    pub fn mount(
        &mut self,
        guest_path: &str,
        image: &DiskImage,
        read_only: bool,
    ) -> Result<NodeId, FsError> {
        if guest_path.is_empty() || guest_path.contains('\0') {
            return Err(FsError::Invalid);
        }
        let epoch = self.config.epoch;
        let root = self.root;
        let dir = match self.entry(root, guest_path) {
            Some(existing) => existing,
            None => {
                let dir =
                    self.new_node(NodeData::directory(root), epoch, guest_path.to_string())?;
                self.attach(root, guest_path, dir);
                dir
            }
        };
        let path = guest_path.trim_end_matches('/').to_string();
        self.copy_image(dir, &image.entries, &path)?;
        if !self.mounts.iter().any(|m| m.node == dir) {
            self.mounts.push(Mount {
                guest_path: guest_path.to_string(),
                node: dir,
                read_only,
            });
        }
        Ok(dir)
    }

    /// Whether a directory is mounted as `guest_path`.
    pub fn is_mounted(&self, guest_path: &str) -> bool {
        self.mounts.iter().any(|m| m.guest_path == guest_path)
    }

    fn copy_image(
        &mut self,
        dir: NodeId,
        entries: &BTreeMap<String, ImageEntry>,
        path: &str,
    ) -> Result<(), FsError> {
        let epoch = self.config.epoch;
        for (name, entry) in entries {
            let child_path = format!("{path}/{name}");
            let node = match entry {
                ImageEntry::File(content) => {
                    let size = content.allocated();
                    self.check_space(size)?;
                    let data = NodeData::File(FileData::new(content.clone(), epoch));
                    self.new_node(data, epoch, child_path.clone())?
                }
                ImageEntry::Directory(children) => {
                    let existing = self
                        .entry(dir, name)
                        .filter(|&e| self.kind(e) == Some(NodeKind::Directory));
                    let sub = match existing {
                        Some(sub) => sub,
                        None => {
                            // A file or link of that name gives way to the directory.
                            if let Some(old) = self.entry(dir, name) {
                                self.detach(dir, name, old);
                            }
                            let sub =
                                self.new_node(NodeData::directory(dir), epoch, child_path.clone())?;
                            self.attach(dir, name, sub);
                            sub
                        }
                    };
                    self.copy_image(sub, children, &child_path)?;
                    continue;
                }
                ImageEntry::Symlink(target) => {
                    self.new_node(NodeData::Symlink(target.clone()), epoch, child_path.clone())?
                }
            };
            if let Some(old) = self.entry(dir, name) {
                self.detach(dir, name, old);
            }
            self.attach(dir, name, node);
        }
        Ok(())
    }

    /// The cost of the operation just made, for the caller to wait out (faults
    /// that slow the disk included); reading it resets it.
    pub fn take_cost(&mut self) -> Duration {
        std::mem::take(&mut self.cost) + self.faults.extra_cost()
    }

    /// Lay `fault` over the disk until [`Disk::heal_faults`].
    pub fn add_fault(&mut self, fault: crate::fault::DiskFault) {
        self.faults.add(fault);
    }

    pub fn heal_faults(&mut self) {
        self.faults.heal();
    }

    /// What the faults did since the last call, with the node each concerned.
    pub fn take_effects(&mut self) -> Vec<(crate::fault::DiskEffect, NodeId)> {
        std::mem::take(&mut self.faults.effects)
    }

    /// The path `node` was last reached by.
    pub fn node_path(&self, node: NodeId) -> Option<&str> {
        self.node(node).map(|n| n.path.as_str())
    }

    // ---- nodes ----

    /// A new node, or `insufficient-space` once every node number was used (a
    /// filesystem out of inodes).
    fn new_node(&mut self, data: NodeData, now: Duration, path: String) -> Result<NodeId, FsError> {
        let number = u32::try_from(self.nodes.len()).map_err(|_| FsError::InsufficientSpace)?;
        let id = NodeId(number);
        // A directory counts its own `.`; entries add the rest.
        let node = Node {
            data,
            links: 0,
            open: 0,
            atime: now,
            mtime: now,
            ctime: now,
            path,
        };
        let links = u64::from(node.kind() == NodeKind::Directory);
        self.used += node.allocated();
        self.nodes.push(Some(Box::new(Node { links, ..node })));
        Ok(id)
    }

    fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.0 as usize)?.as_deref()
    }

    fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id.0 as usize)?.as_deref_mut()
    }

    fn live(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((NodeId(i as u32), n.as_deref()?)))
    }

    pub fn kind(&self, id: NodeId) -> Option<NodeKind> {
        self.node(id).map(Node::kind)
    }

    fn entry(&self, dir: NodeId, name: &str) -> Option<NodeId> {
        self.node(dir)?.entries()?.get(name).copied()
    }

    /// Add the entry `name` -> `node` to `dir`, counting the link (and a directory's
    /// `..`).
    fn attach(&mut self, dir: NodeId, name: &str, node: NodeId) {
        let is_dir = self.kind(node) == Some(NodeKind::Directory);
        if let Some(entries) = self.node_mut(dir).and_then(Node::entries_mut) {
            entries.insert(name.to_string(), node);
        }
        if let Some(n) = self.node_mut(node) {
            n.links += 1;
            if let NodeData::Directory { parent, .. } = &mut n.data {
                *parent = dir;
            }
        }
        if is_dir && let Some(d) = self.node_mut(dir) {
            d.links += 1;
        }
        if dir != self.root {
            self.refresh_paths(dir, name, node);
        }
    }

    /// `node`, now named `name` in `dir`, is reached by that path, and so is what
    /// lies beneath it (a directory moved by a rename, or brought back by a crash).
    fn refresh_paths(&mut self, dir: NodeId, name: &str, node: NodeId) {
        let mut todo = vec![(dir, name.to_string(), node)];
        while let Some((dir, name, node)) = todo.pop() {
            let Some(parent) = self.node(dir) else {
                continue;
            };
            let path = format!("{}/{name}", parent.path.trim_end_matches('/'));
            let Some(n) = self.node_mut(node) else {
                continue;
            };
            n.path = path;
            if let NodeData::Directory { entries, .. } = &n.data {
                todo.extend(
                    entries
                        .iter()
                        .map(|(name, &child)| (node, name.clone(), child)),
                );
            }
        }
    }

    /// Remove the entry `name` (naming `node`) from `dir`.
    fn detach(&mut self, dir: NodeId, name: &str, node: NodeId) {
        let is_dir = self.kind(node) == Some(NodeKind::Directory);
        if let Some(entries) = self.node_mut(dir).and_then(Node::entries_mut) {
            entries.remove(name);
        }
        if let Some(n) = self.node_mut(node) {
            n.links = n.links.saturating_sub(1);
        }
        if is_dir && let Some(d) = self.node_mut(dir) {
            d.links = d.links.saturating_sub(1);
        }
        self.maybe_dead.insert(node);
    }

    fn apply(&mut self, change: &Change) {
        match change {
            Change::Attach { dir, name, node } => self.attach(*dir, name, *node),
            Change::Detach { dir, name, node } => self.detach(*dir, name, *node),
        }
    }

    /// Apply `changes` and journal them as one record (a crash undoes all of them
    /// or none).
    fn change(&mut self, changes: Vec<Change>) {
        for c in &changes {
            self.apply(c);
        }
        self.journal.push(changes);
    }

    /// Free nodes nothing reaches any more: no entry names them, no descriptor
    /// holds them, and no journal record could bring them back. Only nodes that
    /// lost a link or a descriptor since the last look can have died.
    fn collect(&mut self) {
        if !self.journal.is_empty() {
            return;
        }
        for id in std::mem::take(&mut self.maybe_dead) {
            let dead = self.node(id).is_some_and(|n| {
                let last_link = u64::from(n.kind() == NodeKind::Directory);
                id != self.root && n.open == 0 && n.links <= last_link
            });
            if dead && let Some(node) = self.nodes.get_mut(id.0 as usize).and_then(Option::take) {
                self.used = self.used.saturating_sub(node.allocated());
                self.uncached.remove(&id);
            }
        }
    }

    /// Whether `dir` is a directory no entry names any more (removed, or replaced
    /// by a rename): it keeps only its own `.`.
    fn is_removed_directory(&self, dir: NodeId) -> bool {
        dir != self.root
            && self
                .node(dir)
                .is_some_and(|n| n.kind() == NodeKind::Directory && n.links <= 1)
    }

    fn entries_of(&self, dir: NodeId) -> Option<&BTreeMap<String, NodeId>> {
        self.node(dir)?.entries()
    }

    /// `node` held `before` bytes of storage and may hold more or less now.
    fn recharge(&mut self, node: NodeId, before: u64) {
        let now = self.node(node).map_or(0, Node::allocated);
        self.used = (self.used + now).saturating_sub(before);
    }

    /// Whether `more` bytes fit. When they do not, space freed but not yet
    /// committed is reclaimed first, as ext4 forces a journal commit and retries
    /// before it answers `ENOSPC`.
    fn check_space(&mut self, more: u64) -> Result<(), FsError> {
        if !self.fits(more) {
            self.reclaim();
        }
        match self.fits(more) {
            true => Ok(()),
            false => Err(FsError::InsufficientSpace),
        }
    }

    fn fits(&self, more: u64) -> bool {
        self.used
            .checked_add(more)
            .is_some_and(|total| total <= self.config.capacity)
    }

    /// Commit what holds freed space: the journal (removed entries' nodes can then
    /// go) and the files whose size changes dropped pages (their writes become
    /// durable with them, as data=ordered writes a file's data before its size).
    fn reclaim(&mut self) {
        self.journal.commit();
        let shrunk: Vec<NodeId> = self
            .live()
            .filter(|(_, n)| n.file().is_some_and(|f| f.charge() > f.cached.allocated()))
            .map(|(id, _)| id)
            .collect();
        for id in shrunk {
            let Some(n) = self.node_mut(id) else { continue };
            let (mtime, before) = (n.mtime, n.allocated());
            if let Some(f) = n.file_mut() {
                f.sync(mtime);
            }
            self.recharge(id, before);
        }
        self.collect();
    }

    fn wall(&self, now: SimTime) -> Duration {
        self.config.epoch + Duration::from_nanos(now.as_nanos())
    }

    // ---- descriptors ----

    /// A descriptor now holds `node`: it lives while held, even unlinked.
    pub fn hold(&mut self, node: NodeId) {
        if let Some(n) = self.node_mut(node) {
            n.open += 1;
        }
    }

    /// A descriptor let go of `node`.
    pub fn release(&mut self, node: NodeId) {
        if let Some(n) = self.node_mut(node) {
            n.open = n.open.saturating_sub(1);
        }
        self.maybe_dead.insert(node);
        self.collect();
    }
}

impl path::Nodes for Disk {
    fn node(&self, id: NodeId) -> Option<&Node> {
        Disk::node(self, id)
    }
}

impl NodeData {
    fn directory(parent: NodeId) -> NodeData {
        NodeData::Directory {
            entries: BTreeMap::new(),
            parent,
        }
    }
}

/// Reading a disk from outside the simulation (a test's assertion, a disk image
/// written after a run): nothing here costs virtual time or changes the disk.
impl Disk {
    /// The node at `path`, a guest's path through one of the mounts (`/data/log`
    /// under the mount `/data`; `log` under `.`), following symbolic links.
    pub fn find(&self, path: &str) -> Result<NodeId, FsError> {
        let mount = self
            .mounts
            .iter()
            .filter_map(|m| Some((m, mount_relative(&m.guest_path, path)?)))
            .max_by_key(|(m, _)| m.guest_path.len());
        let (mount, rest) = mount.ok_or(FsError::NoEntry)?;
        if rest.is_empty() {
            return Ok(mount.node);
        }
        let r = path::resolve(self, mount.node, rest, true)?;
        r.node.ok_or(FsError::NoEntry)
    }

    /// A file's bytes as reads see them now (the page cache).
    pub fn contents(&self, node: NodeId) -> Result<Vec<u8>, FsError> {
        let file = self
            .node(node)
            .and_then(Node::file)
            .ok_or(FsError::IsDirectory)?;
        Ok(file.cached.read(0, file.cached.len()))
    }

    /// A file's bytes as they are durable: what a crash that loses everything
    /// unsynced would leave (its directory entry aside).
    pub fn durable_contents(&self, node: NodeId) -> Result<Vec<u8>, FsError> {
        let file = self
            .node(node)
            .and_then(Node::file)
            .ok_or(FsError::IsDirectory)?;
        Ok(file.durable.read(0, file.durable.len()))
    }

    /// A directory's entries, by name.
    pub fn entries(&self, dir: NodeId) -> Result<Vec<DirEntry>, FsError> {
        let entries = self.entries_of(dir).ok_or(FsError::NotDirectory)?;
        Ok(entries
            .iter()
            .filter_map(|(name, &node)| {
                Some(DirEntry {
                    name: name.clone(),
                    kind: self.kind(node)?,
                    node,
                })
            })
            .collect())
    }

    /// A symbolic link's target.
    pub fn link_target(&self, node: NodeId) -> Result<String, FsError> {
        match self.node(node).map(|n| &n.data) {
            Some(NodeData::Symlink(target)) => Ok(target.clone()),
            _ => Err(FsError::Invalid),
        }
    }
}

/// `path` relative to the mount `mount`, if it lies beneath it.
fn mount_relative<'a>(mount: &str, path: &'a str) -> Option<&'a str> {
    if mount == "." {
        let rest = path.strip_prefix("./").unwrap_or(path);
        return (!rest.starts_with('/')).then_some(if rest == "." { "" } else { rest });
    }
    let mount = mount.trim_end_matches('/');
    let rest = path.strip_prefix(mount)?;
    match rest.strip_prefix('/') {
        Some(r) => Some(r.trim_end_matches('/')),
        None if rest.is_empty() => Some(""),
        None => None,
    }
}
