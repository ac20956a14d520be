//! The faults in force on a disk (`fault/disk.rs` has their kinds) and the choices
//! they make, drawn from the disk's own fault stream; every effect is kept for the
//! trace until the world takes it.

use std::time::Duration;

use rand::RngExt;

use super::node::NodeId;
use crate::fault::{DiskEffect, DiskFault, DiskOp};
use crate::rng::SimRng;

/// Where a write ends up on the media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum WriteFate {
    #[default]
    Written,
    /// Never reaches the media.
    Lost,
    /// Reaches it one sector after where it was meant to go.
    Misdirected,
}

#[derive(Debug)]
pub(crate) struct DiskFaults {
    active: Vec<DiskFault>,
    rng: SimRng,
    /// Effects not yet traced, with the node each concerned.
    pub effects: Vec<(DiskEffect, NodeId)>,
}

impl DiskFaults {
    pub fn new(rng: SimRng) -> Self {
        DiskFaults {
            active: Vec::new(),
            rng,
            effects: Vec::new(),
        }
    }

    pub fn add(&mut self, fault: DiskFault) {
        self.active.push(fault);
    }

    pub fn heal(&mut self) {
        self.active.clear();
    }

    fn chance(&mut self, p: f64) -> bool {
        p >= 1.0 || (p > 0.0 && self.rng.random_bool(p))
    }

    /// Whether an operation of kind `op` on `path` fails with `io`.
    pub fn io_error(&mut self, op: DiskOp, path: &str, node: NodeId) -> bool {
        let hit: Vec<f64> = self
            .active
            .iter()
            .filter_map(|f| match f {
                DiskFault::IoError {
                    op: on,
                    path: prefix,
                    probability,
                } if on.covers(op) && prefix.as_deref().is_none_or(|p| under(path, p)) => {
                    Some(*probability)
                }
                _ => None,
            })
            .collect();
        let failed = hit.into_iter().any(|p| self.chance(p));
        if failed {
            self.effects.push((DiskEffect::IoError(op), node));
        }
        failed
    }

    pub fn full(&self) -> bool {
        self.active.contains(&DiskFault::Full)
    }

    pub fn extra_cost(&self) -> Duration {
        self.active
            .iter()
            .map(|f| match f {
                DiskFault::Slow { extra } => *extra,
                _ => Duration::ZERO,
            })
            .sum()
    }

    pub fn lying_sync(&mut self, node: NodeId) -> bool {
        let lying = self.active.contains(&DiskFault::LyingSync);
        if lying {
            self.effects.push((DiskEffect::LyingSync, node));
        }
        lying
    }

    /// Flip one bit of `data` if a corrupt-reads fault says so.
    pub fn corrupt(&mut self, data: &mut [u8], node: NodeId) {
        if data.is_empty() {
            return;
        }
        let p = self.probability(|f| match f {
            DiskFault::CorruptReads { probability } => Some(*probability),
            _ => None,
        });
        if self.chance(p) {
            let byte = self.rng.random_range(0..data.len());
            let bit = self.rng.random_range(0..8u32);
            data[byte] ^= 1 << bit;
            self.effects.push((DiskEffect::CorruptRead, node));
        }
    }

    /// Where a write about to be made ends up on the media.
    pub fn write_fate(&mut self, node: NodeId) -> WriteFate {
        let lost = self.probability(|f| match f {
            DiskFault::LostWrites { probability } => Some(*probability),
            _ => None,
        });
        if self.chance(lost) {
            self.effects.push((DiskEffect::LostWrite, node));
            return WriteFate::Lost;
        }
        let misdirected = self.probability(|f| match f {
            DiskFault::MisdirectedWrites { probability } => Some(*probability),
            _ => None,
        });
        if self.chance(misdirected) {
            self.effects.push((DiskEffect::MisdirectedWrite, node));
            return WriteFate::Misdirected;
        }
        WriteFate::Written
    }

    pub fn no_space(&mut self, node: NodeId) {
        self.effects.push((DiskEffect::NoSpace, node));
    }

    /// The highest probability among the faults `pick` takes.
    fn probability(&self, pick: impl Fn(&DiskFault) -> Option<f64>) -> f64 {
        self.active.iter().filter_map(pick).fold(0.0, f64::max)
    }
}

/// Whether `path` is `prefix` or lies beneath it.
fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}
