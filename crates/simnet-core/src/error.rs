//! Error codes of `wasi:sockets/network` and the stream errors of `wasi:io/streams`,
//! plus the errors of the native set-up API.

use std::fmt;

/// `wasi:sockets/network.error-code`, every case, in WIT order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    Unknown,
    AccessDenied,
    NotSupported,
    InvalidArgument,
    OutOfMemory,
    Timeout,
    ConcurrencyConflict,
    NotInProgress,
    WouldBlock,
    InvalidState,
    NewSocketLimit,
    AddressNotBindable,
    AddressInUse,
    RemoteUnreachable,
    ConnectionRefused,
    ConnectionReset,
    ConnectionAborted,
    DatagramTooLarge,
    NameUnresolvable,
    TemporaryResolverFailure,
    PermanentResolverFailure,
}

impl ErrorCode {
    /// All codes, in WIT order.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::Unknown,
        ErrorCode::AccessDenied,
        ErrorCode::NotSupported,
        ErrorCode::InvalidArgument,
        ErrorCode::OutOfMemory,
        ErrorCode::Timeout,
        ErrorCode::ConcurrencyConflict,
        ErrorCode::NotInProgress,
        ErrorCode::WouldBlock,
        ErrorCode::InvalidState,
        ErrorCode::NewSocketLimit,
        ErrorCode::AddressNotBindable,
        ErrorCode::AddressInUse,
        ErrorCode::RemoteUnreachable,
        ErrorCode::ConnectionRefused,
        ErrorCode::ConnectionReset,
        ErrorCode::ConnectionAborted,
        ErrorCode::DatagramTooLarge,
        ErrorCode::NameUnresolvable,
        ErrorCode::TemporaryResolverFailure,
        ErrorCode::PermanentResolverFailure,
    ];

    /// The WIT name of the case, e.g. `connection-refused`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unknown => "unknown",
            ErrorCode::AccessDenied => "access-denied",
            ErrorCode::NotSupported => "not-supported",
            ErrorCode::InvalidArgument => "invalid-argument",
            ErrorCode::OutOfMemory => "out-of-memory",
            ErrorCode::Timeout => "timeout",
            ErrorCode::ConcurrencyConflict => "concurrency-conflict",
            ErrorCode::NotInProgress => "not-in-progress",
            ErrorCode::WouldBlock => "would-block",
            ErrorCode::InvalidState => "invalid-state",
            ErrorCode::NewSocketLimit => "new-socket-limit",
            ErrorCode::AddressNotBindable => "address-not-bindable",
            ErrorCode::AddressInUse => "address-in-use",
            ErrorCode::RemoteUnreachable => "remote-unreachable",
            ErrorCode::ConnectionRefused => "connection-refused",
            ErrorCode::ConnectionReset => "connection-reset",
            ErrorCode::ConnectionAborted => "connection-aborted",
            ErrorCode::DatagramTooLarge => "datagram-too-large",
            ErrorCode::NameUnresolvable => "name-unresolvable",
            ErrorCode::TemporaryResolverFailure => "temporary-resolver-failure",
            ErrorCode::PermanentResolverFailure => "permanent-resolver-failure",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ErrorCode {}

/// The outcome of a failed stream operation, as `wasi:io/streams.stream-error` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// End of stream (reads) or the stream can no longer be written.
    Closed,
    /// The last operation failed; the stream is closed from now on.
    Failed(ErrorCode),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Closed => f.write_str("stream closed"),
            StreamError::Failed(code) => write!(f, "stream operation failed: {code}"),
        }
    }
}

impl std::error::Error for StreamError {}

/// Errors of the native set-up API (building the world, not socket calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetError {
    DuplicateHost(String),
    /// Not a name a host can have (see [`crate::host_name_problem`]).
    InvalidHostName(String),
    DuplicateAddress {
        addr: std::net::IpAddr,
        owner: String,
    },
    InvalidHostAddress(std::net::IpAddr),
    UnknownHost(String),
    InvalidLink(String),
    InvalidFault(String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::DuplicateHost(name) => write!(f, "a host named `{name}` already exists"),
            NetError::InvalidHostName(why) => f.write_str(why),
            NetError::DuplicateAddress { addr, owner } => {
                write!(f, "address {addr} already belongs to host `{owner}`")
            }
            NetError::InvalidFault(why) => write!(f, "invalid fault: {why}"),
            NetError::InvalidHostAddress(addr) => write!(
                f,
                "{addr} cannot be a host address (it must be unicast, specified and not loopback)"
            ),
            NetError::UnknownHost(name) => write!(f, "no host named `{name}`"),
            NetError::InvalidLink(why) => write!(f, "invalid link configuration: {why}"),
        }
    }
}

impl std::error::Error for NetError {}
