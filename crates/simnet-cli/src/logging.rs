//! `RUST_LOG`-style logging through `tracing`, each line stamped with the virtual time
//! of the simulation running on this thread.

use std::cell::RefCell;

use simnet_wasi::VirtualClock;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

thread_local! {
    static CLOCK: RefCell<Option<VirtualClock>> = const { RefCell::new(None) };
}

/// Stamp this thread's log lines with `clock` from now on.
pub fn set_clock(clock: VirtualClock) {
    CLOCK.with(|c| *c.borrow_mut() = Some(clock));
}

struct VirtualTime;

impl FormatTime for VirtualTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        CLOCK.with(|c| match &*c.borrow() {
            Some(clock) => write!(w, "{:>12}", simnet::units::secs(clock.now())),
            None => write!(w, "{:>12}", "-"),
        })
    }
}

/// Log to stderr at the level `RUST_LOG` asks for (default: warnings).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(VirtualTime)
        .with_writer(std::io::stderr)
        .try_init();
}
