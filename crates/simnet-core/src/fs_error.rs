//! The errors of disk operations: the codes `wasi:filesystem` gives a guest, named as
//! there, with the POSIX errno each stands for.

use std::fmt;

/// A filesystem error code (`wasi:filesystem/types.error-code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FsError {
    /// EACCES
    Access,
    /// EAGAIN
    WouldBlock,
    /// EBADF
    BadDescriptor,
    /// EBUSY
    Busy,
    /// EEXIST
    Exist,
    /// EFBIG
    FileTooLarge,
    /// EILSEQ
    IllegalByteSequence,
    /// EINVAL
    Invalid,
    /// EIO
    Io,
    /// EISDIR
    IsDirectory,
    /// ELOOP
    Loop,
    /// EMLINK
    TooManyLinks,
    /// ENAMETOOLONG
    NameTooLong,
    /// ENOENT
    NoEntry,
    /// ENOSPC
    InsufficientSpace,
    /// ENOTDIR
    NotDirectory,
    /// ENOTEMPTY
    NotEmpty,
    /// ENOTSUP
    Unsupported,
    /// EOVERFLOW
    Overflow,
    /// EPERM
    NotPermitted,
    /// EROFS
    ReadOnly,
    /// ESPIPE
    InvalidSeek,
    /// EXDEV
    CrossDevice,
}

impl FsError {
    pub const ALL: [FsError; 23] = [
        FsError::Access,
        FsError::WouldBlock,
        FsError::BadDescriptor,
        FsError::Busy,
        FsError::Exist,
        FsError::FileTooLarge,
        FsError::IllegalByteSequence,
        FsError::Invalid,
        FsError::Io,
        FsError::IsDirectory,
        FsError::Loop,
        FsError::TooManyLinks,
        FsError::NameTooLong,
        FsError::NoEntry,
        FsError::InsufficientSpace,
        FsError::NotDirectory,
        FsError::NotEmpty,
        FsError::Unsupported,
        FsError::Overflow,
        FsError::NotPermitted,
        FsError::ReadOnly,
        FsError::InvalidSeek,
        FsError::CrossDevice,
    ];

    /// The name in `wasi:filesystem` (`no-entry`, `insufficient-space`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FsError::Access => "access",
            FsError::WouldBlock => "would-block",
            FsError::BadDescriptor => "bad-descriptor",
            FsError::Busy => "busy",
            FsError::Exist => "exist",
            FsError::FileTooLarge => "file-too-large",
            FsError::IllegalByteSequence => "illegal-byte-sequence",
            FsError::Invalid => "invalid",
            FsError::Io => "io",
            FsError::IsDirectory => "is-directory",
            FsError::Loop => "loop",
            FsError::TooManyLinks => "too-many-links",
            FsError::NameTooLong => "name-too-long",
            FsError::NoEntry => "no-entry",
            FsError::InsufficientSpace => "insufficient-space",
            FsError::NotDirectory => "not-directory",
            FsError::NotEmpty => "not-empty",
            FsError::Unsupported => "unsupported",
            FsError::Overflow => "overflow",
            FsError::NotPermitted => "not-permitted",
            FsError::ReadOnly => "read-only",
            FsError::InvalidSeek => "invalid-seek",
            FsError::CrossDevice => "cross-device",
        }
    }

    pub fn from_name(name: &str) -> Option<FsError> {
        FsError::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for FsError {}
