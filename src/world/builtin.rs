//! Built-in guests (`builtin:NAME` in a scenario file): simnet's own programs (an echo
//! server and client, a probe, ...), embedded with the `builtin-guests` feature. The
//! `simnet` command has it; a test suite does without, and so does not build them.

/// A built-in guest: its name and its component's bytes.
pub(crate) struct Builtin {
    pub(crate) name: &'static str,
    pub(crate) bytes: &'static [u8],
}

/// The built-in guest `name`, or why there is none.
#[cfg(feature = "builtin-guests")]
pub(crate) fn find(name: &str) -> Result<Builtin, String> {
    match simnet_guests::get(name) {
        Some(g) => Ok(Builtin {
            name: g.name,
            bytes: g.bytes,
        }),
        None => {
            let names: Vec<&str> = simnet_guests::ALL.iter().map(|g| g.name).collect();
            Err(format!(
                "no built-in guest {name:?}; built-ins: {}",
                names.join(", ")
            ))
        }
    }
}

/// The built-in guest `name`, or why there is none.
#[cfg(not(feature = "builtin-guests"))]
pub(crate) fn find(name: &str) -> Result<Builtin, String> {
    Err(format!(
        "built-in guest {name:?}: built-in guests come with the simnet crate's \
         `builtin-guests` feature (the simnet command has it); name a component file instead"
    ))
}
