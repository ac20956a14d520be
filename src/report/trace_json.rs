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

fn process_json(event: simnet_core::ProcessEvent) -> Value {
    use simnet_core::ProcessEvent as P;
    match event {
        P::Started { restarts } => json!({ "started": { "restarts": restarts } }),
        P::Exited { code } => json!({ "exited": { "code": code } }),
        P::Trapped => json!("trapped"),
        P::LimitExceeded => json!("limit_exceeded"),
        P::Crashed => json!("crashed"),
    }
}

/// A fault record: its words, and the host (or hosts) it concerns.
fn fault_json(net: &Net, fault: &simnet_core::FaultEvent) -> Value {
    let hosts: Vec<&str> = fault
        .hosts(net)
        .into_iter()
        .map(|h| net.host_name(h))
        .collect();
    json!({ "host": hosts.first().copied(), "hosts": hosts, "fault": fault.describe(net) })
}

/// A datagram (or ICMP message) with its hosts' names.
fn datagram_json(net: &Net, id: simnet_core::DatagramId) -> Value {
    let Some(d) = net.trace().datagram(id) else {
        return json!({ "id": id.0 });
    };
    let kind = match d.kind {
        simnet_core::DatagramKind::Data => "data",
        simnet_core::DatagramKind::PortUnreachable => "icmp_port_unreachable",
    };
    json!({
        "host": net.host_name(d.from),
        "id": d.id.0,
        "type": kind,
        "from": net.host_name(d.from),
        "to": net.host_name(d.to),
        "src": d.src.to_string(),
        "dst": d.dst.to_string(),
        "len": d.len,
    })
}

/// A socket's host, for records that name only the socket.
fn socket_json(net: &Net, socket: simnet_core::SocketId) -> Value {
    json!({ "socket": socket.index(), "host": net.socket_host_ever(socket).map(|h| net.host_name(h)) })
}

/// A new socket: its host, number and family.
fn created_json(
    net: &Net,
    host: simnet_core::HostId,
    socket: simnet_core::SocketId,
    family: simnet_core::Family,
) -> Value {
    json!({ "host": net.host_name(host), "socket": socket.index(), "family": format!("{family:?}") })
}

/// One network record as JSON; `guests` names the processes by number.
pub fn record_json(net: &Net, guests: &[&str], r: &TraceRecord) -> Value {
    let t = r.time.as_nanos();
    let (kind, details) = match r.event {
        TraceEvent::SocketCreated {
            host,
            socket,
            family,
        } => ("socket_created", created_json(net, host, socket, family)),
        TraceEvent::StateChanged { socket, from, to } => {
            let mut v = socket_json(net, socket);
            v["from"] = json!(format!("{from:?}"));
            v["to"] = json!(format!("{to:?}"));
            ("state_changed", v)
        }
        TraceEvent::SocketClosed { socket } => ("socket_closed", socket_json(net, socket)),
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
        TraceEvent::ConnectionFreed { conn } => (
            "connection_freed",
            conn_json(net, conn, simnet_core::Side::Client),
        ),
        TraceEvent::Fault(fault) => ("fault", fault_json(net, &fault)),
        TraceEvent::ApiFault {
            host,
            socket,
            method,
            effect,
        } => (
            "api_fault",
            json!({
                "host": net.host_name(host),
                "socket": socket.map(|s| s.index()),
                "method": method.name(),
                "effect": crate::report::effect_text(effect),
            }),
        ),
        TraceEvent::UdpSocketCreated {
            host,
            socket,
            family,
        } => (
            "udp_socket_created",
            created_json(net, host, socket, family),
        ),
        TraceEvent::UdpBound { socket, local } => {
            let mut v = socket_json(net, socket);
            v["local"] = json!(local.to_string());
            ("udp_bound", v)
        }
        TraceEvent::UdpConnected { socket, remote } => {
            let mut v = socket_json(net, socket);
            v["remote"] = json!(remote.map(|r| r.to_string()));
            ("udp_connected", v)
        }
        TraceEvent::DatagramSent { dgram } => ("datagram_sent", datagram_json(net, dgram)),
        TraceEvent::DatagramDelivered { dgram } => {
            ("datagram_delivered", datagram_json(net, dgram))
        }
        TraceEvent::DatagramLost { dgram } => ("datagram_lost", datagram_json(net, dgram)),
        TraceEvent::DatagramDropped { dgram, reason } => {
            let mut v = datagram_json(net, dgram);
            v["reason"] = json!(format!("{reason:?}"));
            ("datagram_dropped", v)
        }
        TraceEvent::Process {
            host,
            process,
            event,
        } => (
            "process",
            json!({
                "host": net.host_name(host),
                "process": guests.get(process as usize).copied().unwrap_or("?"),
                "event": process_json(event),
            }),
        ),
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
    let guests = sim.guest_names();
    // Ordered as the timeline is: by time, then by place in the trace (output written
    // after n records sorts between record n - 1 and record n).
    let mut events: Vec<(u64, u64, Value)> = sim.with_net(|net| {
        net.trace()
            .records()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.time.as_nanos(),
                    2 * i as u64 + 1,
                    record_json(net, &guests, r),
                )
            })
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
                2 * l.seq,
                json!({ "t_ns": l.at.as_nanos(), "kind": "output", "host": g.host, "process": g.name, "stream": stream, "text": l.text }),
            ));
        }
        events.push((
            g.end.as_nanos(),
            u64::MAX,
            json!({ "t_ns": g.end.as_nanos(), "kind": "guest_end", "host": g.host, "process": g.name, "outcome": g.outcome.to_string(), "exit_code": g.outcome.exit_code() }),
        ));
    }
    events.sort_by_key(|(t, order, _)| (*t, *order));
    let mut w = std::io::BufWriter::new(file);
    for (_, _, v) in events {
        serde_json::to_writer(&mut w, &v)
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.write_all(b"\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}
