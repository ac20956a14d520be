//! `wasi:filesystem@0.3` over the same filesystem 0.2 guests see: each call goes to
//! the 0.2 host (`host/p2/filesystem.rs`), and its types are converted. A descriptor
//! on the simulated disk is copied for the call (holding its node on its own), so the
//! call can wait out its cost in virtual time as a task; a real directory's calls
//! complete at once, as wasmtime-wasi's do with blocking allowed on the simulation's
//! thread. File streams are the 0.2 host's streams, bridged to 0.3 streams.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Access, Accessor, Destination, FutureReader, HasData, Resource, Source, StreamConsumer,
    StreamProducer, StreamReader, StreamResult,
};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::{preopens as preopens2, types as t2};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult, StreamError};
use wasmtime_wasi::p3::bindings::clocks::system_clock::Instant;
use wasmtime_wasi::p3::bindings::filesystem::{preopens, types as t3};
use wasmtime_wasi::p3::filesystem::{FilesystemError, FilesystemResult};

use super::Completion;
use crate::guest::GuestState;
use crate::host::SimFilesystemView;
use crate::host::p2::disk::{self, DiskDescriptor, DiskOps};
use crate::host::p2::disk_streams::StreamFailure;
use crate::host::p2::filesystem::{SortedEntries, futures_now};

/// The 0.3 filesystem's host, for the linker.
pub(crate) struct SimFilesystemP3;

impl HasData for SimFilesystemP3 {
    type Data<'a> = SimFilesystemView<'a>;
}

// ---- types ----

fn code(e: t2::ErrorCode) -> t3::ErrorCode {
    use t2::ErrorCode as A;
    use t3::ErrorCode as B;
    match e {
        A::Access => B::Access,
        A::WouldBlock => B::Other(None),
        A::Already => B::Already,
        A::BadDescriptor => B::BadDescriptor,
        A::Busy => B::Busy,
        A::Deadlock => B::Deadlock,
        A::Quota => B::Quota,
        A::Exist => B::Exist,
        A::FileTooLarge => B::FileTooLarge,
        A::IllegalByteSequence => B::IllegalByteSequence,
        A::InProgress => B::InProgress,
        A::Interrupted => B::Interrupted,
        A::Invalid => B::Invalid,
        A::Io => B::Io,
        A::IsDirectory => B::IsDirectory,
        A::Loop => B::Loop,
        A::TooManyLinks => B::TooManyLinks,
        A::MessageSize => B::MessageSize,
        A::NameTooLong => B::NameTooLong,
        A::NoDevice => B::NoDevice,
        A::NoEntry => B::NoEntry,
        A::NoLock => B::NoLock,
        A::InsufficientMemory => B::InsufficientMemory,
        A::InsufficientSpace => B::InsufficientSpace,
        A::NotDirectory => B::NotDirectory,
        A::NotEmpty => B::NotEmpty,
        A::NotRecoverable => B::NotRecoverable,
        A::Unsupported => B::Unsupported,
        A::NoTty => B::NoTty,
        A::NoSuchDevice => B::NoSuchDevice,
        A::Overflow => B::Overflow,
        A::NotPermitted => B::NotPermitted,
        A::Pipe => B::Pipe,
        A::ReadOnly => B::ReadOnly,
        A::InvalidSeek => B::InvalidSeek,
        A::TextFileBusy => B::TextFileBusy,
        A::CrossDevice => B::CrossDevice,
    }
}

/// A 0.2 result as 0.3's: the error code converted, a trap kept a trap.
fn fs<T>(r: FsResult<T>) -> FilesystemResult<T> {
    r.map_err(|e| match e.downcast() {
        Ok(c) => code(c).into(),
        Err(trap) => FilesystemError::trap(trap),
    })
}

fn descriptor_type(t: t2::DescriptorType) -> t3::DescriptorType {
    use t2::DescriptorType as A;
    use t3::DescriptorType as B;
    match t {
        A::Unknown => B::Other(None),
        A::BlockDevice => B::BlockDevice,
        A::CharacterDevice => B::CharacterDevice,
        A::Directory => B::Directory,
        A::Fifo => B::Fifo,
        A::SymbolicLink => B::SymbolicLink,
        A::RegularFile => B::RegularFile,
        A::Socket => B::Socket,
    }
}

fn instant(d: t2::Datetime) -> Instant {
    Instant {
        seconds: i64::try_from(d.seconds).unwrap_or(i64::MAX),
        nanoseconds: d.nanoseconds,
    }
}

fn stat(s: t2::DescriptorStat) -> t3::DescriptorStat {
    t3::DescriptorStat {
        type_: descriptor_type(s.type_),
        link_count: s.link_count,
        size: s.size,
        data_access_timestamp: s.data_access_timestamp.map(instant),
        data_modification_timestamp: s.data_modification_timestamp.map(instant),
        status_change_timestamp: s.status_change_timestamp.map(instant),
    }
}

/// A 0.3 timestamp as 0.2's; one before the epoch is `invalid` (0.2 cannot say it).
fn new_timestamp(t: t3::NewTimestamp) -> FilesystemResult<t2::NewTimestamp> {
    Ok(match t {
        t3::NewTimestamp::NoChange => t2::NewTimestamp::NoChange,
        t3::NewTimestamp::Now => t2::NewTimestamp::Now,
        t3::NewTimestamp::Timestamp(i) => t2::NewTimestamp::Timestamp(t2::Datetime {
            seconds: u64::try_from(i.seconds).map_err(|_| t3::ErrorCode::Invalid)?,
            nanoseconds: i.nanoseconds,
        }),
    })
}

/// The same flags, from one version's type to the other's.
macro_rules! convert_flags {
    ($value:expr, $from:path => $to:path, [$($flag:ident),*]) => {{
        use $from as From_;
        use $to as To_;
        let mut out = To_::empty();
        $(if $value.contains(From_::$flag) { out |= To_::$flag; })*
        out
    }};
}

fn path_flags(f: t3::PathFlags) -> t2::PathFlags {
    convert_flags!(f, t3::PathFlags => t2::PathFlags, [SYMLINK_FOLLOW])
}

fn open_flags(f: t3::OpenFlags) -> t2::OpenFlags {
    convert_flags!(f, t3::OpenFlags => t2::OpenFlags, [CREATE, DIRECTORY, EXCLUSIVE, TRUNCATE])
}

fn descriptor_flags(f: t3::DescriptorFlags) -> t2::DescriptorFlags {
    convert_flags!(f, t3::DescriptorFlags => t2::DescriptorFlags, [
        READ, WRITE, FILE_INTEGRITY_SYNC, DATA_INTEGRITY_SYNC, REQUESTED_WRITE_SYNC,
        MUTATE_DIRECTORY
    ])
}

fn descriptor_flags3(f: t2::DescriptorFlags) -> t3::DescriptorFlags {
    convert_flags!(f, t2::DescriptorFlags => t3::DescriptorFlags, [
        READ, WRITE, FILE_INTEGRITY_SYNC, DATA_INTEGRITY_SYNC, REQUESTED_WRITE_SYNC,
        MUTATE_DIRECTORY
    ])
}

fn advice(a: t3::Advice) -> t2::Advice {
    match a {
        t3::Advice::Normal => t2::Advice::Normal,
        t3::Advice::Sequential => t2::Advice::Sequential,
        t3::Advice::Random => t2::Advice::Random,
        t3::Advice::WillNeed => t2::Advice::WillNeed,
        t3::Advice::DontNeed => t2::Advice::DontNeed,
        t3::Advice::NoReuse => t2::Advice::NoReuse,
    }
}

fn hash(h: t2::MetadataHashValue) -> t3::MetadataHashValue {
    t3::MetadataHashValue {
        lower: h.lower,
        upper: h.upper,
    }
}

fn entry(e: t2::DirectoryEntry) -> t3::DirectoryEntry {
    t3::DirectoryEntry {
        type_: descriptor_type(e.type_),
        name: e.name,
    }
}

// ---- where a call goes ----

fn borrow(r: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(r.rep())
}

/// A descriptor on the simulated disk (a copy of it, for the call), or a real one.
enum Target {
    Disk(DiskDescriptor),
    Real,
}

fn target(store: &Accessor<GuestState, SimFilesystemP3>, fd: &Resource<Descriptor>) -> Target {
    store.with(|mut s| match s.get().on_disk(fd) {
        Some(ops) => Target::Disk(ops.d.snapshot()),
        None => Target::Real,
    })
}

/// Run a 0.2 call on a real directory's descriptor: it completes at once.
fn real<R>(
    store: &Accessor<GuestState, SimFilesystemP3>,
    call: impl AsyncFnOnce(&mut SimFilesystemView<'_>) -> FsResult<R>,
) -> FilesystemResult<R> {
    store.with(|mut s| {
        let mut view = s.get();
        match futures_now(call(&mut view)) {
            Some(r) => fs(r),
            None => Err(FilesystemError::trap(wasmtime::format_err!(
                "a call on a real directory did not complete at once"
            ))),
        }
    })
}

/// A call on one descriptor: on the disk, its copy's operations (waiting out their
/// cost); on a real directory, the 0.2 host's call.
macro_rules! on_descriptor {
    ($store:expr, $fd:expr, |$ops:ident| $disk:expr, |$view:ident, $fd2:ident| $real:expr) => {
        match target($store, &$fd) {
            Target::Disk(d) => {
                let $ops = DiskOps { d: &d };
                fs($disk)
            }
            Target::Real => {
                let $fd2 = $fd;
                real($store, async |$view| $real)
            }
        }
    };
}

impl t3::Host for SimFilesystemView<'_> {
    fn convert_error_code(&mut self, error: FilesystemError) -> wasmtime::Result<t3::ErrorCode> {
        error.downcast()
    }
}

impl t3::HostDescriptor for SimFilesystemView<'_> {
    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        <Self as t2::HostDescriptor>::drop(self, fd)
    }
}

impl preopens::Host for SimFilesystemView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        preopens2::Host::get_directories(self)
    }
}

impl t3::HostDescriptorWithStore<GuestState> for SimFilesystemP3 {
    fn read_via_stream(
        mut store: Access<'_, GuestState, Self>,
        fd: Resource<Descriptor>,
        offset: u64,
    ) -> wasmtime::Result<(StreamReader<u8>, FutureReader<Result<(), t3::ErrorCode>>)> {
        let mut view = store.get();
        let (world, guest) = (view.net.world.clone(), view.net.guest);
        let input = match view.on_disk(&fd) {
            Some(d) => fs(d.read_via_stream(offset)),
            None => fs(t2::HostDescriptor::read_via_stream(&mut view, fd, offset))
                .and_then(|r| view.fs.table.delete(r).map_err(FilesystemError::trap)),
        };
        let done = Completion::new(world, guest);
        let future = done.future();
        let stream = match input {
            Ok(input) => StreamReader::new(&mut store, FileReader::new(input, done))?,
            Err(e) => {
                done.complete(Err(e.downcast()?));
                StreamReader::new(&mut store, std::iter::empty())?
            }
        };
        Ok((stream, FutureReader::new(&mut store, future)?))
    }

    fn write_via_stream(
        store: Access<'_, GuestState, Self>,
        fd: Resource<Descriptor>,
        data: StreamReader<u8>,
        offset: u64,
    ) -> wasmtime::Result<FutureReader<Result<(), t3::ErrorCode>>> {
        write_stream(store, fd, data, Some(offset))
    }

    fn append_via_stream(
        store: Access<'_, GuestState, Self>,
        fd: Resource<Descriptor>,
        data: StreamReader<u8>,
    ) -> wasmtime::Result<FutureReader<Result<(), t3::ErrorCode>>> {
        write_stream(store, fd, data, None)
    }

    async fn advise(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        offset: u64,
        length: u64,
        a: t3::Advice,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.advise().await, |v, fd| {
            t2::HostDescriptor::advise(v, fd, offset, length, advice(a)).await
        })
    }

    async fn sync_data(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.sync_data().await, |v, fd| {
            t2::HostDescriptor::sync_data(v, fd).await
        })
    }

    async fn get_flags(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<t3::DescriptorFlags> {
        let flags = on_descriptor!(store, fd, |ops| Ok(ops.get_flags()), |v, fd| {
            t2::HostDescriptor::get_flags(v, fd).await
        })?;
        Ok(descriptor_flags3(flags))
    }

    async fn get_type(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<t3::DescriptorType> {
        let t = on_descriptor!(store, fd, |ops| Ok(ops.get_type()), |v, fd| {
            t2::HostDescriptor::get_type(v, fd).await
        })?;
        Ok(descriptor_type(t))
    }

    async fn set_size(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        size: u64,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.set_size(size).await, |v, fd| {
            t2::HostDescriptor::set_size(v, fd, size).await
        })
    }

    async fn set_times(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        atim: t3::NewTimestamp,
        mtim: t3::NewTimestamp,
    ) -> FilesystemResult<()> {
        let (a, m) = (new_timestamp(atim)?, new_timestamp(mtim)?);
        on_descriptor!(store, fd, |ops| ops.set_times(a, m).await, |v, fd| {
            t2::HostDescriptor::set_times(v, fd, a, m).await
        })
    }

    fn read_directory(
        mut store: Access<'_, GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> wasmtime::Result<(
        StreamReader<t3::DirectoryEntry>,
        FutureReader<Result<(), t3::ErrorCode>>,
    )> {
        let mut view = store.get();
        let (world, guest) = (view.net.world.clone(), view.net.guest);
        let done = Completion::new(world, guest);
        let future = done.future();
        let listing: DirListing = match view.on_disk(&fd) {
            Some(d) => {
                let d = d.d.snapshot();
                DirListing::Pending(Box::pin(
                    async move { DiskOps { d: &d }.read_directory().await },
                ))
            }
            None => match futures_now(t2::HostDescriptor::read_directory(&mut view, fd)) {
                Some(Ok(stream)) => {
                    let sorted: Resource<SortedEntries> = Resource::new_own(stream.rep());
                    let entries = view.fs.table.delete(sorted)?;
                    DirListing::Ready(entries.0.collect())
                }
                Some(Err(e)) => DirListing::Failed(e),
                None => wasmtime::bail!("a real directory's listing did not complete at once"),
            },
        };
        let stream = StreamReader::new(&mut store, Lister { listing, done })?;
        Ok((stream, FutureReader::new(&mut store, future)?))
    }

    async fn sync(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.sync().await, |v, fd| {
            t2::HostDescriptor::sync(v, fd).await
        })
    }

    async fn create_directory_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FilesystemResult<()> {
        on_descriptor!(
            store,
            fd,
            |ops| ops.create_directory_at(path).await,
            |v, fd| t2::HostDescriptor::create_directory_at(v, fd, path).await
        )
    }

    async fn stat(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<t3::DescriptorStat> {
        on_descriptor!(store, fd, |ops| ops.stat().await, |v, fd| {
            t2::HostDescriptor::stat(v, fd).await
        })
        .map(stat)
    }

    async fn stat_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        flags: t3::PathFlags,
        path: String,
    ) -> FilesystemResult<t3::DescriptorStat> {
        let flags = path_flags(flags);
        on_descriptor!(store, fd, |ops| ops.stat_at(flags, path).await, |v, fd| {
            t2::HostDescriptor::stat_at(v, fd, flags, path).await
        })
        .map(stat)
    }

    async fn set_times_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        flags: t3::PathFlags,
        path: String,
        atim: t3::NewTimestamp,
        mtim: t3::NewTimestamp,
    ) -> FilesystemResult<()> {
        let (flags, a, m) = (
            path_flags(flags),
            new_timestamp(atim)?,
            new_timestamp(mtim)?,
        );
        on_descriptor!(
            store,
            fd,
            |ops| ops.set_times_at(flags, path, a, m).await,
            |v, fd| t2::HostDescriptor::set_times_at(v, fd, flags, path, a, m).await
        )
    }

    async fn link_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        old_flags: t3::PathFlags,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FilesystemResult<()> {
        let flags = path_flags(old_flags);
        match (target(store, &fd), target(store, &new_fd)) {
            (Target::Disk(a), Target::Disk(b)) => fs(DiskOps { d: &a }
                .link_at(flags, old_path, &b, new_path)
                .await),
            (Target::Real, Target::Real) => real(store, async |v| {
                t2::HostDescriptor::link_at(v, fd, flags, old_path, new_fd, new_path).await
            }),
            _ => Err(t3::ErrorCode::CrossDevice.into()),
        }
    }

    async fn open_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        flags: t3::PathFlags,
        path: String,
        oflags: t3::OpenFlags,
        dflags: t3::DescriptorFlags,
    ) -> FilesystemResult<Resource<Descriptor>> {
        let (flags, oflags, dflags) = (
            path_flags(flags),
            open_flags(oflags),
            descriptor_flags(dflags),
        );
        match target(store, &fd) {
            Target::Disk(d) => {
                let opened = fs(DiskOps { d: &d }.open_at(flags, path, oflags, dflags).await)?;
                store.with(|mut s| {
                    disk::push(s.get().fs.table, opened).map_err(FilesystemError::trap)
                })
            }
            Target::Real => real(store, async |v| {
                t2::HostDescriptor::open_at(v, fd, flags, path, oflags, dflags).await
            }),
        }
    }

    async fn readlink_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FilesystemResult<String> {
        on_descriptor!(store, fd, |ops| ops.readlink_at(path).await, |v, fd| {
            t2::HostDescriptor::readlink_at(v, fd, path).await
        })
    }

    async fn remove_directory_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FilesystemResult<()> {
        on_descriptor!(
            store,
            fd,
            |ops| ops.remove_directory_at(path).await,
            |v, fd| t2::HostDescriptor::remove_directory_at(v, fd, path).await
        )
    }

    async fn rename_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FilesystemResult<()> {
        match (target(store, &fd), target(store, &new_fd)) {
            (Target::Disk(a), Target::Disk(b)) => {
                fs(DiskOps { d: &a }.rename_at(old_path, &b, new_path).await)
            }
            (Target::Real, Target::Real) => real(store, async |v| {
                t2::HostDescriptor::rename_at(v, fd, old_path, new_fd, new_path).await
            }),
            _ => Err(t3::ErrorCode::CrossDevice.into()),
        }
    }

    async fn symlink_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        old_path: String,
        new_path: String,
    ) -> FilesystemResult<()> {
        on_descriptor!(
            store,
            fd,
            |ops| ops.symlink_at(old_path, new_path).await,
            |v, fd| t2::HostDescriptor::symlink_at(v, fd, old_path, new_path).await
        )
    }

    async fn unlink_file_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.unlink_file_at(path).await, |v, fd| {
            t2::HostDescriptor::unlink_file_at(v, fd, path).await
        })
    }

    async fn is_same_object(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        other: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        store.with(|mut s| {
            let mut view = s.get();
            futures_now(t2::HostDescriptor::is_same_object(&mut view, fd, other))
                .unwrap_or(Ok(false))
        })
    }

    async fn metadata_hash(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<t3::MetadataHashValue> {
        on_descriptor!(store, fd, |ops| Ok(ops.metadata_hash()), |v, fd| {
            t2::HostDescriptor::metadata_hash(v, fd).await
        })
        .map(hash)
    }

    async fn metadata_hash_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        flags: t3::PathFlags,
        path: String,
    ) -> FilesystemResult<t3::MetadataHashValue> {
        let flags = path_flags(flags);
        on_descriptor!(
            store,
            fd,
            |ops| ops.metadata_hash_at(flags, path).await,
            |v, fd| t2::HostDescriptor::metadata_hash_at(v, fd, flags, path).await
        )
        .map(hash)
    }
}

/// `write-via-stream` and (with no offset) `append-via-stream`.
fn write_stream(
    mut store: Access<'_, GuestState, SimFilesystemP3>,
    fd: Resource<Descriptor>,
    mut data: StreamReader<u8>,
    offset: Option<u64>,
) -> wasmtime::Result<FutureReader<Result<(), t3::ErrorCode>>> {
    let mut view = store.get();
    let (world, guest) = (view.net.world.clone(), view.net.guest);
    let output = match refusal(&view, &fd) {
        None => stream_for_writing(&mut view, &fd, offset),
        Some(code) => Err(code.into()),
    };
    let done = Completion::new(world, guest);
    let future = done.future();
    match output {
        Ok(output) => data.pipe(&mut store, FileWriter::new(output, done))?,
        Err(e) => {
            data.close(&mut store)?;
            done.complete(Err(e.downcast()?));
        }
    }
    FutureReader::new(&mut store, future)
}

/// Why a write stream on a disk file is refused at once, as wasmtime-wasi refuses
/// one on a real file: `not-permitted` under a read-only mount, `bad-descriptor`
/// for a file not opened for writing. (The 0.2 host's real-directory streams refuse
/// these themselves; its disk streams fail at the first write.)
fn refusal(view: &SimFilesystemView<'_>, fd: &Resource<Descriptor>) -> Option<t3::ErrorCode> {
    let d = view.on_disk(fd)?.d;
    match () {
        _ if d.kind == simnet_core::disk::NodeKind::Directory => None,
        _ if d.read_only => Some(t3::ErrorCode::NotPermitted),
        _ if !d.write => Some(t3::ErrorCode::BadDescriptor),
        _ => None,
    }
}

/// The 0.2 host's output stream for writing `fd` at `offset` (appending: `None`).
fn stream_for_writing(
    view: &mut SimFilesystemView<'_>,
    fd: &Resource<Descriptor>,
    offset: Option<u64>,
) -> FilesystemResult<DynOutputStream> {
    let stream = match (view.on_disk(fd), offset) {
        (Some(d), Some(at)) => return fs(d.write_via_stream(at)),
        (Some(d), None) => return fs(d.append_via_stream()),
        (None, Some(at)) => t2::HostDescriptor::write_via_stream(view, borrow(fd), at),
        (None, None) => t2::HostDescriptor::append_via_stream(view, borrow(fd)),
    };
    fs(stream).and_then(|r| view.fs.table.delete(r).map_err(FilesystemError::trap))
}

// ---- streams ----

/// A stream's failure as the 0.3 error code.
fn stream_code(e: &StreamError) -> t3::ErrorCode {
    let StreamError::LastOperationFailed(e) = e else {
        return t3::ErrorCode::Io;
    };
    if let Some(StreamFailure(c)) = e.downcast_ref::<StreamFailure>() {
        return code(*c);
    }
    match e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
        Some(std::io::ErrorKind::NotFound) => t3::ErrorCode::NoEntry,
        Some(std::io::ErrorKind::PermissionDenied) => t3::ErrorCode::NotPermitted,
        _ => t3::ErrorCode::Io,
    }
}

/// A 0.2 error's code as 0.3's (`io` for a trap, which has none).
fn error_code(e: &FsError) -> t3::ErrorCode {
    e.downcast_ref().map_or(t3::ErrorCode::Io, |c| code(*c))
}

/// A 0.2 input stream waiting to be ready (it moves into the wait and back).
type Ready<S> = Pin<Box<dyn Future<Output = S> + Send>>;

/// The host end of a file's `read-via-stream`: the 0.2 host's input stream.
struct FileReader {
    input: Option<DynInputStream>,
    waiting: Option<Ready<DynInputStream>>,
    done: Arc<Completion<t3::ErrorCode>>,
}

impl FileReader {
    fn new(input: DynInputStream, done: Arc<Completion<t3::ErrorCode>>) -> Self {
        FileReader {
            input: Some(input),
            waiting: None,
            done,
        }
    }

    /// The input stream once it is ready to read.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<&mut DynInputStream> {
        if let Some(w) = &mut self.waiting {
            match w.as_mut().poll(cx) {
                Poll::Ready(input) => {
                    self.waiting = None;
                    self.input = Some(input);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match &mut self.input {
            Some(input) => Poll::Ready(input),
            None => Poll::Pending,
        }
    }

    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(mut input) = self.input.take() else {
            return Poll::Pending;
        };
        self.waiting = Some(Box::pin(async move {
            input.ready().await;
            input
        }));
        match self.poll_input(cx) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for FileReader {
    fn drop(&mut self) {
        self.done.complete(Ok(()));
    }
}

impl<D> StreamProducer<D> for FileReader {
    type Item = u8;
    type Buffer = Bytes;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let wanted = dst.remaining(&mut store).unwrap_or(64 * 1024);
        loop {
            let input = match self.poll_input(cx) {
                Poll::Ready(input) => input,
                Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
                Poll::Pending => return Poll::Pending,
            };
            if wanted == 0 {
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            match input.read(wanted) {
                Ok(bytes) if !bytes.is_empty() => {
                    dst.set_buffer(bytes);
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                Ok(_) => {
                    if self.wait(cx).is_pending() {
                        return match finish {
                            true => Poll::Ready(Ok(StreamResult::Cancelled)),
                            false => Poll::Pending,
                        };
                    }
                }
                Err(StreamError::Closed) => {
                    self.done.complete(Ok(()));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
                Err(StreamError::Trap(e)) => return Poll::Ready(Err(e)),
                Err(e) => {
                    self.done.complete(Err(stream_code(&e)));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            }
        }
    }
}

/// The host end of a file's `write-via-stream` or `append-via-stream`: the 0.2
/// host's output stream.
struct FileWriter {
    output: Option<DynOutputStream>,
    waiting: Option<Ready<DynOutputStream>>,
    done: Arc<Completion<t3::ErrorCode>>,
}

impl FileWriter {
    fn new(output: DynOutputStream, done: Arc<Completion<t3::ErrorCode>>) -> Self {
        FileWriter {
            output: Some(output),
            waiting: None,
            done,
        }
    }

    fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<&mut DynOutputStream> {
        if let Some(w) = &mut self.waiting {
            match w.as_mut().poll(cx) {
                Poll::Ready(output) => {
                    self.waiting = None;
                    self.output = Some(output);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match &mut self.output {
            Some(output) => Poll::Ready(output),
            None => Poll::Pending,
        }
    }

    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(mut output) = self.output.take() else {
            return Poll::Pending;
        };
        self.waiting = Some(Box::pin(async move {
            output.ready().await;
            output
        }));
        match self.poll_output(cx) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.done.complete(Ok(()));
    }
}

impl<D> StreamConsumer<D> for FileWriter {
    type Item = u8;

    fn poll_consume(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<D>,
        src: Source<Self::Item>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let mut src = src.as_direct(store);
        loop {
            let output = match self.poll_output(cx) {
                Poll::Ready(output) => output,
                Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
                Poll::Pending => return Poll::Pending,
            };
            let permit = match output.check_write() {
                Ok(n) => n,
                Err(StreamError::Trap(e)) => return Poll::Ready(Err(e)),
                Err(e) => {
                    self.done.complete(Err(stream_code(&e)));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            };
            if permit == 0 {
                if self.wait(cx).is_pending() {
                    return match finish {
                        true => Poll::Ready(Ok(StreamResult::Cancelled)),
                        false => Poll::Pending,
                    };
                }
                continue;
            }
            let chunk = src.remaining();
            if chunk.is_empty() {
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            let n = chunk.len().min(permit);
            let bytes = Bytes::copy_from_slice(&chunk[..n]);
            match output.write(bytes) {
                Ok(()) => {
                    src.mark_read(n);
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                Err(StreamError::Trap(e)) => return Poll::Ready(Err(e)),
                Err(e) => {
                    self.done.complete(Err(stream_code(&e)));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            }
        }
    }
}

/// A directory's listing, on its way to the guest.
enum DirListing {
    /// A disk's listing, waiting out its cost.
    Pending(Pin<Box<dyn Future<Output = FsResult<Vec<t2::DirectoryEntry>>> + Send>>),
    Ready(std::collections::VecDeque<t2::DirectoryEntry>),
    Failed(FsError),
}

/// The host end of `read-directory`: entries in name order.
struct Lister {
    listing: DirListing,
    done: Arc<Completion<t3::ErrorCode>>,
}

impl Drop for Lister {
    fn drop(&mut self) {
        self.done.complete(Ok(()));
    }
}

impl<D> StreamProducer<D> for Lister {
    type Item = t3::DirectoryEntry;
    type Buffer = Option<t3::DirectoryEntry>;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        if let DirListing::Pending(f) = &mut self.listing {
            match f.as_mut().poll(cx) {
                Poll::Ready(Ok(entries)) => self.listing = DirListing::Ready(entries.into()),
                Poll::Ready(Err(e)) => self.listing = DirListing::Failed(e),
                Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let result = match &mut self.listing {
            DirListing::Ready(entries) => match entries.pop_front() {
                Some(e) => {
                    dst.set_buffer(Some(entry(e)));
                    return Poll::Ready(Ok(StreamResult::Completed));
                }
                None => Ok(()),
            },
            DirListing::Failed(e) => Err(error_code(e)),
            DirListing::Pending(_) => return Poll::Pending,
        };
        self.done.complete(result);
        Poll::Ready(Ok(StreamResult::Dropped))
    }
}
