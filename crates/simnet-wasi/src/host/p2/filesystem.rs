//! `wasi:filesystem` for both kinds of preopened directory. A descriptor on the
//! host's simulated disk (`disk.rs`) is served from simnet-core's disk model. A
//! descriptor on a real host directory (`--dir`) goes to wasmtime-wasi's
//! implementation, made deterministic: what a guest could otherwise read off the real
//! machine is replaced. Its file times are virtual: a file reads as last changed when
//! a guest of this run last changed it (at that virtual wall-clock time), otherwise
//! at the epoch; its identity (metadata hash) is a number of the run's. Directories of both kinds list their entries sorted by name. An
//! operation between the two kinds (a rename from a real directory to the disk) is
//! `cross-device`.

use std::collections::BTreeMap;
use std::time::Duration;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, ErrorCode,
    Filesize, HostDescriptor, HostDirectoryEntryStream, MetadataHashValue, NewTimestamp, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult};

use super::disk::{self, DiskDescriptor, DiskOps, DiskRef, datetime};
use super::disk_streams::StreamFailure;
use crate::host::GuestNet;
use crate::world::{VirtualClock, lock};

/// What a guest's filesystem calls see besides wasmtime-wasi's context: the virtual
/// wall clock, the times this run changed files, and the files' identities.
pub(crate) struct FileTimes {
    pub clock: VirtualClock,
    pub epoch: Duration,
    /// Run-local numbers of the real files guests have seen, by their identity on
    /// the host (wasmtime-wasi's metadata hash of device and inode), numbered in the
    /// order first seen: guests see hashes of these, never the host's inode numbers.
    /// A file's number goes with its last link, before the host can reuse its inode.
    numbers: BTreeMap<(u64, u64), u64>,
    next_number: u64,
    /// Virtual wall-clock times of the files this run touched, by number; the
    /// others read as at the epoch.
    changed: BTreeMap<u64, Times>,
}

/// A real file's times as guests see them.
#[derive(Clone, Copy)]
struct Times {
    access: Duration,
    modification: Duration,
    status_change: Duration,
}

/// What the metadata hashes of real files start with: never a disk's (those start
/// with a hash of a host number).
const REAL_FILE_HASH_UPPER: u64 = 0x7265_616c_2d66_696c;

impl FileTimes {
    /// The run-local number of the real file `key`.
    fn number(&mut self, key: (u64, u64)) -> u64 {
        let next = &mut self.next_number;
        *self.numbers.entry(key).or_insert_with(|| {
            *next += 1;
            *next
        })
    }

    /// The metadata hash guests see for the real file the host hashes as `real`.
    fn guest_hash(&mut self, real: MetadataHashValue) -> MetadataHashValue {
        let n = self.number(key(real));
        MetadataHashValue {
            upper: REAL_FILE_HASH_UPPER,
            lower: disk::mix(n),
        }
    }

    /// The file `key` lost its last link: forget it, so a new file the host gives
    /// its inode starts afresh.
    fn forget(&mut self, key: (u64, u64)) {
        if let Some(n) = self.numbers.remove(&key) {
            self.changed.remove(&n);
        }
    }

    fn of(&mut self, key: (u64, u64)) -> &mut Times {
        let epoch = self.epoch;
        let n = self.number(key);
        self.changed.entry(n).or_insert(Times {
            access: epoch,
            modification: epoch,
            status_change: epoch,
        })
    }

    /// The file's data changed now: its modification and status-change times.
    fn modified(&mut self, key: (u64, u64)) {
        let now = self.now();
        let t = self.of(key);
        t.modification = now;
        t.status_change = now;
    }

    pub fn new(clock: VirtualClock, epoch: Duration) -> Self {
        FileTimes {
            clock,
            epoch,
            numbers: BTreeMap::new(),
            next_number: 0,
            changed: BTreeMap::new(),
        }
    }

    fn now(&self) -> Duration {
        self.epoch + Duration::from_nanos(self.clock.now().as_nanos())
    }
}

pub(crate) struct SimFilesystemView<'a> {
    pub fs: WasiFilesystemCtxView<'a>,
    pub times: &'a mut FileTimes,
    pub net: &'a GuestNet,
}

/// A directory listing, sorted by name, handed out entry by entry.
pub(crate) struct SortedEntries(pub std::vec::IntoIter<DirectoryEntry>);

fn key(h: MetadataHashValue) -> (u64, u64) {
    (h.upper, h.lower)
}

impl SimFilesystemView<'_> {
    /// Note that the file behind `fd` changed now.
    async fn changed(&mut self, fd: &Resource<types::Descriptor>) {
        if let Ok(h) = self.fs.metadata_hash(borrow(fd)).await {
            self.times.modified(key(h));
        }
    }

    async fn changed_at(&mut self, fd: &Resource<types::Descriptor>, path: &str) {
        let flags = PathFlags::empty();
        if let Ok(h) = self
            .fs
            .metadata_hash_at(borrow(fd), flags, path.to_string())
            .await
        {
            self.times.modified(key(h));
        }
    }

    /// The host's identity of the entry `path` names (not following a link).
    async fn identity_at(
        &mut self,
        fd: &Resource<types::Descriptor>,
        path: &str,
    ) -> Option<(u64, u64)> {
        let flags = PathFlags::empty();
        let h = self
            .fs
            .metadata_hash_at(borrow(fd), flags, path.to_string())
            .await;
        h.ok().map(key)
    }

    /// The identity of the entry `path` names if removing that entry removes the
    /// file's last link (a directory has only one).
    async fn last_link_at(
        &mut self,
        fd: &Resource<types::Descriptor>,
        path: &str,
    ) -> Option<(u64, u64)> {
        let flags = PathFlags::empty();
        let stat = self
            .fs
            .stat_at(borrow(fd), flags, path.to_string())
            .await
            .ok()?;
        let last = stat.link_count <= 1 || stat.type_ == types::DescriptorType::Directory;
        match last {
            true => self.identity_at(fd, path).await,
            false => None,
        }
    }

    fn forget(&mut self, doomed: Option<(u64, u64)>) {
        if let Some(k) = doomed {
            self.times.forget(k);
        }
    }

    fn virtual_times(
        &self,
        mut stat: DescriptorStat,
        hash: Option<MetadataHashValue>,
    ) -> DescriptorStat {
        let epoch = self.times.epoch;
        let t = hash
            .and_then(|h| self.times.numbers.get(&key(h)))
            .and_then(|n| self.times.changed.get(n).copied())
            .unwrap_or(Times {
                access: epoch,
                modification: epoch,
                status_change: epoch,
            });
        stat.data_access_timestamp = Some(datetime(t.access));
        stat.data_modification_timestamp = Some(datetime(t.modification));
        stat.status_change_timestamp = Some(datetime(t.status_change));
        stat
    }

    /// A `now` timestamp is the virtual wall clock's.
    fn virtual_timestamp(&self, t: NewTimestamp) -> NewTimestamp {
        match t {
            NewTimestamp::Now => NewTimestamp::Timestamp(datetime(self.times.now())),
            other => other,
        }
    }

    /// `set-times` on a real file: each time as asked, the status change now.
    fn record_set_times(
        &mut self,
        h: Option<MetadataHashValue>,
        atim: &NewTimestamp,
        mtim: &NewTimestamp,
    ) {
        let Some(h) = h else { return };
        let now = self.times.now();
        let pick = |t: &NewTimestamp, old: Duration| match t {
            NewTimestamp::Timestamp(t) => Duration::new(t.seconds, t.nanoseconds.min(999_999_999)),
            NewTimestamp::Now => now,
            NewTimestamp::NoChange => old,
        };
        let t = self.times.of(key(h));
        t.access = pick(atim, t.access);
        t.modification = pick(mtim, t.modification);
        t.status_change = now;
    }
}

fn borrow<T: 'static>(r: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(r.rep())
}

impl SimFilesystemView<'_> {
    /// The operations of `fd` if it is a descriptor on the simulated disk (a real
    /// directory's descriptor is wasmtime-wasi's).
    pub(crate) fn on_disk(&self, fd: &Resource<types::Descriptor>) -> Option<DiskOps<'_>> {
        let mine = Resource::<DiskDescriptor>::new_borrow(fd.rep());
        self.fs.table.get(&mine).ok().map(|d| DiskOps { d })
    }
}

impl preopens::Host for SimFilesystemView<'_> {
    /// The real directories granted (`--dir`), then the directories mounted on the
    /// host's disk, in mount order.
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<types::Descriptor>, String)>> {
        let mut dirs = preopens::Host::get_directories(&mut self.fs)?;
        let at = DiskRef {
            world: self.net.world.clone(),
            host: self.net.host,
            guest: self.net.guest,
        };
        let mounts = lock(&at.world).net.disk(at.host).mounts().to_vec();
        for m in mounts {
            let d = DiskDescriptor::open(
                at.clone(),
                m.node,
                simnet_core::disk::NodeKind::Directory,
                true,
                !m.read_only,
                m.read_only,
            );
            dirs.push((disk::push(self.fs.table, d)?, m.guest_path));
        }
        Ok(dirs)
    }
}

impl types::Host for SimFilesystemView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<types::ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<types::ErrorCode>> {
        let e = self.fs.table.get(&err)?;
        if let Some(StreamFailure(code)) = e.downcast_ref::<StreamFailure>() {
            return Ok(Some(*code));
        }
        self.fs.filesystem_error_code(err)
    }
}

impl HostDescriptor for SimFilesystemView<'_> {
    async fn advise(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: Filesize,
        len: Filesize,
        advice: Advice,
    ) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.advise().await;
        }
        self.fs.advise(fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.sync_data().await;
        }
        self.fs.sync_data(fd).await
    }

    async fn get_flags(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorFlags> {
        if let Some(d) = self.on_disk(&fd) {
            return Ok(d.get_flags());
        }
        self.fs.get_flags(fd).await
    }

    async fn get_type(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorType> {
        if let Some(d) = self.on_disk(&fd) {
            return Ok(d.get_type());
        }
        self.fs.get_type(fd).await
    }

    async fn set_size(&mut self, fd: Resource<types::Descriptor>, size: Filesize) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.set_size(size).await;
        }
        self.fs.set_size(borrow(&fd), size).await?;
        self.changed(&fd).await;
        Ok(())
    }

    async fn set_times(
        &mut self,
        fd: Resource<types::Descriptor>,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.set_times(atim, mtim).await;
        }
        let (a, m) = (self.virtual_timestamp(atim), self.virtual_timestamp(mtim));
        self.fs.set_times(borrow(&fd), a, m).await?;
        let h = self.fs.metadata_hash(fd).await.ok();
        self.record_set_times(h, &atim, &mtim);
        Ok(())
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        if let Some(d) = self.on_disk(&fd) {
            return d.read(len, offset).await;
        }
        self.fs.read(fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buffer: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        if let Some(d) = self.on_disk(&fd) {
            return d.write(buffer, offset).await;
        }
        let n = self.fs.write(borrow(&fd), buffer, offset).await?;
        self.changed(&fd).await;
        Ok(n)
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        if let Some(d) = self.on_disk(&fd) {
            let entries = d.read_directory().await?;
            let sorted = self.fs.table.push(SortedEntries(entries.into_iter()))?;
            return Ok(Resource::new_own(sorted.rep()));
        }
        let stream = self.fs.read_directory(fd).await?;
        let mut entries = Vec::new();
        let result = loop {
            match self.fs.read_directory_entry(borrow(&stream)).await {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        HostDirectoryEntryStream::drop(&mut self.fs, stream).map_err(FsError::trap)?;
        result?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let sorted = self.fs.table.push(SortedEntries(entries.into_iter()))?;
        Ok(Resource::new_own(sorted.rep()))
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.sync().await;
        }
        self.fs.sync(fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.create_directory_at(path).await;
        }
        self.fs
            .create_directory_at(borrow(&fd), path.clone())
            .await?;
        self.changed_at(&fd, &path).await;
        self.changed(&fd).await;
        Ok(())
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorStat> {
        if let Some(d) = self.on_disk(&fd) {
            return d.stat().await;
        }
        let stat = self.fs.stat(borrow(&fd)).await?;
        let h = self.fs.metadata_hash(fd).await.ok();
        Ok(self.virtual_times(stat, h))
    }

    async fn stat_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        if let Some(d) = self.on_disk(&fd) {
            return d.stat_at(path_flags, path).await;
        }
        let stat = self
            .fs
            .stat_at(borrow(&fd), path_flags, path.clone())
            .await?;
        let h = self.fs.metadata_hash_at(fd, path_flags, path).await.ok();
        Ok(self.virtual_times(stat, h))
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.set_times_at(path_flags, path, atim, mtim).await;
        }
        let (a, m) = (self.virtual_timestamp(atim), self.virtual_timestamp(mtim));
        self.fs
            .set_times_at(borrow(&fd), path_flags, path.clone(), a, m)
            .await?;
        let h = self.fs.metadata_hash_at(fd, path_flags, path).await.ok();
        self.record_set_times(h, &atim, &mtim);
        Ok(())
    }

    async fn link_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path_flags: PathFlags,
        old_path: String,
        new_descriptor: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        match (self.on_disk(&fd), self.on_disk(&new_descriptor)) {
            (Some(d), Some(new)) => {
                return d.link_at(old_path_flags, old_path, new.d, new_path).await;
            }
            (None, None) => {}
            _ => return Err(ErrorCode::CrossDevice.into()),
        }
        self.fs
            .link_at(
                fd,
                old_path_flags,
                old_path,
                borrow(&new_descriptor),
                new_path.clone(),
            )
            .await?;
        self.changed(&new_descriptor).await;
        self.changed_at(&new_descriptor, &new_path).await;
        Ok(())
    }

    async fn open_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<types::Descriptor>> {
        if let Some(d) = self.on_disk(&fd) {
            let opened = d.open_at(path_flags, path, oflags, flags).await?;
            return disk::push(self.fs.table, opened).map_err(FsError::trap);
        }
        let dir = borrow(&fd);
        let opened = self.fs.open_at(fd, path_flags, path, oflags, flags).await?;
        if oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE) {
            self.changed(&opened).await;
            if oflags.contains(OpenFlags::CREATE) {
                self.changed(&dir).await;
            }
        }
        Ok(opened)
    }

    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        if self.on_disk(&fd).is_some() {
            self.fs
                .table
                .delete(Resource::<DiskDescriptor>::new_own(fd.rep()))?;
            return Ok(());
        }
        HostDescriptor::drop(&mut self.fs, fd)
    }

    async fn readlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<String> {
        if let Some(d) = self.on_disk(&fd) {
            return d.readlink_at(path).await;
        }
        self.fs.readlink_at(fd, path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.remove_directory_at(path).await;
        }
        let doomed = self.last_link_at(&fd, &path).await;
        self.fs.remove_directory_at(borrow(&fd), path).await?;
        self.forget(doomed);
        self.changed(&fd).await;
        Ok(())
    }

    async fn rename_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        match (self.on_disk(&fd), self.on_disk(&new_fd)) {
            (Some(d), Some(new)) => return d.rename_at(old_path, new.d, new_path).await,
            (None, None) => {}
            _ => return Err(ErrorCode::CrossDevice.into()),
        }
        let moving = self.identity_at(&fd, &old_path).await;
        let replaced = self
            .last_link_at(&new_fd, &new_path)
            .await
            .filter(|&r| Some(r) != moving);
        self.fs
            .rename_at(borrow(&fd), old_path, borrow(&new_fd), new_path)
            .await?;
        self.forget(replaced);
        self.changed(&fd).await;
        self.changed(&new_fd).await;
        Ok(())
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.symlink_at(src_path, dest_path).await;
        }
        self.fs.symlink_at(borrow(&fd), src_path, dest_path).await?;
        self.changed(&fd).await;
        Ok(())
    }

    async fn unlink_file_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        if let Some(d) = self.on_disk(&fd) {
            return d.unlink_file_at(path).await;
        }
        let doomed = self.last_link_at(&fd, &path).await;
        self.fs.unlink_file_at(borrow(&fd), path).await?;
        self.forget(doomed);
        self.changed(&fd).await;
        Ok(())
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        if let Some(d) = self.on_disk(&fd) {
            let stream = d.read_via_stream(offset)?;
            return Ok(self.fs.table.push(stream)?);
        }
        self.fs.read_via_stream(fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        if let Some(d) = self.on_disk(&fd) {
            let stream = d.write_via_stream(offset)?;
            return Ok(self.fs.table.push(stream)?);
        }
        let stream = self.fs.write_via_stream(borrow(&fd), offset)?;
        self.note_stream_writes(&fd);
        Ok(stream)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        if let Some(d) = self.on_disk(&fd) {
            let stream = d.append_via_stream()?;
            return Ok(self.fs.table.push(stream)?);
        }
        let stream = self.fs.append_via_stream(borrow(&fd))?;
        self.note_stream_writes(&fd);
        Ok(stream)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        match (self.on_disk(&a), self.on_disk(&b)) {
            (Some(x), Some(y)) => return Ok(x.is_same_object(y.d)),
            (None, None) => {}
            _ => return Ok(false),
        }
        self.fs.is_same_object(a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<MetadataHashValue> {
        if let Some(d) = self.on_disk(&fd) {
            return Ok(d.metadata_hash());
        }
        let real = self.fs.metadata_hash(fd).await?;
        Ok(self.times.guest_hash(real))
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        if let Some(d) = self.on_disk(&fd) {
            return d.metadata_hash_at(path_flags, path).await;
        }
        let real = self.fs.metadata_hash_at(fd, path_flags, path).await?;
        Ok(self.times.guest_hash(real))
    }
}

impl SimFilesystemView<'_> {
    /// A write stream was opened: the file counts as changed from now on (the
    /// stream's writes themselves are not seen here).
    fn note_stream_writes(&mut self, fd: &Resource<types::Descriptor>) {
        let hash = futures_now(self.fs.metadata_hash(borrow(fd)));
        if let Some(Ok(h)) = hash {
            self.times.modified(key(h));
        }
    }
}

/// Run a future that completes without waiting (wasmtime-wasi's filesystem calls do,
/// with blocking allowed on the current thread).
pub(crate) fn futures_now<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

impl HostDirectoryEntryStream for SimFilesystemView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<DirectoryEntry>> {
        let mine: Resource<SortedEntries> = Resource::new_borrow(stream.rep());
        Ok(self.fs.table.get_mut(&mine)?.0.next())
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        let mine: Resource<SortedEntries> = Resource::new_own(stream.rep());
        self.fs.table.delete(mine)?;
        Ok(())
    }
}
