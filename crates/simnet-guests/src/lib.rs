//! simnet's own guest programs (sources in `tests/guests`), built for `wasm32-wasip2`
//! at build time and embedded, for tests, benchmarks and the built-in demo; and the
//! Python and Go guests, built on demand ([`python`], [`go`]).

pub mod go;
pub mod python;
mod tools;

/// An embedded guest component.
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    pub name: &'static str,
    pub bytes: &'static [u8],
    /// The component file it was embedded from (in the build's output directory).
    pub path: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The guest called `name`.
pub fn get(name: &str) -> Option<Guest> {
    ALL.iter().find(|g| g.name == name).copied()
}
