//! A disk's settings: what its operations cost in virtual time, and its capacity.

use std::time::Duration;

use super::journal::CrashLoss;

/// How a disk performs. The defaults are a local SSD under a page cache: cached
/// reads and writes cost a system call and a memory copy; a sync waits for the
/// device to take the dirty bytes and flush its cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// Bytes the disk holds: a write past it fails with `insufficient-space`.
    pub capacity: u64,
    /// Any operation's fixed cost (a system call through the page cache).
    pub op_latency: Duration,
    /// Bytes per second a cached read or write moves (a memory copy).
    pub cache_bandwidth: u64,
    /// What a sync costs besides moving its bytes (the device's cache flush).
    pub sync_latency: Duration,
    /// Bytes per second the device writes when a sync flushes dirty data, and reads
    /// when a file not in the page cache (after a crash) is first read.
    pub device_bandwidth: u64,
    /// What reading a file not in the page cache costs besides its bytes.
    pub read_miss_latency: Duration,
    /// What a crash loses of what was never synced: always this, or (`None`) what
    /// the seed draws among all four losses.
    pub crash_loss: Option<CrashLoss>,
    /// Wall-clock time of virtual time zero, in time since the Unix epoch: the
    /// disk stamps files with it plus virtual time.
    pub epoch: Duration,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            capacity: 1 << 30,
            op_latency: Duration::from_micros(2),
            cache_bandwidth: 4 << 30,
            sync_latency: Duration::from_micros(500),
            device_bandwidth: 500_000_000,
            read_miss_latency: Duration::from_micros(100),
            crash_loss: None,
            // 2025-01-01T00:00:00Z, as the WASI host's wall clock starts.
            epoch: Duration::from_secs(1_735_689_600),
        }
    }
}

impl DiskConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.cache_bandwidth == 0 || self.device_bandwidth == 0 {
            return Err("a disk's bandwidths must be above zero".into());
        }
        Ok(())
    }

    /// Time to move `bytes` at `per_second`.
    pub(crate) fn transfer(bytes: u64, per_second: u64) -> Duration {
        let nanos = u128::from(bytes) * 1_000_000_000 / u128::from(per_second.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}
