//! What a test reads of the hosts' simulated disks: a file as guests see it now, or
//! as it is durable (what a crash that loses everything unsynced would leave), at
//! any point of a run.

use simnet_core::NetError;
use simnet_core::disk::{Disk, FsError};

use crate::sim::Sim;

/// Why a file could not be read from a host's disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskReadError {
    Host(NetError),
    File(FsError),
}

impl std::fmt::Display for DiskReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiskReadError::Host(e) => e.fmt(f),
            DiskReadError::File(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DiskReadError {}

impl Sim {
    /// Look at `host`'s disk (its name, as given to `add_host`).
    pub fn with_disk<R>(&self, host: &str, f: impl FnOnce(&Disk) -> R) -> Result<R, NetError> {
        let id = self.host(host)?;
        Ok(self.with_net(|net| f(net.disk(id))))
    }

    /// The bytes of the file at `path` on `host`'s disk as a guest reads them now
    /// (`path` as guests see it: `/data/log` under the mount `/data`).
    pub fn disk_file(&self, host: &str, path: &str) -> Result<Vec<u8>, DiskReadError> {
        self.read_disk(host, path, Disk::contents)
    }

    /// The bytes of the file at `path` on `host`'s disk that are durable: what is
    /// left of it after a crash that loses everything unsynced (if its directory
    /// entry is durable too).
    pub fn durable_disk_file(&self, host: &str, path: &str) -> Result<Vec<u8>, DiskReadError> {
        self.read_disk(host, path, Disk::durable_contents)
    }

    fn read_disk(
        &self,
        host: &str,
        path: &str,
        read: impl FnOnce(&Disk, simnet_core::disk::NodeId) -> Result<Vec<u8>, FsError>,
    ) -> Result<Vec<u8>, DiskReadError> {
        self.with_disk(host, |disk| {
            let node = disk.find(path).map_err(DiskReadError::File)?;
            read(disk, node).map_err(DiskReadError::File)
        })
        .map_err(DiskReadError::Host)?
    }
}
