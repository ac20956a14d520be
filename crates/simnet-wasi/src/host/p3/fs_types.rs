//! The types of `wasi:filesystem@0.3` and of 0.2, one into the other: the 0.3 host
//! serves each call through the 0.2 host.

use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::filesystem::types as t2;
use wasmtime_wasi::p3::bindings::clocks::system_clock::Instant;
use wasmtime_wasi::p3::bindings::filesystem::types as t3;
use wasmtime_wasi::p3::filesystem::{FilesystemError, FilesystemResult};

pub(super) fn code(e: t2::ErrorCode) -> t3::ErrorCode {
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
pub(super) fn fs<T>(r: FsResult<T>) -> FilesystemResult<T> {
    r.map_err(|e| match e.downcast() {
        Ok(c) => code(c).into(),
        Err(trap) => FilesystemError::trap(trap),
    })
}

pub(super) fn descriptor_type(t: t2::DescriptorType) -> t3::DescriptorType {
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

pub(super) fn instant(d: t2::Datetime) -> Instant {
    Instant {
        seconds: i64::try_from(d.seconds).unwrap_or(i64::MAX),
        nanoseconds: d.nanoseconds,
    }
}

pub(super) fn stat(s: t2::DescriptorStat) -> t3::DescriptorStat {
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
pub(super) fn new_timestamp(t: t3::NewTimestamp) -> FilesystemResult<t2::NewTimestamp> {
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

pub(super) fn path_flags(f: t3::PathFlags) -> t2::PathFlags {
    convert_flags!(f, t3::PathFlags => t2::PathFlags, [SYMLINK_FOLLOW])
}

pub(super) fn open_flags(f: t3::OpenFlags) -> t2::OpenFlags {
    convert_flags!(f, t3::OpenFlags => t2::OpenFlags, [CREATE, DIRECTORY, EXCLUSIVE, TRUNCATE])
}

pub(super) fn descriptor_flags(f: t3::DescriptorFlags) -> t2::DescriptorFlags {
    convert_flags!(f, t3::DescriptorFlags => t2::DescriptorFlags, [
        READ, WRITE, FILE_INTEGRITY_SYNC, DATA_INTEGRITY_SYNC, REQUESTED_WRITE_SYNC,
        MUTATE_DIRECTORY
    ])
}

pub(super) fn descriptor_flags3(f: t2::DescriptorFlags) -> t3::DescriptorFlags {
    convert_flags!(f, t2::DescriptorFlags => t3::DescriptorFlags, [
        READ, WRITE, FILE_INTEGRITY_SYNC, DATA_INTEGRITY_SYNC, REQUESTED_WRITE_SYNC,
        MUTATE_DIRECTORY
    ])
}

pub(super) fn advice(a: t3::Advice) -> t2::Advice {
    match a {
        t3::Advice::Normal => t2::Advice::Normal,
        t3::Advice::Sequential => t2::Advice::Sequential,
        t3::Advice::Random => t2::Advice::Random,
        t3::Advice::WillNeed => t2::Advice::WillNeed,
        t3::Advice::DontNeed => t2::Advice::DontNeed,
        t3::Advice::NoReuse => t2::Advice::NoReuse,
    }
}

pub(super) fn hash(h: t2::MetadataHashValue) -> t3::MetadataHashValue {
    t3::MetadataHashValue {
        lower: h.lower,
        upper: h.upper,
    }
}

pub(super) fn entry(e: t2::DirectoryEntry) -> t3::DirectoryEntry {
    t3::DirectoryEntry {
        type_: descriptor_type(e.type_),
        name: e.name,
    }
}
