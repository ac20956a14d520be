//! A driver for random operation sequences over several hosts and connections, with
//! the delivery invariants checked as it goes. The property tests and the fuzzer both
//! run it: proptest generates [`Op`]s directly, the fuzzer decodes them from bytes.
//!
//! Invariants: every byte a socket reads is the next byte its peer wrote (nothing
//! lost, duplicated or reordered, so a reset connection delivers a prefix); once the
//! network is idle, every direction of a connection that did not fail and whose reader
//! is still open has delivered every written byte, followed by end-of-stream if the
//! writer shut down; no call panics.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::error::StreamError;
use crate::ids::{ConnId, HostId, SocketId};
use crate::link::{Latency, LinkConfig};
use crate::net::{Net, NetConfig};
use crate::segment::Side;
use crate::socket::{Family, ShutdownType};
use crate::trace::TraceEvent;

/// Hosts in every run; each listens on [`PORT`].
pub const HOSTS: u8 = 3;
pub const PORT: u16 = 80;

/// One step of a workload. Indices wrap around what exists.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Connect {
        from: u8,
        to: u8,
    },
    Accept {
        host: u8,
    },
    Write {
        conn: u8,
        side: Side,
        len: u16,
    },
    Read {
        conn: u8,
        side: Side,
        max: u16,
    },
    Shutdown {
        conn: u8,
        side: Side,
    },
    Close {
        conn: u8,
        side: Side,
    },
    SetReceiveBuffer {
        conn: u8,
        side: Side,
        size: u32,
    },
    Run {
        micros: u32,
    },
    SetLink {
        a: u8,
        b: u8,
        latency_us: u16,
        jitter_us: u16,
        loss_permille: u16,
    },
}

impl Op {
    /// Decode a byte string into operations (for fuzzers): 4 bytes per op.
    pub fn decode(bytes: &[u8]) -> Vec<Op> {
        bytes
            .chunks_exact(4)
            .map(|c| {
                let side = if c[1] & 1 == 0 {
                    Side::Client
                } else {
                    Side::Server
                };
                let word = u16::from_le_bytes([c[2], c[3]]);
                match c[0] % 9 {
                    0 => Op::Connect {
                        from: c[1],
                        to: c[2],
                    },
                    1 => Op::Accept { host: c[1] },
                    2 => Op::Write {
                        conn: c[1] >> 1,
                        side,
                        len: word,
                    },
                    3 => Op::Read {
                        conn: c[1] >> 1,
                        side,
                        max: word,
                    },
                    4 => Op::Shutdown {
                        conn: c[1] >> 1,
                        side,
                    },
                    5 => Op::Close {
                        conn: c[1] >> 1,
                        side,
                    },
                    6 => Op::SetReceiveBuffer {
                        conn: c[1] >> 1,
                        side,
                        size: u32::from(word) * 64,
                    },
                    7 => Op::Run {
                        micros: u32::from(word) * 100,
                    },
                    _ => Op::SetLink {
                        a: c[1],
                        b: c[1] >> 4,
                        latency_us: u16::from(c[2]) * 100,
                        jitter_us: u16::from(c[3] & 0x0f) * 200,
                        loss_permille: u16::from(c[3] >> 4) * 20,
                    },
                }
            })
            .collect()
    }
}

/// The byte at `offset` of what `side` writes on connection `conn`: position-dependent,
/// so a lost, duplicated or reordered byte is detected.
fn pattern(conn: usize, side: Side, offset: u64) -> u8 {
    let x = (conn as u64).wrapping_mul(0x9e37_79b9)
        ^ ((side as u64) << 40)
        ^ offset.wrapping_mul(0x2545_f491);
    (x ^ (x >> 13) ^ (x >> 29)) as u8
}

#[derive(Debug, Default)]
struct Tracked {
    sockets: [Option<SocketId>; 2],
    conn: Option<ConnId>,
    written: [u64; 2],
    read: [u64; 2],
    eof: [bool; 2],
    shut_send: [bool; 2],
    reader_gone: [bool; 2],
    failed: bool,
}

/// What a run did, for tests that want to see it made progress.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub connections: usize,
    pub established: usize,
    pub failed: usize,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub trace_hash: u64,
}

/// Runs [`Op`]s on a fresh network and checks the invariants.
pub struct OpRunner {
    net: Net,
    hosts: Vec<HostId>,
    listeners: Vec<SocketId>,
    conns: Vec<Tracked>,
    buf: Vec<u8>,
}

impl OpRunner {
    pub fn new(seed: u64, config: NetConfig) -> Self {
        let mut net = Net::with_config(seed, config);
        let mut hosts = Vec::new();
        let mut listeners = Vec::new();
        for i in 0..HOSTS {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i + 1));
            let h = net.add_host(&format!("h{i}"), &[ip]).expect("fresh host");
            let l = net
                .create_tcp_socket(h, Family::Ipv4)
                .expect("socket limit not reached");
            net.bind(l, SocketAddr::new(ip, PORT)).expect("port free");
            net.listen(l).expect("bound");
            hosts.push(h);
            listeners.push(l);
        }
        OpRunner {
            net,
            hosts,
            listeners,
            conns: Vec::new(),
            buf: vec![0; 1 << 16],
        }
    }

    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Run the operations, then let the network settle, checking every invariant.
    pub fn run(&mut self, ops: &[Op]) -> Result<Summary, String> {
        for op in ops {
            self.apply(op)?;
        }
        self.settle()?;
        self.check_complete()?;
        Ok(self.summary())
    }

    fn pick(&self, conn: u8) -> Option<usize> {
        (!self.conns.is_empty()).then(|| usize::from(conn) % self.conns.len())
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Connect { from, to } => self.connect(from, to),
            Op::Accept { host } => {
                self.accept_all(usize::from(host) % self.hosts.len());
            }
            Op::Write { conn, side, len } => {
                if let Some(i) = self.pick(conn) {
                    self.write(i, side, usize::from(len));
                }
            }
            Op::Read { conn, side, max } => {
                if let Some(i) = self.pick(conn) {
                    self.read(i, side, usize::from(max))?;
                }
            }
            Op::Shutdown { conn, side } => {
                if let Some(i) = self.pick(conn)
                    && let Some(s) = self.conns[i].sockets[side.index()]
                    && self.net.shutdown(s, ShutdownType::Send).is_ok()
                {
                    self.conns[i].shut_send[side.index()] = true;
                }
            }
            Op::Close { conn, side } => {
                if let Some(i) = self.pick(conn)
                    && let Some(s) = self.conns[i].sockets[side.index()].take()
                {
                    // Closing with unread data resets the connection (by design).
                    if self.net.readable_bytes(s) > 0 {
                        self.conns[i].failed = true;
                    }
                    self.conns[i].reader_gone[side.index()] = true;
                    self.conns[i].shut_send[side.index()] = true;
                    self.net
                        .close(s)
                        .map_err(|e| format!("close failed: {e}"))?;
                }
            }
            Op::SetReceiveBuffer { conn, side, size } => {
                if let Some(i) = self.pick(conn)
                    && let Some(s) = self.conns[i].sockets[side.index()]
                {
                    let _ = self.net.set_receive_buffer_size(s, u64::from(size));
                }
            }
            Op::Run { micros } => {
                self.net.run_for(Duration::from_micros(u64::from(micros)));
                self.poll_connects();
            }
            Op::SetLink {
                a,
                b,
                latency_us,
                jitter_us,
                loss_permille,
            } => {
                let (a, b) = (
                    usize::from(a) % self.hosts.len(),
                    usize::from(b) % self.hosts.len(),
                );
                if a != b {
                    let config = LinkConfig {
                        latency: Latency::Fixed(Duration::from_micros(u64::from(latency_us))),
                        jitter: Duration::from_micros(u64::from(jitter_us)),
                        loss: f64::from(loss_permille.min(1000)) / 1000.0,
                        bandwidth: None,
                        duplicate: 0.0,
                    };
                    self.net
                        .set_link(self.hosts[a], self.hosts[b], config)
                        .map_err(|e| format!("set_link: {e}"))?;
                }
            }
        }
        Ok(())
    }

    fn connect(&mut self, from: u8, to: u8) {
        let from = self.hosts[usize::from(from) % self.hosts.len()];
        let to = usize::from(to) % self.hosts.len();
        let Ok(s) = self.net.create_tcp_socket(from, Family::Ipv4) else {
            return;
        };
        let dst = SocketAddr::new(self.net.host_addrs(self.hosts[to])[0], PORT);
        if self.net.begin_connect(s, dst).is_ok() {
            let conn = self.net.socket_conn(s);
            self.conns.push(Tracked {
                sockets: [Some(s), None],
                conn,
                ..Default::default()
            });
        }
    }

    /// Finish connects that have an answer; failed ones count as failed connections.
    fn poll_connects(&mut self) {
        for t in &mut self.conns {
            let Some(s) = t.sockets[0] else { continue };
            if self.net.state(s) == Ok(crate::TcpState::Connecting)
                && let Some(Err(_)) = self.net.connect_outcome(s)
            {
                t.failed = true;
            }
        }
    }

    fn accept_all(&mut self, host: usize) {
        while let Ok((s, _peer)) = self.net.accept(self.listeners[host]) {
            let conn = self.net.socket_conn(s);
            match self
                .conns
                .iter_mut()
                .find(|t| t.conn.is_some() && t.conn == conn)
            {
                Some(t) => t.sockets[1] = Some(s),
                None => {
                    // A connection whose client socket is already gone.
                    self.conns.push(Tracked {
                        sockets: [None, Some(s)],
                        conn,
                        failed: true,
                        ..Default::default()
                    });
                }
            }
        }
    }

    fn write(&mut self, i: usize, side: Side, len: usize) {
        self.poll_connects();
        let t = &self.conns[i];
        let Some(s) = t.sockets[side.index()] else {
            return;
        };
        let start = t.written[side.index()];
        let data: Vec<u8> = (0..len as u64)
            .map(|k| pattern(i, side, start + k))
            .collect();
        // Odd lengths go through the zero-copy path, so both are exercised.
        let written = if len % 2 == 1 {
            self.net.write_bytes(s, bytes::Bytes::from(data))
        } else {
            self.net.write(s, &data)
        };
        if let Ok(n) = written {
            self.conns[i].written[side.index()] += n as u64;
        }
    }

    /// Read what is there and check it is exactly the next bytes the peer wrote.
    fn read(&mut self, i: usize, side: Side, max: usize) -> Result<u64, String> {
        self.poll_connects();
        let Some(s) = self.conns[i].sockets[side.index()] else {
            return Ok(0);
        };
        if self.net.state(s) != Ok(crate::TcpState::Connected) {
            return Ok(0);
        }
        let max = max.clamp(1, self.buf.len());
        let mut total = 0u64;
        loop {
            // Odd sizes read without a copy, so both paths are exercised.
            let got = if max % 2 == 1 {
                self.net.read_bytes(s, max).map(|chunk| {
                    self.buf[..chunk.len()].copy_from_slice(&chunk);
                    chunk.len()
                })
            } else {
                self.net.read(s, &mut self.buf[..max])
            };
            match got {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    let t = &mut self.conns[i];
                    let from = side.peer();
                    let base = t.read[side.index()];
                    for (k, &b) in self.buf[..n].iter().enumerate() {
                        let expected = pattern(i, from, base + k as u64);
                        if b != expected {
                            return Err(format!(
                                "connection {i}: {side:?} read byte {} = {b:#04x}, expected {expected:#04x}",
                                base + k as u64
                            ));
                        }
                    }
                    t.read[side.index()] += n as u64;
                    total += n as u64;
                    if t.read[side.index()] > t.written[from.index()] {
                        return Err(format!(
                            "connection {i}: {side:?} read more bytes than were written"
                        ));
                    }
                }
                Err(StreamError::Closed) => {
                    self.conns[i].eof[side.index()] = true;
                    return Ok(total);
                }
                Err(StreamError::Failed(_)) => {
                    self.conns[i].failed = true;
                    return Ok(total);
                }
            }
            if max < self.buf.len() {
                return Ok(total);
            }
        }
    }

    /// Let the network go idle, accepting and reading everything as it arrives.
    fn settle(&mut self) -> Result<(), String> {
        const MAX_STEPS: u64 = 2_000_000;
        let mut steps = 0u64;
        loop {
            self.poll_connects();
            for h in 0..self.hosts.len() {
                self.accept_all(h);
            }
            for i in 0..self.conns.len() {
                for side in [Side::Client, Side::Server] {
                    self.read(i, side, usize::MAX)?;
                }
            }
            if !self.net.step() {
                return Ok(());
            }
            steps += 1;
            if steps > MAX_STEPS {
                return Err(format!(
                    "network not idle after {MAX_STEPS} events (at {})",
                    self.net.now()
                ));
            }
        }
    }

    /// Connections the trace shows failing (on either side, seen by a socket or not).
    fn failed_in_trace(&self) -> BTreeSet<ConnId> {
        self.net
            .trace()
            .records()
            .iter()
            .filter_map(|r| match r.event {
                TraceEvent::ConnectionFailed { conn, .. } => Some(conn),
                _ => None,
            })
            .collect()
    }

    /// Whether a tracked connection failed (one that never got a connection counts too).
    fn failed(t: &Tracked, in_trace: &BTreeSet<ConnId>) -> bool {
        t.failed || t.conn.is_none_or(|c| in_trace.contains(&c))
    }

    fn check_complete(&self) -> Result<(), String> {
        let in_trace = self.failed_in_trace();
        for (i, t) in self.conns.iter().enumerate() {
            if Self::failed(t, &in_trace) || t.sockets[1].is_none() && !t.reader_gone[1] {
                continue;
            }
            for reader in [Side::Client, Side::Server] {
                let writer = reader.peer();
                if t.reader_gone[reader.index()] || t.sockets[reader.index()].is_none() {
                    continue;
                }
                let (read, written) = (t.read[reader.index()], t.written[writer.index()]);
                if read != written {
                    return Err(format!(
                        "connection {i}: {reader:?} read {read} of the {written} bytes its peer wrote, with no failure"
                    ));
                }
                if t.shut_send[writer.index()] && !t.eof[reader.index()] {
                    return Err(format!(
                        "connection {i}: {writer:?} shut down but {reader:?} saw no end of stream"
                    ));
                }
            }
        }
        Ok(())
    }

    fn summary(&self) -> Summary {
        let in_trace = self.failed_in_trace();
        Summary {
            connections: self.conns.len(),
            established: self.conns.iter().filter(|t| t.sockets[1].is_some()).count(),
            failed: self
                .conns
                .iter()
                .filter(|t| Self::failed(t, &in_trace))
                .count(),
            bytes_written: self.conns.iter().map(|t| t.written[0] + t.written[1]).sum(),
            bytes_read: self.conns.iter().map(|t| t.read[0] + t.read[1]).sum(),
            trace_hash: self.net.trace_hash(),
        }
    }
}
