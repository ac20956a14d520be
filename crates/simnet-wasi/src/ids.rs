//! Identifiers of the WASI layer.

/// Index of a guest in its simulation, in the order guests were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestId(pub(crate) usize);

impl GuestId {
    pub fn index(self) -> usize {
        self.0
    }
}
