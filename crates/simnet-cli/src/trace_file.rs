//! `--trace FILE.jsonl`: one JSON object per event, network and guests together, in
//! virtual-time order.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use simnet_core::{Net, TraceEvent, TraceRecord};
use simnet_wasi::{Report, Sim, Stream};

fn conn_json(net: &Net, conn: simnet_core::ConnId, side: simnet_core::Side) -> Value {
    match net.conn_endpoints(conn) {
        Some((addrs, hosts)) => json!({
            "conn": conn.index(),
            "host": net.host_name(hosts[side.index()]),
            "local": addrs[side.index()].to_string(),
            "remote": addrs[1 - side.index()].to_string(),
        }),
        None => json!({ "conn": conn.index() }),
    }
}

fn segment_json(net: &Net, seg: &simnet_core::Segment) -> Value {
    let mut v = conn_json(net, seg.conn, seg.from);
    if let Value::Object(m) = &mut v {
        m.insert("flags".into(), json!(seg.flags.to_string()));
        m.insert("seq".into(), json!(seg.seq));
        m.insert("ack".into(), json!(seg.ack));
        m.insert("len".into(), json!(seg.len));
        m.insert("window".into(), json!(seg.window));
    }
    v
}

/// One network record as JSON.
pub fn record_json(net: &Net, r: &TraceRecord) -> Value {
    let t = r.time.as_nanos();
    let (kind, details) = match r.event {
        TraceEvent::SocketCreated {
            host,
            socket,
            family,
        } => (
            "socket_created",
            json!({ "host": net.host_name(host), "socket": socket.index(), "family": format!("{family:?}") }),
        ),
        TraceEvent::StateChanged { socket, from, to } => (
            "state_changed",
            json!({ "socket": socket.index(), "from": format!("{from:?}"), "to": format!("{to:?}") }),
        ),
        TraceEvent::SocketClosed { socket } => {
            ("socket_closed", json!({ "socket": socket.index() }))
        }
        TraceEvent::SegmentSent { seg, retransmit } => {
            let mut v = segment_json(net, &seg);
            v["retransmit"] = json!(retransmit);
            ("segment_sent", v)
        }
        TraceEvent::SegmentDelivered { seg } => ("segment_delivered", segment_json(net, &seg)),
        TraceEvent::SegmentLost { seg } => ("segment_lost", segment_json(net, &seg)),
        TraceEvent::SegmentDropped { seg, reason } => {
            let mut v = segment_json(net, &seg);
            v["reason"] = json!(format!("{reason:?}"));
            ("segment_dropped", v)
        }
        TraceEvent::TimerFired { conn, side, kind } => {
            let mut v = conn_json(net, conn, side);
            v["timer"] = json!(format!("{kind:?}"));
            ("timer_fired", v)
        }
        TraceEvent::Established { conn, side } => ("established", conn_json(net, conn, side)),
        TraceEvent::ConnectionFailed { conn, side, error } => {
            let mut v = conn_json(net, conn, side);
            v["error"] = json!(error.as_str());
            ("connection_failed", v)
        }
        TraceEvent::ConnectionFreed { conn } => {
            ("connection_freed", json!({ "conn": conn.index() }))
        }
        TraceEvent::Fault(fault) => ("fault", json!({ "fault": fault_text(net, &fault) })),
    };
    let mut v = json!({ "t_ns": t, "kind": kind });
    if let (Value::Object(m), Value::Object(d)) = (&mut v, details) {
        m.extend(d);
    }
    v
}

/// Write the trace into `file` (created before the run, so that a bad path is
/// reported at once); `path` names it in errors.
pub fn write(file: std::fs::File, path: &Path, sim: &Sim, report: &Report) -> Result<()> {
    let mut events: Vec<(u64, Value)> = sim.with_net(|net| {
        net.trace()
            .records()
            .iter()
            .map(|r| (r.time.as_nanos(), record_json(net, r)))
            .collect()
    });
    for g in &report.guests {
        let Some(id) = sim.guest_id(&g.name) else {
            continue;
        };
        for l in sim.output(id).lines() {
            let stream = if l.stream == Stream::Stdout {
                "stdout"
            } else {
                "stderr"
            };
            events.push((
                l.at.as_nanos(),
                json!({ "t_ns": l.at.as_nanos(), "kind": "output", "host": g.name, "stream": stream, "text": l.text }),
            ));
        }
        events.push((
            g.end.as_nanos(),
            json!({ "t_ns": g.end.as_nanos(), "kind": "guest_end", "host": g.name, "outcome": g.outcome.to_string(), "exit_code": g.outcome.exit_code() }),
        ));
    }
    // Stable: records at the same time keep their order (network first).
    events.sort_by_key(|(t, _)| *t);
    let mut w = std::io::BufWriter::new(file);
    for (_, v) in events {
        serde_json::to_writer(&mut w, &v)
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.write_all(b"\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A fault in words, with host names.
pub fn fault_text(net: &Net, fault: &simnet_core::FaultEvent) -> String {
    use simnet_core::FaultEvent as F;
    let n = |h| net.host_name(h).to_string();
    match *fault {
        F::Partitioned { from, to } => format!("partition {} -> {}", n(from), n(to)),
        F::Healed { from, to } => format!("heal {} -> {}", n(from), n(to)),
        F::Clogged { from, to } => format!("clog {} -> {}", n(from), n(to)),
        F::Released { from, to, segments } => {
            format!(
                "release {} -> {} ({segments} held segments)",
                n(from),
                n(to)
            )
        }
        F::LinkChanged { a, b } => format!("link {} <-> {} changed", n(a), n(b)),
        F::HostCrashed { host, mode } => {
            let how = match mode {
                simnet_core::CrashMode::Reset => "reset",
                simnet_core::CrashMode::Silent => "silent",
            };
            format!("{} crashed ({how})", n(host))
        }
        F::HostRestarted { host } => format!("{} restarted", n(host)),
        F::ConnectionReset { conn } => match net.conn_endpoints(conn) {
            Some((_, hosts)) => format!("connection {} -> {} reset", n(hosts[0]), n(hosts[1])),
            None => format!("connection {} reset", conn.index()),
        },
    }
}
