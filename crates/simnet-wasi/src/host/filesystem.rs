//! `wasi:filesystem` over preopened host directories, made deterministic: every call
//! goes to wasmtime-wasi's implementation (run on the simulation's thread, never on a
//! blocking pool), except that what a guest could otherwise read off the real machine
//! is replaced. File times are virtual: a file reads as last changed when a guest of
//! this run last changed it (at that virtual wall-clock time), otherwise at the epoch.
//! Directories list their entries sorted by name.

use std::collections::BTreeMap;
use std::time::Duration;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, Filesize,
    HostDescriptor, HostDirectoryEntryStream, MetadataHashValue, NewTimestamp, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult};

use crate::world::VirtualClock;

/// What a guest's filesystem calls see besides wasmtime-wasi's context: the virtual
/// wall clock and the times this run changed files.
pub(crate) struct FileTimes {
    pub clock: VirtualClock,
    pub epoch: Duration,
    /// Virtual wall-clock time of the last change, by file identity (wasmtime-wasi's
    /// metadata hash of device and inode).
    changed: BTreeMap<(u64, u64), Duration>,
}

impl FileTimes {
    pub fn new(clock: VirtualClock, epoch: Duration) -> Self {
        FileTimes {
            clock,
            epoch,
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
}

/// A directory listing, sorted by name, handed out entry by entry.
pub(crate) struct SortedEntries(std::vec::IntoIter<DirectoryEntry>);

fn datetime(d: Duration) -> Datetime {
    Datetime {
        seconds: d.as_secs(),
        nanoseconds: d.subsec_nanos(),
    }
}

fn key(h: MetadataHashValue) -> (u64, u64) {
    (h.upper, h.lower)
}

impl SimFilesystemView<'_> {
    /// Note that the file behind `fd` changed now.
    async fn changed(&mut self, fd: &Resource<types::Descriptor>) {
        let now = self.times.now();
        if let Ok(h) = self.fs.metadata_hash(borrow(fd)).await {
            self.times.changed.insert(key(h), now);
        }
    }

    async fn changed_at(&mut self, fd: &Resource<types::Descriptor>, path: &str) {
        let now = self.times.now();
        let flags = PathFlags::empty();
        if let Ok(h) = self
            .fs
            .metadata_hash_at(borrow(fd), flags, path.to_string())
            .await
        {
            self.times.changed.insert(key(h), now);
        }
    }

    fn virtual_times(
        &self,
        mut stat: DescriptorStat,
        hash: Option<MetadataHashValue>,
    ) -> DescriptorStat {
        let at = hash
            .and_then(|h| self.times.changed.get(&key(h)).copied())
            .unwrap_or(self.times.epoch);
        stat.data_access_timestamp = Some(datetime(at));
        stat.data_modification_timestamp = Some(datetime(at));
        stat.status_change_timestamp = Some(datetime(at));
        stat
    }

    /// A `now` timestamp is the virtual wall clock's.
    fn virtual_timestamp(&self, t: NewTimestamp) -> NewTimestamp {
        match t {
            NewTimestamp::Now => NewTimestamp::Timestamp(datetime(self.times.now())),
            other => other,
        }
    }

    fn record_set_times(&mut self, h: Option<MetadataHashValue>, mtim: &NewTimestamp) {
        let Some(h) = h else { return };
        match mtim {
            NewTimestamp::Timestamp(t) => {
                let at = Duration::new(t.seconds, t.nanoseconds.min(999_999_999));
                self.times.changed.insert(key(h), at);
            }
            NewTimestamp::Now => {
                let now = self.times.now();
                self.times.changed.insert(key(h), now);
            }
            NewTimestamp::NoChange => {}
        }
    }
}

fn borrow<T: 'static>(r: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(r.rep())
}

impl types::Host for SimFilesystemView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<types::ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<types::ErrorCode>> {
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
        self.fs.advise(fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        self.fs.sync_data(fd).await
    }

    async fn get_flags(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorFlags> {
        self.fs.get_flags(fd).await
    }

    async fn get_type(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorType> {
        self.fs.get_type(fd).await
    }

    async fn set_size(&mut self, fd: Resource<types::Descriptor>, size: Filesize) -> FsResult<()> {
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
        let (a, m) = (self.virtual_timestamp(atim), self.virtual_timestamp(mtim));
        self.fs.set_times(borrow(&fd), a, m).await?;
        let h = self.fs.metadata_hash(fd).await.ok();
        self.record_set_times(h, &mtim);
        Ok(())
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        self.fs.read(fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buffer: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        let n = self.fs.write(borrow(&fd), buffer, offset).await?;
        self.changed(&fd).await;
        Ok(n)
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
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
        self.fs.sync(fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.fs
            .create_directory_at(borrow(&fd), path.clone())
            .await?;
        self.changed_at(&fd, &path).await;
        self.changed(&fd).await;
        Ok(())
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<DescriptorStat> {
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
        let (a, m) = (self.virtual_timestamp(atim), self.virtual_timestamp(mtim));
        self.fs
            .set_times_at(borrow(&fd), path_flags, path.clone(), a, m)
            .await?;
        let h = self.fs.metadata_hash_at(fd, path_flags, path).await.ok();
        self.record_set_times(h, &mtim);
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
        HostDescriptor::drop(&mut self.fs, fd)
    }

    async fn readlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<String> {
        self.fs.readlink_at(fd, path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.fs.remove_directory_at(borrow(&fd), path).await?;
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
        self.fs
            .rename_at(borrow(&fd), old_path, borrow(&new_fd), new_path)
            .await?;
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
        self.fs.symlink_at(borrow(&fd), src_path, dest_path).await?;
        self.changed(&fd).await;
        Ok(())
    }

    async fn unlink_file_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.fs.unlink_file_at(borrow(&fd), path).await?;
        self.changed(&fd).await;
        Ok(())
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        self.fs.read_via_stream(fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = self.fs.write_via_stream(borrow(&fd), offset)?;
        self.note_stream_writes(&fd);
        Ok(stream)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = self.fs.append_via_stream(borrow(&fd))?;
        self.note_stream_writes(&fd);
        Ok(stream)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        self.fs.is_same_object(a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<MetadataHashValue> {
        self.fs.metadata_hash(fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        self.fs.metadata_hash_at(fd, path_flags, path).await
    }
}

impl SimFilesystemView<'_> {
    /// A write stream was opened: the file counts as changed from now on (the
    /// stream's writes themselves are not seen here).
    fn note_stream_writes(&mut self, fd: &Resource<types::Descriptor>) {
        let now = self.times.now();
        let hash = futures_now(self.fs.metadata_hash(borrow(fd)));
        if let Some(Ok(h)) = hash {
            self.times.changed.insert(key(h), now);
        }
    }
}

/// Run a future that completes without waiting (wasmtime-wasi's filesystem calls do,
/// with blocking allowed on the current thread).
fn futures_now<F: std::future::Future>(f: F) -> Option<F::Output> {
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
