//! `wasi:filesystem` descriptors on a host's simulated disk (simnet-core's `Disk`):
//! the checks wasmtime-wasi 48 makes before the operating system has its say
//! (descriptor kind, open mode, read-only mounts), the disk's answer, and its cost
//! in virtual time, which the calling guest waits out while others run.

use std::time::Duration;

use simnet_core::disk::{FsError, NodeId, NodeKind, OpenOptions, Stat, Timestamp};
use simnet_core::{Bytes, Effect, HostId, Method, SimTime};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, ErrorCode,
    MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};

use crate::host::clocks::until;
use crate::world::{GuestId, Shared, lock};

/// Where a disk descriptor belongs: the world, and the host whose disk it is on.
#[derive(Clone)]
pub(crate) struct DiskRef {
    pub world: Shared,
    pub host: HostId,
    pub guest: GuestId,
}

impl DiskRef {
    /// Run `op` on the host's disk at the current virtual time; its result, and the
    /// instant its cost has passed.
    pub(crate) fn run<R>(
        &self,
        op: impl FnOnce(&mut simnet_core::disk::Disk, SimTime) -> R,
    ) -> (R, SimTime) {
        let mut w = lock(&self.world);
        let now = w.now();
        let disk = w.net.disk_mut(self.host);
        let result = op(disk, now);
        let done = now + disk.take_cost();
        w.net.record_disk_effects(self.host);
        (result, done)
    }

    /// Run `op` and wait out its cost.
    async fn call<R>(&self, op: impl FnOnce(&mut simnet_core::disk::Disk, SimTime) -> R) -> R {
        let (result, done) = self.run(op);
        until(&self.world, self.guest, done).await;
        result
    }

    /// A call of the file method `method`: an injected error fails it (`Err`); an
    /// injected short read or write is returned for the call to apply.
    pub(crate) fn inject(&self, method: Method) -> Result<Option<Effect>, FsError> {
        match lock(&self.world).inject(self.host, None, method) {
            Some(Effect::FileError(e)) => Err(e),
            other => Ok(other),
        }
    }

    /// Run `op` for the file method `method` (after the API faults had their say),
    /// count a natural error, and wait out the cost.
    async fn api<R>(
        &self,
        method: Method,
        op: impl FnOnce(&mut simnet_core::disk::Disk, SimTime) -> Result<R, FsError>,
    ) -> FsResult<R> {
        fs(self.inject(method))?;
        self.counted(method, op).await
    }

    /// Run `op`, count a natural error of `method`, and wait out the cost.
    async fn counted<R>(
        &self,
        method: Method,
        op: impl FnOnce(&mut simnet_core::disk::Disk, SimTime) -> Result<R, FsError>,
    ) -> FsResult<R> {
        let result = self.call(op).await;
        if let Err(e) = result {
            lock(&self.world).net.record_file_error(method, e);
        }
        fs(result)
    }
}

/// A node of a host's disk held open by a descriptor or a stream: it lives, even
/// unlinked, until the holder goes.
pub(crate) struct Held {
    pub at: DiskRef,
    pub node: NodeId,
}

impl Held {
    pub fn new(at: DiskRef, node: NodeId) -> Held {
        lock(&at.world).net.disk_mut(at.host).hold(node);
        Held { at, node }
    }

    /// Take over a hold made on `disk` now, inside the operation that found
    /// `node`: nothing can free it while the operation's cost is waited out.
    fn taken(disk: &mut simnet_core::disk::Disk, at: DiskRef, node: NodeId) -> Held {
        disk.hold(node);
        Held { at, node }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        lock(&self.at.world)
            .net
            .disk_mut(self.at.host)
            .release(self.node);
    }
}

/// A descriptor on a simulated disk, as the guest's resource table holds it.
pub(crate) struct DiskDescriptor {
    pub held: Held,
    pub kind: NodeKind,
    /// Opened for reading / writing (a directory "for writing" may be mutated).
    pub read: bool,
    pub write: bool,
    /// Under a read-only mount: nothing beneath it may change.
    pub read_only: bool,
}

impl DiskDescriptor {
    /// A descriptor like this one, holding the node on its own: for an operation
    /// that outlives the borrow of the guest's table (a WASI 0.3 task).
    pub(crate) fn snapshot(&self) -> DiskDescriptor {
        DiskDescriptor {
            held: Held::new(self.held.at.clone(), self.held.node),
            kind: self.kind,
            read: self.read,
            write: self.write,
            read_only: self.read_only,
        }
    }

    /// A new descriptor holding `node` (it lives, even unlinked, while held).
    pub fn open(
        at: DiskRef,
        node: NodeId,
        kind: NodeKind,
        read: bool,
        write: bool,
        read_only: bool,
    ) -> Self {
        DiskDescriptor {
            held: Held::new(at, node),
            kind,
            read,
            write,
            read_only,
        }
    }

    pub(crate) fn file(&self) -> Result<NodeId, ErrorCode> {
        match self.kind {
            NodeKind::Directory => Err(ErrorCode::BadDescriptor),
            _ => Ok(self.held.node),
        }
    }

    fn dir(&self) -> Result<NodeId, ErrorCode> {
        match self.kind {
            NodeKind::Directory => Ok(self.held.node),
            _ => Err(ErrorCode::NotDirectory),
        }
    }

    pub(crate) fn writable_tree(&self) -> Result<(), ErrorCode> {
        match self.read_only {
            true => Err(ErrorCode::NotPermitted),
            false => Ok(()),
        }
    }
}

pub(crate) fn error(e: FsError) -> ErrorCode {
    match e {
        FsError::Access => ErrorCode::Access,
        FsError::WouldBlock => ErrorCode::WouldBlock,
        FsError::BadDescriptor => ErrorCode::BadDescriptor,
        FsError::Busy => ErrorCode::Busy,
        FsError::Exist => ErrorCode::Exist,
        FsError::FileTooLarge => ErrorCode::FileTooLarge,
        FsError::IllegalByteSequence => ErrorCode::IllegalByteSequence,
        FsError::Invalid => ErrorCode::Invalid,
        FsError::Io => ErrorCode::Io,
        FsError::IsDirectory => ErrorCode::IsDirectory,
        FsError::Loop => ErrorCode::Loop,
        FsError::TooManyLinks => ErrorCode::TooManyLinks,
        FsError::NameTooLong => ErrorCode::NameTooLong,
        FsError::NoEntry => ErrorCode::NoEntry,
        FsError::InsufficientSpace => ErrorCode::InsufficientSpace,
        FsError::NotDirectory => ErrorCode::NotDirectory,
        FsError::NotEmpty => ErrorCode::NotEmpty,
        FsError::Unsupported => ErrorCode::Unsupported,
        FsError::Overflow => ErrorCode::Overflow,
        FsError::NotPermitted => ErrorCode::NotPermitted,
        FsError::ReadOnly => ErrorCode::ReadOnly,
        FsError::InvalidSeek => ErrorCode::InvalidSeek,
        FsError::CrossDevice => ErrorCode::CrossDevice,
    }
}

fn fs<T>(r: Result<T, FsError>) -> FsResult<T> {
    r.map_err(|e| error(e).into())
}

fn descriptor_type(kind: NodeKind) -> DescriptorType {
    match kind {
        NodeKind::File => DescriptorType::RegularFile,
        NodeKind::Directory => DescriptorType::Directory,
        NodeKind::Symlink => DescriptorType::SymbolicLink,
    }
}

pub(crate) fn datetime(d: Duration) -> Datetime {
    Datetime {
        seconds: d.as_secs(),
        nanoseconds: d.subsec_nanos(),
    }
}

fn stat(s: Stat) -> DescriptorStat {
    DescriptorStat {
        type_: descriptor_type(s.kind),
        link_count: s.links,
        size: s.size,
        data_access_timestamp: Some(datetime(s.atime)),
        data_modification_timestamp: Some(datetime(s.mtime)),
        status_change_timestamp: Some(datetime(s.ctime)),
    }
}

/// A time to set, as wasmtime-wasi reads it: nanoseconds past a second carry into
/// the seconds, and a time past what the kernel's 64-bit seconds hold is `overflow`.
fn timestamp(t: NewTimestamp) -> Result<Timestamp, FsError> {
    Ok(match t {
        NewTimestamp::NoChange => Timestamp::NoChange,
        NewTimestamp::Now => Timestamp::Now,
        NewTimestamp::Timestamp(d) => {
            let seconds = d
                .seconds
                .checked_add(u64::from(d.nanoseconds / 1_000_000_000))
                .filter(|&s| s <= i64::MAX as u64)
                .ok_or(FsError::Overflow)?;
            Timestamp::At(Duration::new(seconds, d.nanoseconds % 1_000_000_000))
        }
    })
}

/// The metadata hash of a node: the same for every descriptor of one node on one
/// host's disk, different for any other.
fn hash(host: HostId, node: NodeId) -> MetadataHashValue {
    MetadataHashValue {
        upper: mix(u64::from(host.raw())),
        lower: mix(u64::from(node.raw()) << 1 | 1),
    }
}

/// A 64-bit mixer (splitmix64's finalizer): distinct inputs give distinct,
/// evenly spread hashes.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The descriptor operations, each as wasmtime-wasi checks it and the disk answers.
pub(crate) struct DiskOps<'a> {
    pub d: &'a DiskDescriptor,
}

impl DiskOps<'_> {
    pub async fn advise(&self) -> FsResult<()> {
        self.d.file()?;
        Ok(())
    }

    pub async fn sync_data(&self) -> FsResult<()> {
        let node = self.d.held.node;
        self.d
            .held
            .at
            .api(Method::Sync, |disk, now| disk.sync_data(node, now))
            .await
    }

    pub async fn sync(&self) -> FsResult<()> {
        let node = self.d.held.node;
        self.d
            .held
            .at
            .api(Method::Sync, |disk, now| disk.sync(node, now))
            .await
    }

    pub fn get_flags(&self) -> DescriptorFlags {
        let mut flags = DescriptorFlags::empty();
        if self.d.read {
            flags |= DescriptorFlags::READ;
        }
        if self.d.write {
            flags |= match self.d.kind {
                NodeKind::Directory => DescriptorFlags::MUTATE_DIRECTORY,
                _ => DescriptorFlags::WRITE,
            };
        }
        flags
    }

    pub fn get_type(&self) -> DescriptorType {
        descriptor_type(self.d.kind)
    }

    pub async fn set_size(&self, size: u64) -> FsResult<()> {
        let node = self.d.file()?;
        self.d.writable_tree()?;
        if !self.d.write {
            return Err(ErrorCode::Invalid.into());
        }
        fs(self
            .d
            .held
            .at
            .call(|disk, now| disk.set_len(node, size, now))
            .await)
    }

    pub async fn set_times(&self, atim: NewTimestamp, mtim: NewTimestamp) -> FsResult<()> {
        self.d.writable_tree()?;
        let node = self.d.held.node;
        let (a, m) = (fs(timestamp(atim))?, fs(timestamp(mtim))?);
        fs(self
            .d
            .held
            .at
            .call(|disk, now| disk.set_times(node, a, m, now))
            .await)
    }

    pub async fn read(&self, len: u64, offset: u64) -> FsResult<(Vec<u8>, bool)> {
        let node = self.d.file()?;
        if !self.d.read {
            return Err(ErrorCode::BadDescriptor.into());
        }
        let short = fs(self.d.held.at.inject(Method::FileRead))? == Some(Effect::ShortRead);
        let len = len
            .min(MAX_READ as u64)
            .min(if short { 1 } else { u64::MAX });
        let data = self
            .d
            .held
            .at
            .counted(Method::FileRead, |disk, _| disk.read(node, offset, len))
            .await?;
        let end = data.is_empty();
        Ok((data, end))
    }

    pub async fn write(&self, buffer: Vec<u8>, offset: u64) -> FsResult<u64> {
        let node = self.d.file()?;
        self.d.writable_tree()?;
        if !self.d.write {
            return Err(ErrorCode::BadDescriptor.into());
        }
        let mut data = Bytes::from(buffer);
        if fs(self.d.held.at.inject(Method::FileWrite))? == Some(Effect::ShortWrite) {
            data.truncate(1);
        }
        self.d
            .held
            .at
            .counted(Method::FileWrite, |disk, now| {
                disk.write(node, offset, data, now)
            })
            .await
    }

    pub async fn read_directory(&self) -> FsResult<Vec<DirectoryEntry>> {
        let dir = self.d.dir()?;
        let entries = self
            .d
            .held
            .at
            .api(Method::ReadDirectory, |disk, _| disk.read_directory(dir))
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| DirectoryEntry {
                type_: descriptor_type(e.kind),
                name: e.name,
            })
            .collect())
    }

    pub async fn create_directory_at(&self, path: String) -> FsResult<()> {
        let dir = self.d.dir()?;
        self.d.writable_tree()?;
        self.d
            .held
            .at
            .api(Method::CreateDirectoryAt, |disk, now| {
                disk.create_directory_at(dir, &path, now)
            })
            .await
    }

    pub async fn stat(&self) -> FsResult<DescriptorStat> {
        let node = self.d.held.node;
        fs(self.d.held.at.call(|disk, _| disk.stat(node)).await).map(stat)
    }

    pub async fn stat_at(&self, flags: PathFlags, path: String) -> FsResult<DescriptorStat> {
        let dir = self.d.dir()?;
        let follow = flags.contains(PathFlags::SYMLINK_FOLLOW);
        fs(self
            .d
            .held
            .at
            .call(|disk, _| disk.stat_at(dir, &path, follow))
            .await)
        .map(stat)
    }

    pub async fn set_times_at(
        &self,
        flags: PathFlags,
        path: String,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        let dir = self.d.dir()?;
        self.d.writable_tree()?;
        let follow = flags.contains(PathFlags::SYMLINK_FOLLOW);
        let (a, m) = (fs(timestamp(atim))?, fs(timestamp(mtim))?);
        fs(self
            .d
            .held
            .at
            .call(|disk, now| disk.set_times_at(dir, &path, follow, a, m, now))
            .await)
    }

    pub async fn link_at(
        &self,
        flags: PathFlags,
        old_path: String,
        new: &DiskDescriptor,
        new_path: String,
    ) -> FsResult<()> {
        let dir = self.d.dir()?;
        let new_dir = new.dir()?;
        self.d.writable_tree()?;
        new.writable_tree()?;
        if flags.contains(PathFlags::SYMLINK_FOLLOW) {
            return Err(ErrorCode::Invalid.into());
        }
        if self.d.read_only != new.read_only || self.d.held.at.host != new.held.at.host {
            return Err(ErrorCode::NotPermitted.into());
        }
        fs(self
            .d
            .held
            .at
            .call(|disk, now| disk.link_at(dir, false, &old_path, new_dir, &new_path, now))
            .await)
    }

    /// Open `path`: a new descriptor, with wasmtime-wasi's flag checks.
    pub async fn open_at(
        &self,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<DiskDescriptor> {
        let dir = self.d.dir()?;
        let create = oflags.contains(OpenFlags::CREATE);
        let truncate = oflags.contains(OpenFlags::TRUNCATE);
        let write = create || truncate || flags.contains(DescriptorFlags::WRITE);
        let read = flags.contains(DescriptorFlags::READ) || !flags.contains(DescriptorFlags::WRITE);
        if flags.intersects(
            DescriptorFlags::FILE_INTEGRITY_SYNC
                | DescriptorFlags::DATA_INTEGRITY_SYNC
                | DescriptorFlags::REQUESTED_WRITE_SYNC,
        ) {
            return Err(ErrorCode::Unsupported.into());
        }
        let directory = oflags.contains(OpenFlags::DIRECTORY);
        if directory && (create || oflags.contains(OpenFlags::EXCLUSIVE) || truncate) {
            return Err(ErrorCode::Invalid.into());
        }
        if self.d.read_only && write {
            return Err(ErrorCode::NotPermitted.into());
        }
        let opts = OpenOptions {
            follow: path_flags.contains(PathFlags::SYMLINK_FOLLOW),
            create,
            exclusive: oflags.contains(OpenFlags::EXCLUSIVE),
            truncate,
            directory,
            write,
        };
        let at = self.d.held.at.clone();
        let (held, kind) = self
            .d
            .held
            .at
            .api(Method::OpenAt, |disk, now| {
                let node = disk.open_at(dir, &path, opts, now)?;
                let kind = disk.kind(node).ok_or(FsError::NoEntry)?;
                Ok((Held::taken(disk, at, node), kind))
            })
            .await?;
        Ok(DiskDescriptor {
            held,
            kind,
            read,
            write,
            read_only: self.d.read_only,
        })
    }

    pub async fn readlink_at(&self, path: String) -> FsResult<String> {
        let dir = self.d.dir()?;
        fs(self
            .d
            .held
            .at
            .call(|disk, _| disk.readlink_at(dir, &path))
            .await)
    }

    pub async fn remove_directory_at(&self, path: String) -> FsResult<()> {
        let dir = self.d.dir()?;
        self.d.writable_tree()?;
        fs(self
            .d
            .held
            .at
            .call(|disk, now| disk.remove_directory_at(dir, &path, now))
            .await)
    }

    pub async fn rename_at(
        &self,
        old_path: String,
        new: &DiskDescriptor,
        new_path: String,
    ) -> FsResult<()> {
        let dir = self.d.dir()?;
        let new_dir = new.dir()?;
        self.d.writable_tree()?;
        new.writable_tree()?;
        if self.d.read_only != new.read_only || self.d.held.at.host != new.held.at.host {
            return Err(ErrorCode::NotPermitted.into());
        }
        self.d
            .held
            .at
            .api(Method::RenameAt, |disk, now| {
                disk.rename_at(dir, &old_path, new_dir, &new_path, now)
            })
            .await
    }

    pub async fn symlink_at(&self, target: String, path: String) -> FsResult<()> {
        let dir = self.d.dir()?;
        self.d.writable_tree()?;
        fs(self
            .d
            .held
            .at
            .call(|disk, now| disk.symlink_at(dir, &target, &path, now))
            .await)
    }

    pub async fn unlink_file_at(&self, path: String) -> FsResult<()> {
        let dir = self.d.dir()?;
        self.d.writable_tree()?;
        self.d
            .held
            .at
            .api(Method::UnlinkFileAt, |disk, now| {
                disk.unlink_file_at(dir, &path, now)
            })
            .await
    }

    pub fn is_same_object(&self, other: &DiskDescriptor) -> bool {
        self.d.held.at.host == other.held.at.host && self.d.held.node == other.held.node
    }

    pub fn metadata_hash(&self) -> MetadataHashValue {
        hash(self.d.held.at.host, self.d.held.node)
    }

    pub async fn metadata_hash_at(
        &self,
        flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        let dir = self.d.dir()?;
        let follow = flags.contains(PathFlags::SYMLINK_FOLLOW);
        let s = fs(self
            .d
            .held
            .at
            .call(|disk, _| disk.stat_at(dir, &path, follow))
            .await)?;
        Ok(hash(self.d.held.at.host, s.node))
    }
}

/// The most a single read returns (wasmtime-wasi's bound on a read's buffer).
pub(crate) const MAX_READ: usize = 64 * 1024;

/// Push a disk descriptor and type it as the bindings' descriptor.
pub(crate) fn push(
    table: &mut wasmtime::component::ResourceTable,
    d: DiskDescriptor,
) -> wasmtime::Result<Resource<types::Descriptor>> {
    let r = table.push(d)?;
    Ok(Resource::new_own(r.rep()))
}
