//! The four workloads on simnet-core's native API, driven the way a WASI host drives
//! guests: step the network, then look only at the sockets it woke.

use std::net::SocketAddr;
use std::time::Duration;

use simnet_core::{Family, LinkConfig, Net, NetConfig, SocketId, TraceMode};

use crate::{MSG, Outcome};

const SERVER: &str = "10.0.0.1:9000";

fn net(trace: TraceMode) -> Net {
    let mut net = Net::with_config(
        42,
        NetConfig {
            trace,
            ..NetConfig::default()
        },
    );
    net.set_default_link(LinkConfig::with_latency(Duration::from_millis(1)))
        .expect("valid link");
    net
}

fn listener(net: &mut Net) -> SocketId {
    let h = net
        .add_host("server", &["10.0.0.1".parse().unwrap()])
        .expect("host");
    let l = net.create_tcp_socket(h, Family::Ipv4).expect("socket");
    net.bind(l, SERVER.parse().unwrap()).expect("bind");
    net.listen(l).expect("listen");
    l
}

fn client(net: &mut Net, i: usize) -> SocketId {
    client_host(net, i, |net, h| net.create_tcp_socket(h, Family::Ipv4))
}

/// Client host `i` and a socket on it.
fn client_host(
    net: &mut Net,
    i: usize,
    socket: impl FnOnce(&mut Net, simnet_core::HostId) -> Result<SocketId, simnet_core::ErrorCode>,
) -> SocketId {
    let ip = format!("10.0.{}.{}", 1 + i / 250, 1 + i % 250);
    let h = net
        .add_host(&format!("client{i}"), &[ip.parse().unwrap()])
        .expect("host");
    socket(net, h).expect("socket")
}

/// `clients` clients each doing `n` round trips of 64 bytes with one echo server.
pub fn round_trips(clients: usize, n: usize, trace: TraceMode) -> Outcome {
    let mut net = net(trace);
    let l = listener(&mut net);
    let socks: Vec<SocketId> = (0..clients).map(|i| client(&mut net, i)).collect();
    let server: SocketAddr = SERVER.parse().unwrap();
    for &s in &socks {
        net.begin_connect(s, server).expect("start connect");
    }
    let msg = [7u8; MSG];
    let mut buf = [0u8; MSG];
    // Per client socket (indexed by id): round trips left, bytes of the reply so far.
    let mut left = vec![n; net_socket_slots(&socks)];
    let mut got = vec![0usize; left.len()];
    let mut woken = Vec::new();
    let mut done = 0;
    while done < clients && net.step() {
        net.drain_woken(&mut woken);
        for s in woken.drain(..) {
            if s == l {
                while net.accept(l).is_ok() {}
                continue;
            }
            if socks.binary_search(&s).is_err() {
                // Server side: echo what arrived.
                while let Ok(k) = net.read(s, &mut buf) {
                    if k == 0 {
                        break;
                    }
                    net.write(s, &buf[..k]).expect("echo fits the send buffer");
                }
                continue;
            }
            let i = s.index();
            if net.state(s) == Ok(simnet_core::TcpState::Connecting) {
                if net.connect_outcome(s) == Some(Ok(())) {
                    net.write(s, &msg).expect("write");
                }
                continue;
            }
            while let Ok(k) = net.read(s, &mut buf[got[i]..]) {
                if k == 0 {
                    break;
                }
                got[i] += k;
                if got[i] == MSG {
                    got[i] = 0;
                    left[i] -= 1;
                    if left[i] == 0 {
                        done += 1;
                    } else {
                        net.write(s, &msg).expect("write");
                    }
                }
            }
        }
    }
    assert_eq!(done, clients, "every client finished");
    Outcome {
        sim: net.now().since(simnet_core::SimTime::ZERO),
        ops: clients * n,
    }
}

fn net_socket_slots(socks: &[SocketId]) -> usize {
    socks.iter().map(|s| s.index() + 1).max().unwrap_or(0)
}

/// 64 MiB in 64 KiB writes over one connection, read in 64 KiB chunks.
pub fn bulk(total: usize, chunk: usize, trace: TraceMode) -> Outcome {
    let mut net = net(trace);
    let l = listener(&mut net);
    let c = client(&mut net, 0);
    // A bulk sender sizes its buffers, as it would with SO_SNDBUF / SO_RCVBUF.
    net.set_send_buffer_size(c, 4 << 20).expect("option");
    net.set_receive_buffer_size(l, 4 << 20).expect("option");
    net.connect(c, SERVER.parse().unwrap()).expect("connect");
    net.run_while_not(|n| n.is_ready(l, simnet_core::Interest::Socket));
    let (s, _) = net.accept(l).expect("accept");
    let data = vec![0xABu8; chunk];
    let mut buf = vec![0u8; chunk];
    let (mut sent, mut received, mut offset) = (0usize, 0usize, 0usize);
    let start = net.now();
    while received < total {
        while sent < total {
            let k = net.write(c, &data[offset..]).expect("write");
            if k == 0 {
                break;
            }
            sent += k;
            offset = (offset + k) % chunk;
        }
        while let Ok(k) = net.read(s, &mut buf) {
            if k == 0 {
                break;
            }
            received += k;
        }
        if received < total && !net.step() {
            panic!("bulk transfer stalled at {received} bytes");
        }
    }
    Outcome {
        sim: net.now().since(start),
        ops: total,
    }
}

/// A client sleeps 60 virtual seconds, then does one round trip.
pub fn sleep_then_round_trip(trace: TraceMode) -> Outcome {
    let mut net = net(trace);
    let l = listener(&mut net);
    let c = client(&mut net, 0);
    net.run_for(Duration::from_secs(60));
    net.connect(c, SERVER.parse().unwrap()).expect("connect");
    net.run_while_not(|n| n.is_ready(l, simnet_core::Interest::Socket));
    let (s, _) = net.accept(l).expect("accept");
    net.write(c, &[7u8; MSG]).expect("write");
    let mut buf = [0u8; MSG];
    net.run_while_not(|n| n.readable_bytes(s) == MSG);
    let k = net.read(s, &mut buf).expect("read");
    net.write(s, &buf[..k]).expect("echo");
    net.run_while_not(|n| n.readable_bytes(c) == MSG);
    assert_eq!(net.read(c, &mut buf), Ok(MSG));
    Outcome {
        sim: net.now().since(simnet_core::SimTime::ZERO),
        ops: 1,
    }
}

/// `clients` clients each sending `n` 64-byte datagrams to an echo server, one at a
/// time, each waiting for its answer.
pub fn udp_round_trips(clients: usize, n: usize, trace: TraceMode) -> Outcome {
    let mut net = net(trace);
    let h = net
        .add_host("server", &["10.0.0.1".parse().unwrap()])
        .expect("host");
    let server = net.create_udp_socket(h, Family::Ipv4).expect("socket");
    let server_addr: SocketAddr = SERVER.parse().unwrap();
    net.udp_bind(server, server_addr).expect("bind");
    let msg = simnet_core::Bytes::from_static(&[7u8; MSG]);
    let mut left = Vec::new();
    for i in 0..clients {
        let s = client_host(&mut net, i, |net, h| net.create_udp_socket(h, Family::Ipv4));
        net.udp_bind(s, "0.0.0.0:0".parse().unwrap()).expect("bind");
        net.udp_connect(s, server_addr).expect("connect");
        net.udp_send(s, msg.clone(), None).expect("send");
        left.resize(s.index() + 1, 0);
        left[s.index()] = n;
    }
    let mut woken = Vec::new();
    let mut done = 0;
    while done < clients && net.step() {
        net.drain_woken(&mut woken);
        for s in woken.drain(..) {
            while let Ok(Some(d)) = net.udp_receive(s) {
                if s == server {
                    net.udp_send(server, d.payload, Some(d.src)).expect("echo");
                    continue;
                }
                left[s.index()] -= 1;
                if left[s.index()] == 0 {
                    done += 1;
                } else {
                    net.udp_send(s, msg.clone(), None).expect("send");
                }
            }
        }
    }
    assert_eq!(done, clients, "every client finished");
    Outcome {
        sim: net.now().since(simnet_core::SimTime::ZERO),
        ops: clients * n,
    }
}
