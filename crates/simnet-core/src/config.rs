//! Constants of the TCP model. The defaults follow Linux (the kernel wasmtime-wasi
//! runs on in CI), so timings and option values match a real run; see
//! `docs/tcp-model.md` for where each one comes from.

use std::ops::RangeInclusive;
use std::time::Duration;

/// What a listener does when its accept queue (established connections not yet
/// accepted) is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BacklogOverflow {
    /// As Linux by default: a SYN is dropped (the client retransmits it), and a
    /// handshake's final ACK is ignored (the server retransmits its SYN-ACK, or waits
    /// for the client's next segment when it answered with a SYN cookie).
    Drop,
    /// Refuse at once: a SYN is answered with RST (the connect fails with
    /// `connection-refused`), and so is a final ACK (Linux's `tcp_abort_on_overflow`).
    Refuse,
}

/// Protocol constants and default socket options for a whole simulation.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Maximum segment size between hosts (Ethernet: 1460).
    pub mss: u32,
    /// Maximum segment size on a host's loopback (Linux `lo`: 65483).
    pub loopback_mss: u32,
    /// Retransmission timeout before any RTT sample (RFC 6298: 1 s).
    pub rto_initial: Duration,
    /// Lower bound of the computed RTO (Linux: 200 ms).
    pub rto_min: Duration,
    /// Upper bound of the backed-off RTO (Linux: 120 s).
    pub rto_max: Duration,
    /// SYN retransmissions before connect fails with `timeout` (Linux `tcp_syn_retries`: 6).
    pub syn_retries: u32,
    /// Data retransmissions before the connection fails with `timeout` (Linux `tcp_retries2`: 15).
    pub data_retries: u32,
    /// How long a receiver may hold back a pure ACK (Linux: 40 ms).
    pub delayed_ack: Duration,
    /// Nagle's algorithm (on by default, as on a real socket without TCP_NODELAY).
    pub nagle: bool,
    /// How long a connect to an address no host owns takes to fail with
    /// `remote-unreachable` (Linux: three unanswered ARP probes, 3 s).
    pub unreachable_timeout: Duration,
    /// How long a closed socket waits for the peer's FIN (Linux `tcp_fin_timeout`: 60 s).
    pub fin_timeout: Duration,
    pub backlog_overflow: BacklogOverflow,
    /// Answer SYNs with SYN cookies once a listener's SYN queue is full (Linux
    /// `tcp_syncookies`, 1 by default), so half-open handshakes are never dropped and
    /// only the accept queue is bounded by the backlog.
    pub syn_cookies: bool,
    /// Without SYN cookies: half-open connections a listener keeps at most, across
    /// which new SYNs are dropped once three quarters are used (Linux
    /// `tcp_max_syn_backlog`).
    pub max_syn_backlog: u32,
    /// SYN-ACK retransmissions before a half-open connection is dropped (Linux
    /// `tcp_synack_retries`: 5).
    pub synack_retries: u32,
    /// Default `receive-buffer-size` (what wasmtime-wasi reports on Linux: 65536).
    pub receive_buffer: u64,
    /// Default `send-buffer-size` (what wasmtime-wasi reports on Linux: 8192).
    pub send_buffer: u64,
    /// The most autotuning grows a receive buffer the application did not size
    /// (Linux `tcp_rmem[2]`, 6 MiB, halved as the getter reports it). Set it to
    /// `receive_buffer` to turn receive autotuning off.
    pub receive_buffer_max: u64,
    /// The most autotuning grows a send buffer the application did not size (Linux
    /// `tcp_wmem[2]`, 4 MiB, halved). Set it to `send_buffer` to turn it off.
    pub send_buffer_max: u64,
    /// Bounds that `set-*-buffer-size` clamps to (Linux defaults, as wasmtime-wasi reports them).
    pub receive_buffer_range: RangeInclusive<u64>,
    pub send_buffer_range: RangeInclusive<u64>,
    /// Default listen backlog (wasmtime-wasi's, taken from Rust std: 128).
    pub listen_backlog: u32,
    /// Ephemeral port range (Linux `ip_local_port_range`).
    pub ephemeral_ports: RangeInclusive<u16>,
    /// Sockets a host may hold open at once unless set per host.
    pub socket_limit: u32,
    /// Keep-alive defaults (Linux: off, 7200 s idle, 75 s interval, 9 probes).
    pub keep_alive_idle: Duration,
    pub keep_alive_interval: Duration,
    pub keep_alive_count: u32,
    /// Default IP TTL / hop limit (Linux: 64).
    pub hop_limit: u8,
}

/// The buffer sizes a connection starts from and may be tuned up to: what sizing a
/// pipe needs of [`TcpConfig`], small enough to copy on the SYN path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufferDefaults {
    pub(crate) send: u64,
    pub(crate) send_max: u64,
    pub(crate) receive: u64,
    pub(crate) receive_max: u64,
}

impl TcpConfig {
    pub(crate) fn buffer_defaults(&self) -> BufferDefaults {
        BufferDefaults {
            send: self.send_buffer,
            send_max: self.send_buffer_max.max(self.send_buffer),
            receive: self.receive_buffer,
            receive_max: self.receive_buffer_max.max(self.receive_buffer),
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            loopback_mss: 65483,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            syn_retries: 6,
            data_retries: 15,
            delayed_ack: Duration::from_millis(40),
            nagle: true,
            unreachable_timeout: Duration::from_secs(3),
            fin_timeout: Duration::from_secs(60),
            backlog_overflow: BacklogOverflow::Drop,
            syn_cookies: true,
            max_syn_backlog: 4096,
            synack_retries: 5,
            receive_buffer: 65536,
            send_buffer: 8192,
            receive_buffer_max: 3 << 20,
            send_buffer_max: 2 << 20,
            receive_buffer_range: 1152..=4_194_304,
            send_buffer_range: 2304..=4_194_304,
            listen_backlog: 128,
            ephemeral_ports: 32768..=60999,
            socket_limit: 1024,
            keep_alive_idle: Duration::from_secs(7200),
            keep_alive_interval: Duration::from_secs(75),
            keep_alive_count: 9,
            hop_limit: 64,
        }
    }
}

/// UDP socket defaults, in the units wasmtime-wasi reports (Linux's, halved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// Default `receive-buffer-size` (Linux `rmem_default` 212,992, halved: 106,496).
    /// A datagram that would take the queued datagrams' charge past twice this is
    /// dropped.
    pub receive_buffer: u64,
    /// Default `send-buffer-size` (Linux `wmem_default`, halved: 106,496).
    pub send_buffer: u64,
    /// Bounds that `set-*-buffer-size` clamps to, as the getters report them (halved
    /// from the kernel's figures, as wasmtime-wasi reports them: 1,152 and 2,304 bytes
    /// at least, `rmem_max`/`wmem_max` at most).
    pub receive_buffer_range: RangeInclusive<u64>,
    pub send_buffer_range: RangeInclusive<u64>,
    /// Bytes of datagrams in flight (payload plus 128 per datagram), across the whole
    /// network, beyond which a send is dropped (traced as `NetworkFull`): a guest sending without pause over
    /// a slow link cannot exhaust the simulator's memory. 256 MiB.
    pub max_in_flight_bytes: u64,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            receive_buffer: 106_496,
            send_buffer: 106_496,
            receive_buffer_range: 1152..=4_194_304,
            send_buffer_range: 2304..=4_194_304,
            max_in_flight_bytes: 256 << 20,
        }
    }
}
