//! Faults that fire when something happens rather than at an instant: after a host's
//! Nth accepted connection or Nth write, or when one of its programs prints a line
//! matching a pattern ("crash the server right after it logs `committed`").
//!
//! Only a program's own calls move these conditions, so they are checked as each of
//! its host calls returns. A fault due at once applies there and then: a crash of the
//! program's own host stops it before it runs another instruction (it never sees the
//! result of the call that brought the crash). A fault with a delay goes on the
//! network's event queue like any other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use regex::Regex;
use simnet_core::{Fault, HostId, Net};

use crate::ids::GuestId;
use crate::output::{OutputCursor, OutputLog};

/// What makes a fault fire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// The host's listeners have handed this many connections to `accept` (1 or more).
    Accepts(u64),
    /// The host's programs have put bytes into a socket this many times (1 or more).
    Writes(u64),
    /// A program on the host printed a line (to stdout or stderr) matching this
    /// regular expression (`regex` crate syntax); a line counts once its newline is
    /// written.
    Output(String),
}

impl When {
    /// A line holding `text` as it is (no pattern syntax).
    pub fn line_containing(text: &str) -> When {
        When::Output(regex::escape(text))
    }

    /// Whether the condition is well-formed: a count from 1, a pattern that compiles
    /// and does not match every line.
    pub fn check(&self) -> Result<(), String> {
        self.condition().map(|_| ())
    }

    fn condition(&self) -> Result<Condition, String> {
        match self {
            When::Accepts(0) | When::Writes(0) => Err("a count trigger starts at 1".into()),
            When::Accepts(n) => Ok(Condition::Accepts(*n)),
            When::Writes(n) => Ok(Condition::Writes(*n)),
            When::Output(pattern) => {
                let re = Regex::new(pattern).map_err(|e| format!("bad pattern: {e}"))?;
                if re.is_match("") {
                    return Err(format!("the pattern {pattern:?} matches any line"));
                }
                Ok(Condition::Line(re, Vec::new()))
            }
        }
    }
}

/// A [`When`] ready to be checked.
#[derive(Debug)]
enum Condition {
    Accepts(u64),
    Writes(u64),
    /// The pattern, and per program how far its output was read.
    Line(Regex, Vec<LineReader>),
}

/// Splits a program's output into lines as it is written.
#[derive(Debug, Default)]
struct LineReader {
    cursor: OutputCursor,
    /// The unfinished line of each stream.
    partial: [Vec<u8>; 2],
}

impl LineReader {
    /// Whether a line finished since the last call matches `re`.
    fn any_new_line(&mut self, log: &OutputLog, re: &Regex) -> bool {
        let mut found = false;
        let partial = &mut self.partial;
        log.read_from(&mut self.cursor, |stream, bytes| {
            let line = &mut partial[stream as usize];
            for piece in bytes.split_inclusive(|&b| b == b'\n') {
                match piece.strip_suffix(b"\n") {
                    Some(end) => {
                        line.extend_from_slice(end);
                        found |= re.is_match(&String::from_utf8_lossy(line));
                        line.clear();
                    }
                    None => line.extend_from_slice(piece),
                }
            }
        });
        found
    }
}

/// The error a program's host call ends with when its own host crashed under it.
#[derive(Debug)]
pub(crate) struct HostWentDown;

impl std::fmt::Display for HostWentDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the program's host crashed")
    }
}

impl std::error::Error for HostWentDown {}

/// A fault waiting for its condition on `host`, then `delay` more.
#[derive(Debug)]
struct Pending {
    host: HostId,
    condition: Condition,
    delay: Duration,
    fault: Fault,
}

impl Pending {
    /// Whether the condition holds now, given the output of the program that just ran.
    fn holds(&mut self, net: &Net, guest: GuestId, log: &OutputLog) -> bool {
        let stats = net.host_stats(self.host);
        match &mut self.condition {
            Condition::Accepts(n) => stats.accepts >= *n,
            Condition::Writes(n) => stats.writes >= *n,
            Condition::Line(re, readers) => {
                let i = guest.index();
                if readers.len() <= i {
                    readers.resize_with(i + 1, LineReader::default);
                }
                readers[i].any_new_line(log, re)
            }
        }
    }
}

/// The faults of a simulation still waiting for their condition.
#[derive(Debug, Default)]
pub(crate) struct Triggers {
    pending: Vec<Pending>,
    /// Set once any trigger exists: until then programs' calls skip the check.
    armed: Arc<AtomicBool>,
}

impl Triggers {
    /// Refused when `when` is not well-formed (see [`When::check`]).
    pub fn add(
        &mut self,
        host: HostId,
        when: &When,
        delay: Duration,
        fault: Fault,
    ) -> Result<(), String> {
        self.pending.push(Pending {
            host,
            condition: when.condition()?,
            delay,
            fault,
        });
        self.armed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Shared with each program's call hook.
    pub fn armed(&self) -> Arc<AtomicBool> {
        self.armed.clone()
    }

    /// After a call by `guest` on `host`: fire the faults whose condition now holds,
    /// in the order they were added. True when `host` itself is now crashed.
    pub fn check(&mut self, net: &mut Net, host: HostId, guest: GuestId, log: &OutputLog) -> bool {
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if p.host != host || !p.holds(net, guest, log) {
                i += 1;
                continue;
            }
            let p = self.pending.remove(i);
            // Checked when it was added: applying cannot fail.
            let _ = if p.delay.is_zero() {
                net.apply_fault(&p.fault)
            } else {
                net.schedule_fault(net.now() + p.delay, p.fault)
            };
        }
        net.is_host_crashed(host)
    }

    /// Whether a restart of `host` still waits for its condition.
    pub fn restart_waiting(&self, host: HostId) -> bool {
        self.pending
            .iter()
            .any(|p| matches!(p.fault, Fault::Restart { host: h } if h == host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Stream;
    use simnet_core::SimTime;

    #[test]
    fn a_line_matches_once_its_newline_is_written_whatever_the_pieces() {
        let log = OutputLog::new(1 << 20);
        let re = Regex::new("^committed [0-9]+$").unwrap();
        let mut reader = LineReader::default();
        let mut write = |stream, text: &str| {
            log.push(SimTime::ZERO, 0, stream, text.as_bytes());
            reader.any_new_line(&log, &re)
        };
        assert!(!write(Stream::Stdout, "comm"));
        // Another stream's line in between does not join this one.
        assert!(!write(Stream::Stderr, "committed 1"));
        assert!(!write(Stream::Stdout, "itted 12"));
        assert!(write(Stream::Stdout, "\nnext"));
        assert!(!write(Stream::Stdout, "\n"));
        assert!(write(Stream::Stderr, "\n"));
        assert!(!write(Stream::Stdout, "committed x\ncommitted\n"));
    }

    #[test]
    fn patterns_are_checked() {
        assert!(When::Output("(".into()).check().is_err());
        assert!(When::Output("a|".into()).check().is_err());
        assert!(When::Accepts(0).check().is_err());
        assert!(When::Output("ok".into()).check().is_ok());
        assert_eq!(When::line_containing("a.b"), When::Output(r"a\.b".into()));
    }
}
