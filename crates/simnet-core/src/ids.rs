//! Handles into the world's tables. Ids are never reused within a simulation, so a
//! stale handle is always detected instead of silently naming a newer object.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) u32);

        impl $name {
            pub const fn index(self) -> usize {
                self.0 as usize
            }

            /// The raw number, stable for a given seed and sequence of calls.
            pub const fn raw(self) -> u32 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A simulated host.
    HostId,
    "h"
);
id_type!(
    /// A socket created through the API (what a guest holds a `tcp-socket` for).
    SocketId,
    "s"
);
id_type!(
    /// A TCP connection (both ends, from the first SYN until both ends are gone).
    ConnId,
    "c"
);
