//! simnet-core: a deterministic, in-memory TCP and UDP network.
//!
//! A [`Net`] holds hosts, the links between them and the TCP connections over them,
//! driven by a virtual clock and an event queue. Its socket calls mirror
//! `wasi:sockets/tcp` one for one (states, two-phase start/finish operations, error
//! codes), so a WASI host can be a thin adapter over it. It knows nothing of wasmtime,
//! performs no I/O and reads no clock: all randomness derives from one seed.
//!
//! ```
//! use simnet_core::{Family, Net, LinkConfig};
//! use std::time::Duration;
//!
//! let mut net = Net::new(42);
//! let a = net.add_host("a", &["10.0.0.1".parse().unwrap()]).unwrap();
//! let b = net.add_host("b", &["10.0.0.2".parse().unwrap()]).unwrap();
//! net.set_link(a, b, LinkConfig::with_latency(Duration::from_millis(5))).unwrap();
//!
//! let server = net.create_tcp_socket(b, Family::Ipv4).unwrap();
//! net.bind(server, "10.0.0.2:80".parse().unwrap()).unwrap();
//! net.listen(server).unwrap();
//!
//! let client = net.create_tcp_socket(a, Family::Ipv4).unwrap();
//! net.connect(client, "10.0.0.2:80".parse().unwrap()).unwrap();
//! assert_eq!(net.now().as_nanos(), 10_000_000); // one round trip
//!
//! net.write(client, b"hello").unwrap();
//! net.run_until_idle();
//! let (conn, _peer) = net.accept(server).unwrap();
//! let mut buf = [0u8; 16];
//! assert_eq!(net.read(conn, &mut buf).unwrap(), 5);
//! assert_eq!(&buf[..5], b"hello");
//! ```

mod ack_policy;
mod api;
mod autotune;
mod bytequeue;
mod capture;
mod config;
mod conn;
pub mod disk;
mod disks;
mod error;
mod fault;
mod fs_error;
mod host;
mod ids;
mod injection;
mod link;
mod net;
mod packet;
mod pipe;
mod queue;
mod rng;
mod segment;
mod socket;
mod tcp;
mod tcp_machine;
pub mod testkit;
mod time;
mod trace;
mod udp;
mod udp_socket;

pub use api::Interest;
pub use autotune::BufferSize;
/// The byte chunks [`Net::write_bytes`] and [`Net::read_bytes`] pass without copying.
pub use bytes::Bytes;
pub use capture::{CaptureSink, CapturedPacket, Fate, Transport};
pub use config::{BacklogOverflow, TcpConfig, UdpConfig};
pub use conn::Phase;
pub use disk::DiskCrash;
pub use error::{ErrorCode, NetError, StreamError};
pub use fault::{
    ApiFault, ApiResult, CrashMode, DiskEffect, DiskFault, DiskOp, Effect, Fault, FaultEvent,
    HostEvent, Met, Method, Trigger,
};
pub use host::{HostConfig, HostStats, host_name_problem, is_valid_host_address};
pub use ids::{ConnId, HostId, SocketId};
pub use link::{Latency, LinkConfig};
pub use net::{Net, NetConfig};
pub use packet::{DatagramHeader, DatagramId, DatagramKind};
pub use queue::TimerKind;
pub use rng::{SimRng, derive as derive_rng};
pub use segment::{Flags, Segment, Side};
pub use socket::{Family, ShutdownType, SocketOptions, TcpState};
pub use time::SimTime;
pub use trace::{DropReason, ProcessEvent, Trace, TraceEvent, TraceMode, TraceRecord};
pub use udp_socket::{Datagram, UdpOptions, UdpState, max_payload as max_datagram_payload};
