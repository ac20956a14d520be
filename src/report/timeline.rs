//! A run in words: each guest's output lines stamped with virtual time, the network
//! events worth a line, and the summary table.

use std::fmt::Write as _;

use simnet_core::{SimTime, TraceEvent};
use simnet_wasi::{Outcome, Report, Sim, Stream};

use crate::units::secs;
use crate::world::World;

/// One line of the timeline.
pub struct TimelineLine {
    pub at: SimTime,
    /// Its place among lines of the same instant: the n-th trace record is `2n + 1`;
    /// output written after n records is `2n`, so a cause prints before its effects.
    pub order: u64,
    pub who: String,
    pub text: String,
}

/// Sort timeline lines into the order things happened.
pub fn sort_timeline(lines: &mut [TimelineLine]) {
    lines.sort_by_key(|l| (l.at, l.order));
}

/// Every guest's output lines, in virtual-time order (ties keep host order).
pub fn guest_lines(sim: &Sim, report: &Report) -> Vec<TimelineLine> {
    let mut lines = Vec::new();
    for g in &report.guests {
        let Some(id) = sim.guest_id(&g.name) else {
            continue;
        };
        for l in sim.output(id).lines() {
            let who = match l.stream {
                Stream::Stdout => g.name.clone(),
                Stream::Stderr => format!("{} (stderr)", g.name),
            };
            lines.push(TimelineLine {
                at: l.at,
                order: 2 * l.seq,
                who,
                text: l.text,
            });
        }
    }
    sort_timeline(&mut lines);
    lines
}

/// Which network events become timeline lines.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NetworkDetail {
    /// Faults only (`simnet run`).
    Faults,
    /// Faults, connections established or failed, lost segments (the demo).
    Connections,
}

/// Network events as timeline lines.
pub fn network_lines(sim: &Sim, detail: NetworkDetail) -> Vec<TimelineLine> {
    sim.with_net(|net| {
        let name = |conn| {
            net.conn_endpoints(conn)
                .map(|(_, hosts)| {
                    format!("{} -> {}", net.host_name(hosts[0]), net.host_name(hosts[1]))
                })
                .unwrap_or_default()
        };
        let guests = sim.guest_names();
        net.trace()
            .records()
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let order = 2 * i as u64 + 1;
                let line = |who: String, text: String| TimelineLine {
                    at: r.time,
                    order,
                    who,
                    text,
                };
                match r.event {
                    TraceEvent::Process { process, event, .. } => {
                        let who = guests.get(process as usize).copied().unwrap_or("?");
                        return Some(line(who.to_string(), process_text(event)));
                    }
                    TraceEvent::ApiFault {
                        host,
                        method,
                        effect,
                        ..
                    } => {
                        let text = format!(
                            "fault: {}: {method} {}",
                            net.host_name(host),
                            effect_text(effect)
                        );
                        return Some(line("network".into(), text));
                    }
                    TraceEvent::Fault(_) => {}
                    _ if detail == NetworkDetail::Faults => return None,
                    _ => {}
                }
                let text = match r.event {
                    TraceEvent::Established {
                        conn,
                        side: simnet_core::Side::Client,
                    } => {
                        format!("connection {} established", name(conn))
                    }
                    TraceEvent::ConnectionFailed { conn, error, .. } => {
                        format!("connection {} failed: {}", name(conn), error.as_str())
                    }
                    TraceEvent::Fault(fault) => format!("fault: {}", fault.describe(net)),
                    TraceEvent::SegmentLost { seg } => {
                        let (addrs, hosts) = net.conn_endpoints(seg.conn)?;
                        let from = seg.from.index();
                        format!(
                            "segment lost {} -> {} ({} bytes, {}; {} -> {})",
                            net.host_name(hosts[from]),
                            net.host_name(hosts[1 - from]),
                            seg.len,
                            seg.flags,
                            addrs[from],
                            addrs[1 - from]
                        )
                    }
                    _ => return None,
                };
                Some(line("network".into(), text))
            })
            .collect()
    })
}

/// A program's start or end, as the timeline shows it.
fn process_text(event: simnet_core::ProcessEvent) -> String {
    use simnet_core::ProcessEvent as P;
    match event {
        P::Started { restarts: 0 } => "started".into(),
        P::Started { restarts } => format!("restarted (start {})", restarts + 1),
        P::Exited { code } => format!("exited with code {code}"),
        P::Trapped => "trapped".into(),
        P::LimitExceeded => "stopped at a limit".into(),
        P::Crashed => "went down with its host".into(),
    }
}

/// What an API fault did to a call, as the timeline and the trace show it.
pub fn effect_text(effect: simnet_core::Effect) -> String {
    match effect {
        simnet_core::Effect::Error(code) => format!("fails with {}", code.as_str()),
        simnet_core::Effect::FileError(code) => format!("fails with {}", code.as_str()),
        simnet_core::Effect::ShortRead => "returns one byte (short read)".into(),
        simnet_core::Effect::ShortWrite => "grants one byte (short write)".into(),
        simnet_core::Effect::Stall(d) => format!("stalls for {}", humantime::format_duration(d)),
    }
}

/// The lines as text, one per line: `[  1.000250s] who | text`.
pub fn render_timeline(lines: &[TimelineLine]) -> String {
    let width = lines.iter().map(|l| l.who.len()).max().unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        let _ = writeln!(
            out,
            "[{:>12}] {:<width$} | {}",
            secs(l.at),
            l.who,
            printable(&l.text)
        );
    }
    out
}

/// Guest text made safe for a terminal: control characters (carriage returns,
/// escape sequences that move the cursor or retitle the window) are shown escaped
/// instead of acting, so a guest cannot rewrite the timeline.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let is_control = |c: char| c != '\t' && (c.is_control());
    if !text.chars().any(is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            c if is_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The summary table; returns whether every guest met its expectation.
pub fn summary(sim: &Sim, world: &World, report: &Report) -> (String, bool) {
    let mut out = String::new();
    let mut all_met = true;
    let _ = writeln!(
        out,
        "{:<14} {:<10} {:<9} {:>4} {:>14} {:>12} {:>12}",
        "host", "result", "outcome", "exit", "end", "bytes sent", "bytes recv"
    );
    for g in &report.guests {
        let Some((_, plan)) = world.guests().find(|(_, p)| p.name == g.name) else {
            continue;
        };
        let met = plan.expect.met_by(&g.outcome);
        all_met &= met;
        let stats = sim
            .with_net(|net| net.host(&g.host).map(|h| net.host_stats(h)))
            .unwrap_or_default();
        let exit = g
            .outcome
            .exit_code()
            .map_or("-".to_string(), |c| c.to_string());
        let result = if met { "ok" } else { "FAIL" };
        let _ = writeln!(
            out,
            "{:<14} {:<10} {:<9} {:>4} {:>14} {:>12} {:>12}",
            g.name,
            result,
            outcome_word(&g.outcome),
            exit,
            secs(g.end),
            stats.bytes_written,
            stats.bytes_read
        );
        if !met {
            let _ = writeln!(
                out,
                "  {}: expected {}, got: {}",
                g.name, plan.expect, g.outcome
            );
            if let Outcome::Trapped {
                backtrace: Some(bt),
                ..
            } = &g.outcome
            {
                for l in bt.lines().take(12) {
                    let _ = writeln!(out, "    {l}");
                }
            }
        }
    }
    (out, all_met)
}

pub fn outcome_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Exited(_) => "exited",
        Outcome::Trapped { .. } => "trapped",
        Outcome::LimitExceeded { .. } => "limit",
        Outcome::Deadlocked { .. } => "deadlock",
        Outcome::Running { .. } => "running",
        Outcome::NotStarted => "not-start",
        Outcome::Crashed { .. } => "crashed",
    }
}

/// The (method, error) pairs guests met, if any: how much failure handling ran.
pub fn api_errors(report: &Report) -> String {
    if report.api_errors.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nerrors the guests met (method, result: natural + injected):\n");
    for c in &report.api_errors {
        let _ = writeln!(
            out,
            "  {:<18} {:<26} {} + {}",
            c.method.name(),
            c.result.name(),
            c.natural,
            c.injected
        );
    }
    out
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(printable("plain\ttext"), "plain\ttext");
        assert_eq!(printable("a\rb"), "a\\rb");
        assert_eq!(
            printable("\x1b[2K\x1b]0;title\x07"),
            "\\e[2K\\e]0;title\\u{7}"
        );
        assert_eq!(printable("\u{9b}x"), "\\u{9b}x");
    }
}

#[cfg(test)]
mod effect_tests {
    use super::effect_text;
    use simnet_core::Effect;
    use std::time::Duration;

    #[test]
    fn a_stall_shows_its_exact_length() {
        let stall = |d| effect_text(Effect::Stall(d));
        assert_eq!(stall(Duration::from_nanos(1)), "stalls for 1ns");
        assert_eq!(stall(Duration::from_millis(300)), "stalls for 300ms");
        assert_eq!(stall(Duration::from_millis(1500)), "stalls for 1s 500ms");
    }
}
