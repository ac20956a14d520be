//! `wasi:filesystem@0.3` over the same filesystem 0.2 guests see: each call goes to
//! the 0.2 host (`host/p2/filesystem.rs`), and its types are converted. A descriptor
//! on the simulated disk is copied for the call (holding its node on its own), so the
//! call can wait out its cost in virtual time as a task; a real directory's calls
//! complete at once, as wasmtime-wasi's do with blocking allowed on the simulation's
//! thread. File streams are the 0.2 host's streams, bridged to 0.3 streams.

use wasmtime::component::{Access, Accessor, FutureReader, HasData, Resource, StreamReader};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::{preopens as preopens2, types as t2};
use wasmtime_wasi::p2::{DynOutputStream, FsResult};
use wasmtime_wasi::p3::bindings::filesystem::{preopens, types as t3};
use wasmtime_wasi::p3::filesystem::{FilesystemError, FilesystemResult};

use super::Completion;
use super::file_streams::{DirListing, FileReader, FileWriter, Lister};
use super::fs_types::{
    advice, descriptor_flags, descriptor_flags3, descriptor_type, fs, hash, new_timestamp,
    open_flags, path_flags, stat,
};
use crate::guest::GuestState;
use crate::host::SimFilesystemView;
use crate::host::p2::disk::{self, DiskDescriptor, DiskOps};
use crate::host::p2::filesystem::{SortedEntries, futures_now};

/// The 0.3 filesystem's host, for the linker.
pub(crate) struct SimFilesystemP3;

impl HasData for SimFilesystemP3 {
    type Data<'a> = SimFilesystemView<'a>;
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
    ($store:expr, $fd:expr, |$ops:ident| $disk:expr, |$view:ident| $real:expr) => {
        match target($store, &$fd) {
            Target::Disk(d) => {
                let $ops = DiskOps { d: &d };
                fs($disk)
            }
            Target::Real => real($store, async |$view| $real),
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
        on_descriptor!(store, fd, |ops| ops.advise().await, |v| {
            t2::HostDescriptor::advise(v, fd, offset, length, advice(a)).await
        })
    }

    async fn sync_data(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.sync_data().await, |v| {
            t2::HostDescriptor::sync_data(v, fd).await
        })
    }

    async fn get_flags(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<t3::DescriptorFlags> {
        let flags = on_descriptor!(store, fd, |ops| Ok(ops.get_flags()), |v| {
            t2::HostDescriptor::get_flags(v, fd).await
        })?;
        Ok(descriptor_flags3(flags))
    }

    async fn get_type(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<t3::DescriptorType> {
        let t = on_descriptor!(store, fd, |ops| Ok(ops.get_type()), |v| {
            t2::HostDescriptor::get_type(v, fd).await
        })?;
        Ok(descriptor_type(t))
    }

    async fn set_size(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        size: u64,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.set_size(size).await, |v| {
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
        on_descriptor!(store, fd, |ops| ops.set_times(a, m).await, |v| {
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
        on_descriptor!(store, fd, |ops| ops.sync().await, |v| {
            t2::HostDescriptor::sync(v, fd).await
        })
    }

    async fn create_directory_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.create_directory_at(path).await, |v| {
            t2::HostDescriptor::create_directory_at(v, fd, path).await
        })
    }

    async fn stat(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
    ) -> FilesystemResult<t3::DescriptorStat> {
        on_descriptor!(store, fd, |ops| ops.stat().await, |v| {
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
        on_descriptor!(store, fd, |ops| ops.stat_at(flags, path).await, |v| {
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
            |v| t2::HostDescriptor::set_times_at(v, fd, flags, path, a, m).await
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
        on_descriptor!(store, fd, |ops| ops.readlink_at(path).await, |v| {
            t2::HostDescriptor::readlink_at(v, fd, path).await
        })
    }

    async fn remove_directory_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.remove_directory_at(path).await, |v| {
            t2::HostDescriptor::remove_directory_at(v, fd, path).await
        })
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
            |v| t2::HostDescriptor::symlink_at(v, fd, old_path, new_path).await
        )
    }

    async fn unlink_file_at(
        store: &Accessor<GuestState, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FilesystemResult<()> {
        on_descriptor!(store, fd, |ops| ops.unlink_file_at(path).await, |v| {
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
        on_descriptor!(store, fd, |ops| Ok(ops.metadata_hash()), |v| {
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
            |v| t2::HostDescriptor::metadata_hash_at(v, fd, flags, path).await
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
