//! Socket buffer sizes: Linux-style autotuning of buffers the application left unset,
//! fixed sizes for buffers it set, and what the getters report along the way.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use simnet_core::{Family, HostId, LinkConfig, Net, NetConfig, SocketId, TcpConfig};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Hosts `a` (10.0.0.1) and `b` (10.0.0.2) over a link of 5 ms each way.
fn world(tcp: TcpConfig) -> (Net, HostId, HostId) {
    let config = NetConfig {
        tcp,
        ..NetConfig::default()
    };
    let mut net = Net::with_config(3, config);
    let a = net.add_host("a", &[ip("10.0.0.1")]).unwrap();
    let b = net.add_host("b", &[ip("10.0.0.2")]).unwrap();
    net.set_link(a, b, LinkConfig::with_latency(Duration::from_millis(5)))
        .unwrap();
    (net, a, b)
}

/// Sizes set on a socket before it connects (or listens).
#[derive(Clone, Copy, Default)]
struct Sizes {
    send: Option<u64>,
    receive: Option<u64>,
}

fn apply(net: &mut Net, s: SocketId, sizes: Sizes) {
    if let Some(n) = sizes.send {
        net.set_send_buffer_size(s, n).unwrap();
    }
    if let Some(n) = sizes.receive {
        net.set_receive_buffer_size(s, n).unwrap();
    }
}

/// A client on `a` connected to a listener on `b`: (client, accepted).
fn pair(net: &mut Net, a: HostId, b: HostId, client: Sizes, server: Sizes) -> (SocketId, SocketId) {
    let l = net.create_tcp_socket(b, Family::Ipv4).unwrap();
    apply(net, l, server);
    net.bind(l, sa("10.0.0.2:80")).unwrap();
    net.listen(l).unwrap();
    let c = net.create_tcp_socket(a, Family::Ipv4).unwrap();
    apply(net, c, client);
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    net.run_for(Duration::from_millis(20));
    let (s, _) = net.accept(l).unwrap();
    (c, s)
}

/// The client writes `total` bytes as fast as its buffer takes them while the server
/// reads everything it gets, 1 ms of virtual time per round. Returns the rounds taken.
fn bulk(net: &mut Net, c: SocketId, s: SocketId, total: usize) -> usize {
    let chunk = vec![0x5a; 1 << 20];
    let mut buf = vec![0u8; 1 << 20];
    let (mut written, mut read) = (0, 0);
    for round in 1..=100_000 {
        while written < total {
            let n = net
                .write(c, &chunk[..(total - written).min(chunk.len())])
                .unwrap();
            if n == 0 {
                break;
            }
            written += n;
        }
        loop {
            let n = net.read(s, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            read += n;
        }
        if read == total {
            return round;
        }
        net.run_for(Duration::from_millis(1));
    }
    panic!("bulk transfer of {total} bytes did not finish: {read} read");
}

#[test]
fn unset_buffers_report_linux_defaults_until_connected() {
    let (mut net, a, _) = world(TcpConfig::default());
    let s = net.create_tcp_socket(a, Family::Ipv4).unwrap();
    assert_eq!(net.send_buffer_size(s), Ok(8192));
    assert_eq!(net.receive_buffer_size(s), Ok(65_536));
}

#[test]
fn a_new_connection_sizes_its_send_buffer_for_twenty_segments() {
    let (mut net, a, b) = world(TcpConfig::default());
    let (c, s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    for end in [c, s] {
        assert_eq!(net.send_buffer_size(end), Ok(2 * 10 * 1460));
        assert_eq!(net.receive_buffer_size(end), Ok(65_536));
    }
}

#[test]
fn loopback_segments_give_a_larger_initial_send_buffer() {
    let (mut net, a, _) = world(TcpConfig::default());
    let l = net.create_tcp_socket(a, Family::Ipv4).unwrap();
    net.bind(l, sa("10.0.0.1:80")).unwrap();
    net.listen(l).unwrap();
    let c = net.create_tcp_socket(a, Family::Ipv4).unwrap();
    net.connect(c, sa("10.0.0.1:80")).unwrap();
    net.run_until_idle();
    assert_eq!(net.send_buffer_size(c), Ok(2 * 10 * 65_483));
}

#[test]
fn a_bulk_sender_grows_both_buffers_up_to_their_maxima() {
    let (mut net, a, b) = world(TcpConfig::default());
    let (c, s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    bulk(&mut net, c, s, 64 << 20);
    let send = net.send_buffer_size(c).unwrap();
    let receive = net.receive_buffer_size(s).unwrap();
    assert_eq!(send, 2 << 20, "the send buffer grows to tcp_wmem[2] / 2");
    assert!(receive > 1 << 20, "receive buffer {receive}");
    assert!(receive <= 3 << 20, "receive buffer {receive}");
    // The directions nobody sent on stay as they were.
    assert_eq!(net.send_buffer_size(s), Ok(29_200));
    assert_eq!(net.receive_buffer_size(c), Ok(65_536));
}

#[test]
fn explicit_sizes_stay_put_under_bulk_traffic() {
    let (mut net, a, b) = world(TcpConfig::default());
    let client = Sizes {
        send: Some(20_000),
        ..Sizes::default()
    };
    let server = Sizes {
        receive: Some(50_000),
        ..Sizes::default()
    };
    let (c, s) = pair(&mut net, a, b, client, server);
    bulk(&mut net, c, s, 4 << 20);
    assert_eq!(net.send_buffer_size(c), Ok(20_000));
    assert_eq!(net.receive_buffer_size(s), Ok(50_000));
}

#[test]
fn setting_a_size_mid_connection_stops_its_tuning() {
    let (mut net, a, b) = world(TcpConfig::default());
    let (c, s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    bulk(&mut net, c, s, 1 << 20);
    net.set_send_buffer_size(c, 40_000).unwrap();
    net.set_receive_buffer_size(s, 70_000).unwrap();
    bulk(&mut net, c, s, 8 << 20);
    assert_eq!(net.send_buffer_size(c), Ok(40_000));
    assert_eq!(net.receive_buffer_size(s), Ok(70_000));
}

#[test]
fn tuned_buffers_move_bulk_data_in_fewer_round_trips() {
    let fixed = TcpConfig {
        send_buffer_max: 0,
        receive_buffer_max: 0,
        ..TcpConfig::default()
    };
    let (mut net, a, b) = world(fixed);
    let (c, s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    let slow = bulk(&mut net, c, s, 16 << 20);
    assert_eq!(net.receive_buffer_size(s), Ok(65_536), "tuning is off");

    let (mut net, a, b) = world(TcpConfig::default());
    let (c, s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    let fast = bulk(&mut net, c, s, 16 << 20);
    // A 64 KiB window over a 10 ms round trip carries about 6.5 MB/s; tuned, the
    // window opens to megabytes within a few round trips.
    assert!(fast * 10 < slow, "tuned {fast} ms, fixed {slow} ms");
}

#[test]
fn a_chunk_written_whole_reaches_the_reader_without_a_copy() {
    let (mut net, a, b) = world(TcpConfig::default());
    let (c, s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    let chunk = bytes::Bytes::from(vec![9u8; 20_000]);
    let address = chunk.as_ptr();
    assert_eq!(net.write_bytes(c, chunk), Ok(20_000));
    net.run_for(Duration::from_millis(100));
    let got = net.read_bytes(s, 1 << 20).unwrap();
    assert_eq!(got.len(), 20_000);
    assert_eq!(got.as_ptr(), address, "the reader sees the writer's memory");
    // Acknowledged and read: the connection holds no reference any more.
    assert!(got.is_unique());
    // A copying write next to it still reads back in order, across both reads.
    assert_eq!(net.write(c, b"tail"), Ok(4));
    assert_eq!(
        net.write_bytes(c, bytes::Bytes::from_static(b"more")),
        Ok(4)
    );
    net.run_for(Duration::from_millis(100));
    let mut buf = [0u8; 16];
    assert_eq!(net.read(s, &mut buf), Ok(8));
    assert_eq!(&buf[..8], b"tailmore");
}

#[test]
fn a_slow_readers_peer_keeps_its_send_buffer_near_the_window() {
    let (mut net, a, b) = world(TcpConfig::default());
    let (c, _s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    let chunk = vec![1u8; 1 << 20];
    for _ in 0..2_000 {
        let _ = net.write(c, &chunk);
        net.run_for(Duration::from_millis(1));
    }
    // The reader never reads: its window closed at 64 KiB, so a bigger send buffer
    // would only hold what it cannot take.
    let send = net.send_buffer_size(c).unwrap();
    assert!(send <= 2 * 65_536, "send buffer {send}");
}

#[test]
fn receive_buffers_on_a_latency_free_link_hold_twice_the_largest_read() {
    let (mut net, a, b) = world(TcpConfig::default());
    net.set_link(a, b, LinkConfig::default()).unwrap();
    let (c, s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    let chunk = bytes::Bytes::from(vec![3u8; 64 * 1024]);
    let mut read = 0;
    for _ in 0..2_000 {
        while net.write_bytes(c, chunk.clone()).unwrap() > 0 {}
        net.run_for(Duration::from_micros(10));
        loop {
            let got = net.read_bytes(s, 1 << 20).unwrap();
            if got.is_empty() {
                break;
            }
            read += got.len();
        }
    }
    assert!(read > 64 << 20, "{read}");
    // The bandwidth-delay product is zero: the window only needs to hold what the
    // reader takes at once, one 64 KiB chunk.
    assert_eq!(net.receive_buffer_size(s), Ok(128 * 1024));
}

#[test]
fn room_granted_before_the_send_buffer_shrank_is_still_taken() {
    let (mut net, a, b) = world(TcpConfig::default());
    let (c, s) = pair(&mut net, a, b, Sizes::default(), Sizes::default());
    let room = net.check_write(c).unwrap();
    net.set_send_buffer_size(c, 2304).unwrap();
    let chunk = bytes::Bytes::from(vec![5u8; room]);
    assert_eq!(net.write_granted(c, chunk), Ok(room));
    // Nothing more fits until acknowledgements bring the buffer under its size.
    assert_eq!(net.check_write(c), Ok(0));
    let mut got = 0;
    for _ in 0..200 {
        net.run_for(Duration::from_millis(10));
        got += net.read_bytes(s, 1 << 20).unwrap().len();
    }
    assert_eq!(got, room);
    assert_eq!(net.check_write(c), Ok(2304));
}

#[test]
fn shrinking_a_receive_buffer_keeps_what_was_already_advertised() {
    let (mut net, a, b) = world(TcpConfig::default());
    let server = Sizes {
        receive: Some(1 << 20),
        ..Sizes::default()
    };
    let client = Sizes {
        send: Some(1 << 20),
        ..Sizes::default()
    };
    let (c, s) = pair(&mut net, a, b, client, server);
    assert_eq!(net.write(c, &vec![8u8; 500_000]), Ok(500_000));
    // The data is on its way when the receiver shrinks its buffer.
    net.run_for(Duration::from_millis(1));
    net.set_receive_buffer_size(s, 1152).unwrap();
    net.run_for(Duration::from_millis(20));
    // All of it arrived within one trip: nothing was dropped and resent.
    assert_eq!(net.readable_bytes(s), 500_000);
    let retransmits = net.trace().count(|e| {
        matches!(
            e,
            simnet_core::TraceEvent::SegmentSent {
                retransmit: true,
                ..
            }
        )
    });
    assert_eq!(retransmits, 0);
}

#[test]
fn an_accepted_socket_reports_the_sizing_its_connection_got() {
    let (mut net, a, b) = world(TcpConfig::default());
    let l = net.create_tcp_socket(b, Family::Ipv4).unwrap();
    net.bind(l, sa("10.0.0.2:80")).unwrap();
    net.listen(l).unwrap();
    let c = net.create_tcp_socket(a, Family::Ipv4).unwrap();
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    net.run_for(Duration::from_millis(20));
    // Set on the listener after the connection was sized: it does not apply to it.
    net.set_send_buffer_size(l, 5000).unwrap();
    let (s, _) = net.accept(l).unwrap();
    assert_eq!(net.send_buffer_size(s), Ok(29_200));
    assert_eq!(
        net.options(s).unwrap().send_buffer,
        simnet_core::BufferSize::Auto
    );
}

/// A write granted more than the send buffer holds (a WASI `check-write` grants
/// 64 KiB): the rest waits for room, nothing else is written meanwhile, the bytes in
/// flight never exceed the buffer, and a shutdown sends its FIN after all of them.
#[test]
fn a_granted_write_beyond_the_buffer_waits_for_room_and_loses_nothing() {
    let (mut net, a, b) = world(TcpConfig::default());
    let client = Sizes {
        send: Some(4096),
        ..Sizes::default()
    };
    let (c, s) = pair(&mut net, a, b, client, Sizes::default());
    net.enable_capture();
    let data: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        net.write_granted(c, simnet_core::Bytes::from(data.clone())),
        Ok(65_536)
    );
    assert_eq!(net.held_bytes(c), 65_536 - 4096);
    assert_eq!(net.send_space(c), Ok(0));
    assert!(!net.is_ready(c, simnet_core::Interest::Write));
    assert_eq!(
        net.write(c, b"later"),
        Ok(0),
        "no write overtakes the held bytes"
    );
    net.shutdown(c, simnet_core::ShutdownType::Send).unwrap();
    assert!(!net.is_ready(c, simnet_core::Interest::Write));

    let mut got = Vec::new();
    let mut buf = vec![0; 8192];
    loop {
        match net.read(s, &mut buf) {
            Ok(0) => net.run_for(Duration::from_millis(1)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(simnet_core::StreamError::Closed) => break,
            Err(e) => panic!("read: {e:?}"),
        }
    }
    assert_eq!(got, data);
    assert_eq!(net.held_bytes(c), 0);
    assert!(net.is_ready(c, simnet_core::Interest::Write));
    // Never more than the send buffer in flight: each data segment starts within
    // 4096 bytes of the lowest unacknowledged byte, which the capture shows as the
    // highest ACK the server sent before it.
    let mut acked = 1u64;
    for p in net.captured() {
        if let simnet_core::Transport::Tcp { seg, .. } = p.transport {
            if seg.from == simnet_core::Side::Client && seg.len > 0 {
                assert!(
                    seg.seq + u64::from(seg.len) <= acked + 4096,
                    "segment {}+{} with {acked} acknowledged",
                    seg.seq,
                    seg.len
                );
            } else if seg.from == simnet_core::Side::Server {
                acked = acked.max(seg.ack);
            }
        }
    }
}
