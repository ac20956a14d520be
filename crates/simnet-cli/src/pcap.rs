//! `--pcap FILE.pcap`: every packet that reached a host, as raw IPv4/IPv6 packets
//! (TCP, UDP, and ICMP port-unreachable; link type RAW) with real checksums,
//! timestamped with virtual time, so Wireshark and tshark can open the file and
//! follow the streams.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::icmpv6::DestUnreachableCode;
use etherparse::{Icmpv4Type, Icmpv6Type, IpHeaders, PacketBuilder, PacketBuilderStep};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use simnet_core::{CapturedPacket, DatagramKind, Fate, Flags, Segment, Transport};

/// IP headers for a packet from `src` to `dst`.
fn ip(src: SocketAddr, dst: SocketAddr) -> Result<PacketBuilderStep<IpHeaders>> {
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            Ok(PacketBuilder::ipv4(s.ip().octets(), d.ip().octets(), 64))
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            Ok(PacketBuilder::ipv6(s.ip().octets(), d.ip().octets(), 64))
        }
        _ => Err(anyhow!("packet between address families: {src} -> {dst}")),
    }
}

/// The packet bytes of one captured packet.
pub fn packet(c: &CapturedPacket) -> Result<Vec<u8>> {
    match &c.transport {
        Transport::Tcp { seg, .. } => tcp_packet(c, seg),
        Transport::Udp(header) => match header.kind {
            DatagramKind::Data => udp_packet(c.src, c.dst, &c.payload),
            DatagramKind::PortUnreachable => port_unreachable(c, header.src, header.dst),
        },
    }
}

fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Result<Vec<u8>> {
    let udp = ip(src, dst)?.udp(src.port(), dst.port());
    let mut out = Vec::with_capacity(udp.size(payload.len()));
    udp.write(&mut out, payload)
        .map_err(|e| anyhow!("cannot encode a datagram: {e}"))?;
    Ok(out)
}

fn tcp_packet(c: &CapturedPacket, seg: &Segment) -> Result<Vec<u8>> {
    // Window scaling is not negotiated in the capture: advertise at most 65535.
    let window = seg.window.min(u32::from(u16::MAX)) as u16;
    let mut tcp = ip(c.src, c.dst)?.tcp(c.src.port(), c.dst.port(), seg.seq as u32, window);
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

/// An ICMP port-unreachable from the unreachable address back to the sender,
/// quoting the original datagram's IP and UDP headers, as a kernel does.
fn port_unreachable(
    c: &CapturedPacket,
    sender: SocketAddr,
    unreachable: SocketAddr,
) -> Result<Vec<u8>> {
    let original = udp_packet(sender, unreachable, &[])?;
    let builder = ip(c.src, c.dst)?;
    let mut out = Vec::new();
    let written = if c.src.is_ipv4() {
        let kind = Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port);
        builder.icmpv4(kind).write(&mut out, &original)
    } else {
        let kind = Icmpv6Type::DestinationUnreachable(DestUnreachableCode::Port);
        builder.icmpv6(kind).write(&mut out, &original)
    };
    written.map_err(|e| anyhow!("cannot encode an ICMP message: {e}"))?;
    Ok(out)
}

/// Whether a packet reached its host's interface: lost packets and packets a fault
/// or the network dropped did not (the JSON trace lists those, with the reason); a
/// datagram dropped for want of a socket or buffer space did arrive and is shown.
fn reached_host(c: &CapturedPacket) -> bool {
    match c.fate {
        Fate::Lost => false,
        Fate::Dropped(reason) => {
            matches!(c.transport, Transport::Udp(_))
                && matches!(
                    reason,
                    simnet_core::DropReason::NoSocket | simnet_core::DropReason::ReceiveBufferFull
                )
        }
        Fate::InFlight | Fate::Delivered => true,
    }
}

/// Write the capture into `file` (created before the run, so that a bad path is
/// reported at once); `path` names it in errors.
pub fn write(file: std::fs::File, path: &Path, captured: &[CapturedPacket]) -> Result<()> {
    let header = PcapHeader {
        datalink: DataLink::RAW,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(std::io::BufWriter::new(file), header)
        .with_context(|| format!("cannot write {}", path.display()))?;
    for c in captured.iter().filter(|c| reached_host(c)) {
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
