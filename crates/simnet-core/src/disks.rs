//! Every host's disk in the world: set up with the host, mounted before its programs
//! start, and crashed with it (a crash of the host is a power failure for its disk).

use crate::disk::{Disk, DiskCrash, DiskImage, FsError, NodeId};
use crate::fault::{DiskFault, FaultEvent};
use crate::ids::HostId;
use crate::net::Net;
use crate::trace::TraceEvent;

impl Net {
    /// The disk of `host`.
    ///
    /// # Panics
    /// If `host` is not a host of this network.
    pub fn disk(&self, host: HostId) -> &Disk {
        &self.disks[host.index()]
    }

    /// The disk of `host`, to operate on.
    ///
    /// # Panics
    /// If `host` is not a host of this network.
    pub fn disk_mut(&mut self, host: HostId) -> &mut Disk {
        &mut self.disks[host.index()]
    }

    /// Put `image` on `host`'s disk at `guest_path` (see [`Disk::mount`]).
    pub fn mount(
        &mut self,
        host: HostId,
        guest_path: &str,
        image: &DiskImage,
        read_only: bool,
    ) -> Result<NodeId, FsError> {
        let disk = self.disks.get_mut(host.index()).ok_or(FsError::NoEntry)?;
        disk.mount(guest_path, image, read_only)
    }

    /// Every fault laid over a disk, in order (what `FaultEvent::DiskFaulted` names).
    pub fn disk_faults(&self) -> &[(HostId, DiskFault)] {
        &self.disk_faults
    }

    pub(crate) fn fault_disk(&mut self, host: HostId, fault: DiskFault) {
        let index = u32::try_from(self.disk_faults.len()).unwrap_or(u32::MAX);
        self.record(TraceEvent::Fault(FaultEvent::DiskFaulted {
            host,
            fault: index,
        }));
        if let Some(disk) = self.disks.get_mut(host.index()) {
            disk.add_fault(fault.clone());
        }
        self.disk_faults.push((host, fault));
    }

    pub(crate) fn heal_disk(&mut self, host: HostId) {
        self.record(TraceEvent::Fault(FaultEvent::DiskHealed { host }));
        if let Some(disk) = self.disks.get_mut(host.index()) {
            disk.heal_faults();
        }
    }

    /// Trace what the faults on `host`'s disk did to the operations since the last
    /// call (the layer running programs calls this after each disk operation).
    pub fn record_disk_effects(&mut self, host: HostId) {
        let Some(disk) = self.disks.get_mut(host.index()) else {
            return;
        };
        for (effect, node) in disk.take_effects() {
            self.record(TraceEvent::Fault(FaultEvent::DiskEffect {
                host,
                effect,
                node: node.raw(),
            }));
        }
    }

    /// Every crash that took something from a disk, in order.
    pub fn disk_crashes(&self) -> &[DiskCrash] {
        &self.disk_crashes
    }

    /// The host crashed: its disk loses its page cache. A loss is traced.
    pub(crate) fn crash_disk(&mut self, host: HostId) {
        let Some(disk) = self.disks.get_mut(host.index()) else {
            return;
        };
        let report = disk.crash(None);
        if !report.lost_anything() {
            return;
        }
        let crash = u32::try_from(self.disk_crashes.len()).unwrap_or(u32::MAX);
        self.record(TraceEvent::Fault(FaultEvent::DiskLost {
            host,
            crash,
            writes: u32::try_from(report.writes()).unwrap_or(u32::MAX),
            bytes: report.bytes(),
        }));
        self.disk_crashes.push(DiskCrash {
            at: self.now,
            host,
            report,
        });
    }
}
