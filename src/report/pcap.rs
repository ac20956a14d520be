//! `--pcap FILE.pcap`: every packet that reached a host, as raw IPv4/IPv6 packets
//! (TCP, UDP, and ICMP port-unreachable; link type RAW) with real checksums,
//! timestamped with virtual time, so Wireshark and tshark can open the file and
//! follow the streams.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::icmpv6::DestUnreachableCode;
use etherparse::{Icmpv4Type, Icmpv6Type, IpHeaders, PacketBuilder, PacketBuilderStep};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use simnet_core::{CaptureSink, CapturedPacket, DatagramKind, Fate, Flags, Segment, Transport};

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

/// An ICMP port-unreachable from the unreachable address back to the sender, quoting
/// the original datagram (its IP and UDP headers, with their lengths and checksum,
/// and its first bytes) as Linux does: as much as keeps the answer within 576 bytes
/// for ICMP (RFC 1812), 1280 for ICMPv6 (RFC 4443).
fn port_unreachable(
    c: &CapturedPacket,
    sender: SocketAddr,
    unreachable: SocketAddr,
) -> Result<Vec<u8>> {
    let mut original = udp_packet(sender, unreachable, &c.payload)?;
    let builder = ip(c.src, c.dst)?;
    let mut out = Vec::new();
    let written = if c.src.is_ipv4() {
        original.truncate(576 - 20 - 8);
        let kind = Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port);
        builder.icmpv4(kind).write(&mut out, &original)
    } else {
        original.truncate(1280 - 40 - 8);
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

/// The largest packet a capture holds whole: an IPv6 UDP datagram of the largest
/// payload (65,527 bytes) with its headers, under tcpdump's default snapshot length.
const SNAPSHOT_LENGTH: u32 = 262_144;

/// A pcap file written as the run goes: each packet once its fate is known
/// ([`simnet_core::Net::stream_capture`]), so that memory holds only the packets
/// still travelling. The first error is kept and reported by [`PcapStream::finish`];
/// packets after it are not written.
pub struct PcapStream {
    writer: PcapWriter<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    error: Option<anyhow::Error>,
}

impl PcapStream {
    /// Start the file at `path` (created before the run, so that a bad path is
    /// reported at once).
    pub fn create(path: &Path) -> Result<PcapStream> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let header = PcapHeader {
            datalink: DataLink::RAW,
            snaplen: SNAPSHOT_LENGTH,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(std::io::BufWriter::new(file), header)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(PcapStream {
            writer,
            path: path.to_path_buf(),
            error: None,
        })
    }

    /// A capture sink writing into the shared stream.
    pub fn sink(stream: Arc<Mutex<PcapStream>>) -> CaptureSink {
        Box::new(move |packet| {
            if let Ok(mut stream) = stream.lock() {
                stream.packet(packet);
            }
        })
    }

    /// Write one packet, if it reached its host.
    pub fn packet(&mut self, c: &CapturedPacket) {
        if self.error.is_some() || !reached_host(c) {
            return;
        }
        if let Err(e) = self.write(c) {
            self.error = Some(e);
        }
    }

    fn write(&mut self, c: &CapturedPacket) -> Result<()> {
        let data = packet(c)?;
        // Timestamps on the guests' wall clock: its epoch plus virtual time.
        let ts = simnet_wasi::DEFAULT_EPOCH + std::time::Duration::from_nanos(c.time.as_nanos());
        let len = u32::try_from(data.len()).context("a packet over 4 GiB")?;
        self.writer.write_packet(&PcapPacket::new(ts, len, &data))?;
        Ok(())
    }

    /// Flush the file; the first error met while writing, if any.
    pub fn finish(mut self) -> Result<()> {
        let context = || format!("cannot write {}", self.path.display());
        if let Some(e) = self.error.take() {
            return Err(e).with_context(context);
        }
        self.writer.into_writer().flush().with_context(context)
    }
}
