//! TCP segments as they cross links. Sequence numbers are relative to the start of
//! the connection (SYN = 0, first data byte = 1) and 64 bits wide, so they never wrap;
//! a packet writer adds each side's initial sequence number.

use std::fmt;

use crate::ids::ConnId;

/// Bytes a segment occupies on the wire beyond its payload (IPv4 and TCP headers).
pub(crate) const TCP_HEADER_BYTES: u64 = 40;

/// TCP control flags.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    pub const SYN: Flags = Flags(0x02);
    pub const ACK: Flags = Flags(0x10);
    pub const FIN: Flags = Flags(0x01);
    pub const RST: Flags = Flags(0x04);
    pub const NONE: Flags = Flags(0);

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Flags::SYN, "SYN"),
            (Flags::FIN, "FIN"),
            (Flags::RST, "RST"),
            (Flags::ACK, "ACK"),
        ];
        let mut first = true;
        for (flag, name) in names {
            if self.contains(flag) && flag.0 != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// Which side of a connection: the one that called connect, or the one a listener accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Client = 0,
    Server = 1,
}

impl Side {
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// One segment in flight. Payload bytes are not copied into the segment: the sender
/// keeps every unacknowledged byte for retransmission anyway, so the receiver takes
/// them from there on arrival (the bytes a segment carries are `seq..seq+len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub conn: ConnId,
    /// The side that sent it.
    pub from: Side,
    pub flags: Flags,
    pub seq: u64,
    pub ack: u64,
    pub len: u32,
    /// Receive window the sender advertises, in bytes (window scaling is implied).
    pub window: u32,
}

impl Segment {
    /// Sequence space the segment occupies (SYN and FIN count one each).
    pub fn seq_len(&self) -> u64 {
        u64::from(self.len)
            + u64::from(self.flags.contains(Flags::SYN))
            + u64::from(self.flags.contains(Flags::FIN))
    }
}
