//! `--pcap FILE.pcap`: every segment the simulation sent, as raw IPv4/IPv6 + TCP
//! packets (link type RAW) with real checksums, timestamped with virtual time, so
//! Wireshark and tshark can open the file and follow the streams.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use simnet_core::{CapturedSegment, Fate, Flags};

/// The packet bytes of one captured segment.
pub fn packet(c: &CapturedSegment) -> Result<Vec<u8>> {
    let builder = match (c.src, c.dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            PacketBuilder::ipv4(s.ip().octets(), d.ip().octets(), 64)
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            PacketBuilder::ipv6(s.ip().octets(), d.ip().octets(), 64)
        }
        _ => {
            return Err(anyhow!(
                "segment between address families: {} -> {}",
                c.src,
                c.dst
            ));
        }
    };
    let seg = &c.seg;
    // Window scaling is not negotiated in the capture: advertise at most 65535.
    let window = seg.window.min(u32::from(u16::MAX)) as u16;
    let mut tcp = builder.tcp(c.src.port(), c.dst.port(), seg.seq as u32, window);
    if seg.flags.contains(Flags::SYN) {
        tcp = tcp.syn();
    }
    if seg.flags.contains(Flags::FIN) {
        tcp = tcp.fin();
    }
    if seg.flags.contains(Flags::RST) {
        tcp = tcp.rst();
    }
    if seg.flags.contains(Flags::ACK) {
        tcp = tcp.ack(seg.ack as u32);
    }
    if !c.payload.is_empty() {
        tcp = tcp.psh();
    }
    let mut out = Vec::with_capacity(tcp.size(c.payload.len()));
    tcp.write(&mut out, &c.payload)
        .map_err(|e| anyhow!("cannot encode a segment: {e}"))?;
    Ok(out)
}

/// Write the capture into `file` (created before the run, so that a bad path is
/// reported at once); `path` names it in errors.
pub fn write(file: std::fs::File, path: &Path, captured: &[CapturedSegment]) -> Result<()> {
    let header = PcapHeader {
        datalink: DataLink::RAW,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(std::io::BufWriter::new(file), header)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // Only what arrived: a segment lost on the link or dropped on arrival never
    // reached its host, and a capture must not show it as if it had (the JSON trace
    // lists those, with the reason).
    for c in captured
        .iter()
        .filter(|c| c.fate != Fate::Lost && !matches!(c.fate, Fate::Dropped(_)))
    {
        let data = packet(c)?;
        // Timestamps on the guests' wall clock: its epoch plus virtual time.
        let ts = simnet_wasi::DEFAULT_EPOCH + std::time::Duration::from_nanos(c.time.as_nanos());
        writer
            .write_packet(&PcapPacket::new(ts, data.len() as u32, &data))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    writer
        .into_writer()
        .flush()
        .with_context(|| format!("cannot write {}", path.display()))
}
