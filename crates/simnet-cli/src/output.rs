//! What the command prints on stdout. A stdout that cannot take it (a full disk,
//! `> /dev/full`) is not a reason to panic: the first failure is kept, printing stops,
//! and the command ends with an error saying so.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Print `args` on stdout, unless stdout already failed.
pub fn print(args: fmt::Arguments<'_>) {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_some() {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        *failed = Some(e);
    }
}

/// Flush stdout; the first error of the command's printing, if any.
pub fn finish() -> Result<(), String> {
    let flushed = std::io::stdout().lock().flush();
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    match failed.take().map_or(flushed, Err) {
        Ok(()) => Ok(()),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}
