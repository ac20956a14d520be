//! UDP on the native API: sockets, delivery over links and faults, buffers, ICMP.

use std::net::SocketAddr;
use std::time::Duration;

use simnet_core::{
    Bytes, DropReason, ErrorCode, Family, Fault, HostId, Interest, LinkConfig, Net, NetConfig,
    SocketId, TraceEvent, TraceMode, Transport, UdpState,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn world(link: LinkConfig) -> (Net, HostId, HostId) {
    let config = NetConfig {
        trace: TraceMode::Full,
        ..NetConfig::default()
    };
    let mut net = Net::with_config(7, config);
    let a = net.add_host("a", &["10.0.0.1".parse().unwrap()]).unwrap();
    let b = net.add_host("b", &["10.0.0.2".parse().unwrap()]).unwrap();
    net.set_link(a, b, link).unwrap();
    (net, a, b)
}

fn bound(net: &mut Net, host: HostId, at: &str) -> SocketId {
    let s = net.create_udp_socket(host, Family::Ipv4).unwrap();
    net.udp_bind(s, addr(at)).unwrap();
    s
}

/// Why each datagram the trace saw dropped was dropped, in order.
fn drop_reasons(net: &Net) -> Vec<DropReason> {
    net.trace()
        .records()
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::DatagramDropped { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

fn drain(net: &mut Net, s: SocketId) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(d) = net.udp_receive(s).unwrap() {
        out.push(d.payload.to_vec());
    }
    out
}

#[test]
fn a_datagram_crosses_a_link_after_its_latency() {
    let (mut net, a, b) = world(LinkConfig::with_latency(Duration::from_millis(5)));
    let server = bound(&mut net, b, "10.0.0.2:53");
    let client = bound(&mut net, a, "0.0.0.0:0");
    net.udp_send(
        client,
        Bytes::from_static(b"query"),
        Some(addr("10.0.0.2:53")),
    )
    .unwrap();
    assert!(!net.is_ready(server, Interest::Read));
    net.run_until_idle();
    assert_eq!(net.now().as_nanos(), 5_000_000);
    assert!(net.is_ready(server, Interest::Read));
    let d = net.udp_receive(server).unwrap().unwrap();
    assert_eq!(&d.payload[..], b"query");
    // The source is the host's address, with the client's ephemeral port.
    let local = net.udp_local_address(client).unwrap();
    assert_eq!(
        d.src,
        SocketAddr::new("10.0.0.1".parse().unwrap(), local.port())
    );
    assert_ne!(local.port(), 0);
    assert_eq!(net.udp_receive(server).unwrap(), None);
}

#[test]
fn an_unbound_socket_binds_when_it_sends_and_cannot_receive_before() {
    let (mut net, a, b) = world(LinkConfig::default());
    let server = bound(&mut net, b, "10.0.0.2:9");
    let s = net.create_udp_socket(a, Family::Ipv4).unwrap();
    assert_eq!(net.udp_receive(s), Err(ErrorCode::InvalidState));
    assert_eq!(net.udp_local_address(s), Err(ErrorCode::InvalidState));
    net.udp_send(s, Bytes::from_static(b"x"), Some(addr("10.0.0.2:9")))
        .unwrap();
    assert!(matches!(net.udp_state(s), Ok(UdpState::Bound { .. })));
    net.run_until_idle();
    assert_eq!(drain(&mut net, server), vec![b"x".to_vec()]);
}

#[test]
fn sends_are_checked_as_wasmtime_and_linux_check_them() {
    let (mut net, a, _) = world(LinkConfig::default());
    let s = bound(&mut net, a, "10.0.0.1:0");
    let to = Some(addr("10.0.0.2:9"));
    let big = |n: usize| Bytes::from(vec![0u8; n]);
    assert_eq!(
        net.udp_send(s, big(65_508), to),
        Err(ErrorCode::DatagramTooLarge)
    );
    assert_eq!(
        net.udp_send(s, big(65_536), None),
        Err(ErrorCode::DatagramTooLarge)
    );
    assert_eq!(net.udp_send(s, big(65_507), to), Ok(()));
    assert_eq!(
        net.udp_send(s, big(1), None),
        Err(ErrorCode::InvalidArgument)
    );
    for bad in ["0.0.0.0:9", "10.0.0.2:0"] {
        assert_eq!(
            net.udp_send(s, big(1), Some(addr(bad))),
            Err(ErrorCode::InvalidArgument)
        );
    }
    assert_eq!(
        net.udp_send(s, big(1), Some(addr("[::1]:9"))),
        Err(ErrorCode::InvalidArgument)
    );
    let six = net.create_udp_socket(a, Family::Ipv6).unwrap();
    net.udp_bind(six, addr("[::1]:0")).unwrap();
    assert_eq!(
        net.udp_send(six, big(65_527), Some(addr("[::1]:9"))),
        Ok(())
    );
    assert_eq!(
        net.udp_send(six, big(65_528), Some(addr("[::1]:9"))),
        Err(ErrorCode::DatagramTooLarge)
    );
}

#[test]
fn binds_conflict_as_on_linux_and_apart_from_tcp() {
    let (mut net, a, _) = world(LinkConfig::default());
    let first = bound(&mut net, a, "127.0.0.1:5000");
    let s = net.create_udp_socket(a, Family::Ipv4).unwrap();
    assert_eq!(
        net.udp_bind(s, addr("127.0.0.1:5000")),
        Err(ErrorCode::AddressInUse)
    );
    assert_eq!(
        net.udp_bind(s, addr("0.0.0.0:5000")),
        Err(ErrorCode::AddressInUse)
    );
    assert_eq!(
        net.udp_bind(s, addr("192.0.2.1:0")),
        Err(ErrorCode::AddressNotBindable)
    );
    assert_eq!(
        net.udp_bind(s, addr("[::1]:0")),
        Err(ErrorCode::InvalidArgument)
    );
    net.udp_bind(s, addr("10.0.0.1:5000")).unwrap();
    assert_eq!(
        net.udp_bind(s, addr("10.0.0.1:5001")),
        Err(ErrorCode::InvalidState)
    );
    // TCP's ports are its own.
    let t = net.create_tcp_socket(a, Family::Ipv4).unwrap();
    net.bind(t, addr("127.0.0.1:5000")).unwrap();
    // Closing frees the port.
    net.close(first).unwrap();
    let again = net.create_udp_socket(a, Family::Ipv4).unwrap();
    net.udp_bind(again, addr("127.0.0.1:5000")).unwrap();
    // Multicast and broadcast addresses bind, as Linux allows for UDP.
    for m in ["224.0.0.1:0", "255.255.255.255:0"] {
        let s = net.create_udp_socket(a, Family::Ipv4).unwrap();
        net.udp_bind(s, addr(m)).unwrap();
    }
}

#[test]
fn a_connected_socket_filters_senders_and_learns_of_closed_ports() {
    let (mut net, a, b) = world(LinkConfig::with_latency(Duration::from_millis(1)));
    let peer = bound(&mut net, b, "10.0.0.2:7");
    let stranger = bound(&mut net, b, "10.0.0.2:8");
    let s = bound(&mut net, a, "0.0.0.0:0");
    net.udp_connect(s, addr("10.0.0.2:7")).unwrap();
    // Connecting picks the route's source address.
    assert_eq!(
        net.udp_local_address(s).unwrap().ip(),
        "10.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    let me = net.udp_local_address(s).unwrap();
    net.udp_send(stranger, Bytes::from_static(b"no"), Some(me))
        .unwrap();
    net.udp_send(peer, Bytes::from_static(b"yes"), Some(me))
        .unwrap();
    net.run_until_idle();
    assert_eq!(drain(&mut net, s), vec![b"yes".to_vec()]);
    // The stranger's datagram found no socket: an ICMP went back, which the
    // unconnected stranger is not told of.
    assert_eq!(drain(&mut net, stranger), Vec::<Vec<u8>>::new());
    // Now the peer goes away: the next send is answered with port-unreachable.
    net.close(peer).unwrap();
    net.udp_send(s, Bytes::from_static(b"hello?"), None)
        .unwrap();
    net.run_until_idle();
    assert!(net.is_ready(s, Interest::Read));
    assert_eq!(net.udp_receive(s), Err(ErrorCode::ConnectionRefused));
    assert_eq!(net.udp_receive(s), Ok(None));
    // Reported by a send too, once.
    net.udp_send(s, Bytes::from_static(b"again"), None).unwrap();
    net.run_until_idle();
    assert_eq!(
        net.udp_send(s, Bytes::from_static(b"x"), None),
        Err(ErrorCode::ConnectionRefused)
    );
    assert_eq!(net.udp_send(s, Bytes::from_static(b"x"), None), Ok(()));
    net.run_until_idle();
    let dropped = drop_reasons(&net)
        .iter()
        .filter(|&&r| r == DropReason::NoSocket)
        .count();
    assert_eq!(dropped, 4);
}

#[test]
fn disconnect_forgets_what_the_application_did_not_choose() {
    let (mut net, a, _) = world(LinkConfig::default());
    let s = bound(&mut net, a, "0.0.0.0:0");
    net.udp_connect(s, addr("10.0.0.2:7")).unwrap();
    net.udp_disconnect(s).unwrap();
    assert_eq!(net.udp_local_address(s).unwrap(), addr("0.0.0.0:0"));
    assert_eq!(net.udp_disconnect(s), Err(ErrorCode::InvalidState));
    let fixed = bound(&mut net, a, "0.0.0.0:4444");
    net.udp_connect(fixed, addr("10.0.0.2:7")).unwrap();
    assert_eq!(net.udp_local_address(fixed).unwrap(), addr("10.0.0.1:4444"));
    net.udp_disconnect(fixed).unwrap();
    assert_eq!(net.udp_local_address(fixed).unwrap(), addr("0.0.0.0:4444"));
}

#[test]
fn a_full_receive_buffer_drops_datagrams_as_linux_does() {
    let (mut net, a, b) = world(LinkConfig::default());
    let server = bound(&mut net, b, "10.0.0.2:9");
    let client = bound(&mut net, a, "10.0.0.1:0");
    let to = Some(addr("10.0.0.2:9"));
    // Linux on loopback, default buffer: 256 of 100 bytes, 92 of 1,000, 12 of 8,000.
    for (size, fit) in [(100, 256), (1000, 92), (8000, 12)] {
        for _ in 0..400 {
            net.udp_send(client, Bytes::from(vec![1u8; size]), to)
                .unwrap();
        }
        net.run_until_idle();
        assert_eq!(drain(&mut net, server).len(), fit, "{size}-byte datagrams");
    }
    // A smaller buffer holds fewer.
    net.udp_set_receive_buffer_size(server, 1).unwrap();
    assert_eq!(net.udp_options(server).unwrap().receive_buffer, 1152);
    for _ in 0..10 {
        net.udp_send(client, Bytes::from(vec![1u8; 100]), to)
            .unwrap();
    }
    net.run_until_idle();
    assert_eq!(drain(&mut net, server).len(), 2);
}

#[test]
fn options_default_and_clamp_as_wasmtime_reports_them() {
    let (mut net, a, _) = world(LinkConfig::default());
    let s = net.create_udp_socket(a, Family::Ipv4).unwrap();
    let o = net.udp_options(s).unwrap();
    assert_eq!(
        (o.unicast_hop_limit, o.receive_buffer, o.send_buffer),
        (64, 106_496, 106_496)
    );
    assert_eq!(
        net.udp_set_unicast_hop_limit(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        net.udp_set_receive_buffer_size(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        net.udp_set_send_buffer_size(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    net.udp_set_send_buffer_size(s, 1).unwrap();
    net.udp_set_receive_buffer_size(s, 1 << 40).unwrap();
    let o = net.udp_options(s).unwrap();
    assert_eq!((o.receive_buffer, o.send_buffer), (4_194_304, 2304));
}

#[test]
fn partitions_crashes_and_clogs_apply_to_datagrams() {
    let (mut net, a, b) = world(LinkConfig::with_latency(Duration::from_millis(1)));
    let server = bound(&mut net, b, "10.0.0.2:9");
    let client = bound(&mut net, a, "10.0.0.1:0");
    let to = Some(addr("10.0.0.2:9"));
    let send = |net: &mut Net, what: &'static [u8]| {
        net.udp_send(client, Bytes::from_static(what), to).unwrap();
        net.run_until_idle();
    };
    net.apply_fault(&Fault::Partition {
        from: vec![a],
        to: vec![b],
        one_way: false,
    })
    .unwrap();
    send(&mut net, b"cut");
    assert!(drain(&mut net, server).is_empty());
    net.apply_fault(&Fault::Heal {
        from: vec![a],
        to: vec![b],
    })
    .unwrap();
    net.apply_fault(&Fault::Clog {
        from: a,
        to: b,
        one_way: true,
    })
    .unwrap();
    send(&mut net, b"held");
    assert!(drain(&mut net, server).is_empty());
    net.apply_fault(&Fault::Release { from: a, to: b }).unwrap();
    assert_eq!(drain(&mut net, server), vec![b"held".to_vec()]);
    net.apply_fault(&Fault::Crash {
        host: b,
        mode: simnet_core::CrashMode::Silent,
    })
    .unwrap();
    // The crash closed the server's socket.
    assert_eq!(net.udp_receive(server), Err(ErrorCode::InvalidArgument));
    send(&mut net, b"down");
    let reasons = drop_reasons(&net);
    assert_eq!(reasons, vec![DropReason::Partitioned, DropReason::HostDown]);
}

#[test]
fn jitter_reorders_datagrams_and_a_duplicating_link_copies_them() {
    let link = LinkConfig {
        jitter: Duration::from_millis(10),
        ..LinkConfig::with_latency(Duration::from_millis(1))
    };
    let (mut net, a, b) = world(link);
    let server = bound(&mut net, b, "10.0.0.2:9");
    let client = bound(&mut net, a, "10.0.0.1:0");
    let to = Some(addr("10.0.0.2:9"));
    for i in 0..50u8 {
        net.udp_send(client, Bytes::from(vec![i]), to).unwrap();
    }
    net.run_until_idle();
    let got: Vec<u8> = drain(&mut net, server).into_iter().map(|d| d[0]).collect();
    assert_eq!(got.len(), 50);
    assert!(
        got.windows(2).any(|w| w[0] > w[1]),
        "jitter reordered nothing: {got:?}"
    );
    net.set_link(
        a,
        b,
        LinkConfig {
            duplicate: 1.0,
            ..LinkConfig::default()
        },
    )
    .unwrap();
    net.udp_send(client, Bytes::from_static(b"twice"), to)
        .unwrap();
    net.run_until_idle();
    assert_eq!(
        drain(&mut net, server),
        vec![b"twice".to_vec(), b"twice".to_vec()]
    );
    assert!(
        LinkConfig {
            duplicate: 1.5,
            ..LinkConfig::default()
        }
        .validate()
        .is_err()
    );
}

#[test]
fn capture_keeps_datagrams_and_icmp_with_their_fate() {
    let (mut net, a, b) = world(LinkConfig::default());
    net.enable_capture();
    let server = bound(&mut net, b, "10.0.0.2:9");
    let client = bound(&mut net, a, "10.0.0.1:0");
    net.udp_send(client, Bytes::from_static(b"hi"), Some(addr("10.0.0.2:9")))
        .unwrap();
    net.udp_send(client, Bytes::from_static(b"?"), Some(addr("10.0.0.2:10")))
        .unwrap();
    net.run_until_idle();
    assert_eq!(drain(&mut net, server).len(), 1);
    let kinds: Vec<(simnet_core::DatagramKind, simnet_core::Fate, Vec<u8>)> = net
        .captured()
        .map(|c| match c.transport {
            Transport::Udp(h) => (h.kind, c.fate, c.payload.to_vec()),
            Transport::Tcp { .. } => panic!("no TCP here"),
        })
        .collect();
    use simnet_core::{DatagramKind as K, Fate as F};
    assert_eq!(
        kinds,
        vec![
            (K::Data, F::Delivered, b"hi".to_vec()),
            (K::Data, F::Dropped(DropReason::NoSocket), b"?".to_vec()),
            // The answer carries the datagram it quotes, for a capture to show.
            (K::PortUnreachable, F::Delivered, b"?".to_vec()),
        ]
    );
}

#[test]
fn the_same_seed_gives_the_same_udp_trace() {
    let run = |seed: u64| {
        let link = LinkConfig {
            jitter: Duration::from_millis(3),
            loss: 0.2,
            duplicate: 0.1,
            ..LinkConfig::with_latency(Duration::from_millis(1))
        };
        let mut net = Net::with_config(
            seed,
            NetConfig {
                default_link: link,
                ..NetConfig::default()
            },
        );
        let a = net.add_host("a", &["10.0.0.1".parse().unwrap()]).unwrap();
        let b = net.add_host("b", &["10.0.0.2".parse().unwrap()]).unwrap();
        let server = bound(&mut net, b, "10.0.0.2:9");
        let client = bound(&mut net, a, "0.0.0.0:0");
        for i in 0..200u32 {
            net.udp_send(
                client,
                Bytes::from(i.to_be_bytes().to_vec()),
                Some(addr("10.0.0.2:9")),
            )
            .unwrap();
            net.run_for(Duration::from_micros(300));
        }
        net.run_until_idle();
        (net.trace_hash(), drain(&mut net, server))
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5).0, run(6).0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The payload of datagram `id`: its number, then bytes derived from it, so any
    /// corruption, split or merge shows.
    fn body(id: u32, len: usize) -> Vec<u8> {
        let mut v = id.to_be_bytes().to_vec();
        v.extend((0..len).map(|i| (id as usize * 31 + i * 7) as u8));
        v
    }

    fn link() -> impl Strategy<Value = LinkConfig> {
        (
            0u64..5_000,
            0u64..5_000,
            prop_oneof![Just(0.0), 0.0..0.5f64],
            prop_oneof![Just(0.0), 0.0..1.0f64],
        )
            .prop_map(|(latency_us, jitter_us, loss, duplicate)| LinkConfig {
                jitter: Duration::from_micros(jitter_us),
                loss,
                duplicate,
                ..LinkConfig::with_latency(Duration::from_micros(latency_us))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the link does, a datagram arrives whole or not at all, from the
        /// socket that sent it, at the socket it was sent to, at most once (twice
        /// when the link duplicates); on a link that loses nothing every datagram
        /// arrives unless a full receive buffer dropped it.
        #[test]
        fn datagrams_arrive_whole_and_at_most_once_per_copy(
            link in link(),
            sends in proptest::collection::vec((0usize..3, 0usize..3, 0usize..3000, 0u64..2_000), 1..120),
            seed in any::<u64>(),
        ) {
            let duplicating = link.duplicate > 0.0;
            let mut net = Net::with_config(seed, NetConfig { default_link: link, ..NetConfig::default() });
            let hosts: Vec<HostId> = (0..3)
                .map(|i| net.add_host(&format!("h{i}"), &[format!("10.0.0.{}", i + 1).parse().unwrap()]).unwrap())
                .collect();
            let socks: Vec<SocketId> = hosts
                .iter()
                .enumerate()
                .map(|(i, &h)| bound(&mut net, h, &format!("10.0.0.{}:9", i + 1)))
                .collect();
            // Each datagram's (sender, receiver) by its number.
            let mut ends_of = BTreeMap::new();
            let mut got: BTreeMap<u32, u32> = BTreeMap::new();
            let mut check = |net: &mut Net, ends_of: &BTreeMap<u32, (usize, usize)>| -> Result<(), TestCaseError> {
                for (at, &s) in socks.iter().enumerate() {
                    while let Some(d) = net.udp_receive(s).unwrap() {
                        prop_assert!(d.payload.len() >= 4);
                        let id = u32::from_be_bytes(d.payload[..4].try_into().unwrap());
                        let (from, to) = ends_of[&id];
                        prop_assert_eq!(&d.payload[..], &body(id, d.payload.len() - 4)[..]);
                        prop_assert_eq!(d.src, addr(&format!("10.0.0.{}:9", from + 1)));
                        prop_assert_eq!(at, to, "datagram {} reached the wrong socket", id);
                        *got.entry(id).or_default() += 1;
                    }
                }
                Ok(())
            };
            for (id, &(from, to, len, wait_us)) in sends.iter().enumerate() {
                let id = id as u32;
                ends_of.insert(id, (from, to));
                let dst = addr(&format!("10.0.0.{}:9", to + 1));
                net.udp_send(socks[from], Bytes::from(body(id, len)), Some(dst)).unwrap();
                net.run_for(Duration::from_micros(wait_us));
                check(&mut net, &ends_of)?;
            }
            net.run_until_idle();
            check(&mut net, &ends_of)?;
            let most = if duplicating { 2 } else { 1 };
            for (&id, &n) in &got {
                prop_assert!(n <= most, "datagram {} arrived {} times", id, n);
            }
            if link.loss == 0.0 {
                let full = drop_reasons(&net)
                    .iter()
                    .filter(|&&r| r == DropReason::ReceiveBufferFull)
                    .count();
                prop_assert!(
                    got.len() + full >= sends.len(),
                    "{} of {} datagrams arrived, {} dropped by full buffers",
                    got.len(), sends.len(), full
                );
            }
        }
    }
}

#[test]
fn the_trace_keeps_each_header_once_and_records_stay_small() {
    let (mut net, a, b) = world(LinkConfig::default());
    let server = bound(&mut net, b, "10.0.0.2:9");
    let client = bound(&mut net, a, "10.0.0.1:4000");
    net.udp_send(client, Bytes::from_static(b"hey"), Some(addr("10.0.0.2:9")))
        .unwrap();
    net.run_until_idle();
    assert_eq!(drain(&mut net, server).len(), 1);
    let ids: Vec<simnet_core::DatagramId> = net
        .trace()
        .records()
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::DatagramSent { dgram } | TraceEvent::DatagramDelivered { dgram } => {
                Some(dgram)
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
    // One datagram, one header kept.
    assert!(
        net.trace()
            .datagram(simnet_core::DatagramId(ids[0].0 + 1))
            .is_none()
    );
    let header = net.trace().datagram(ids[0]).unwrap();
    assert_eq!(
        (header.src, header.dst, header.len),
        (addr("10.0.0.1:4000"), addr("10.0.0.2:9"), 3)
    );
    assert_eq!((header.from, header.to), (a, b));
    // A record is no larger than a TCP segment's, whatever the protocol.
    assert!(std::mem::size_of::<simnet_core::TraceRecord>() <= 48);
}

#[test]
fn a_sender_without_pause_cannot_fill_memory_with_datagrams_in_flight() {
    let mut config = NetConfig {
        trace: TraceMode::Full,
        ..NetConfig::default()
    };
    config.udp.max_in_flight_bytes = 64 << 10;
    let mut net = Net::with_config(3, config);
    let a = net.add_host("a", &["10.0.0.1".parse().unwrap()]).unwrap();
    let b = net.add_host("b", &["10.0.0.2".parse().unwrap()]).unwrap();
    net.set_link(a, b, LinkConfig::with_latency(Duration::from_secs(1)))
        .unwrap();
    let server = bound(&mut net, b, "10.0.0.2:9");
    net.udp_set_receive_buffer_size(server, 1 << 30).unwrap();
    let client = bound(&mut net, a, "10.0.0.1:0");
    let to = Some(addr("10.0.0.2:9"));
    // 1,000 sends of 1 KiB while the first is still on its way: 56 go out (each
    // counts 1,024 + 128 bytes), the rest are dropped at once, and the sender is not
    // told (as with a full queue).
    for _ in 0..1000 {
        assert_eq!(
            net.udp_send(client, Bytes::from(vec![0u8; 1024]), to),
            Ok(())
        );
    }
    net.run_until_idle();
    assert_eq!(drain(&mut net, server).len(), 56);
    let full = drop_reasons(&net)
        .iter()
        .filter(|&&r| r == DropReason::NetworkFull)
        .count();
    assert_eq!(full, 944);
    // Once they have landed there is room again.
    net.udp_send(client, Bytes::from(vec![0u8; 1024]), to)
        .unwrap();
    net.run_until_idle();
    assert_eq!(drain(&mut net, server).len(), 1);
}

#[test]
fn connecting_moves_the_port_and_closing_frees_it() {
    let (mut net, a, _) = world(LinkConfig::default());
    for _ in 0..3 {
        let s = bound(&mut net, a, "0.0.0.0:4444");
        net.udp_connect(s, addr("10.0.0.2:7")).unwrap();
        // Another socket may take the port on another address, as on Linux.
        let other = bound(&mut net, a, "127.0.0.1:4444");
        net.close(other).unwrap();
        net.close(s).unwrap();
    }
    // Clients that bind port 0 and connect leave nothing behind either.
    for _ in 0..40_000 {
        let s = bound(&mut net, a, "0.0.0.0:0");
        net.udp_connect(s, addr("10.0.0.2:7")).unwrap();
        net.close(s).unwrap();
    }
    let s = bound(&mut net, a, "0.0.0.0:4444");
    net.udp_connect(s, addr("10.0.0.2:7")).unwrap();
    net.udp_disconnect(s).unwrap();
    assert_eq!(net.udp_local_address(s).unwrap(), addr("0.0.0.0:4444"));
}

#[test]
fn addresses_are_checked_as_linux_routes_them() {
    let (mut net, a, b) = world(LinkConfig::default());
    let server = bound(&mut net, b, "10.0.0.2:9");
    // A loopback address reaches its own host's addresses, not another host.
    let lo = bound(&mut net, a, "127.0.0.1:0");
    let own = bound(&mut net, a, "10.0.0.1:9");
    net.udp_send(lo, Bytes::from_static(b"x"), Some(addr("10.0.0.1:9")))
        .unwrap();
    assert_eq!(
        net.udp_send(lo, Bytes::from_static(b"x"), Some(addr("10.0.0.2:9"))),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        net.udp_connect(lo, addr("10.0.0.2:9")),
        Err(ErrorCode::InvalidArgument)
    );
    net.run_until_idle();
    assert_eq!(drain(&mut net, own).len(), 1);
    // Broadcast needs SO_BROADCAST, which WASI cannot set.
    assert_eq!(
        net.udp_send(
            own,
            Bytes::from_static(b"x"),
            Some(addr("255.255.255.255:9"))
        ),
        Err(ErrorCode::AccessDenied)
    );
    assert_eq!(
        net.udp_connect(own, addr("255.255.255.255:9")),
        Err(ErrorCode::AccessDenied)
    );
    // A socket bound to a group address sends from the host's own.
    let group = bound(&mut net, a, "224.0.0.1:0");
    net.udp_send(group, Bytes::from_static(b"g"), Some(addr("10.0.0.2:9")))
        .unwrap();
    net.run_until_idle();
    let d = net.udp_receive(server).unwrap().unwrap();
    assert_eq!(d.src.ip(), "10.0.0.1".parse::<std::net::IpAddr>().unwrap());
    // A reconnect takes the new route's source address.
    let wild = bound(&mut net, a, "0.0.0.0:0");
    net.udp_connect(wild, addr("127.0.0.1:9")).unwrap();
    assert!(net.udp_local_address(wild).unwrap().ip().is_loopback());
    net.udp_connect(wild, addr("10.0.0.2:9")).unwrap();
    assert_eq!(
        net.udp_local_address(wild).unwrap().ip(),
        "10.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
}

#[test]
fn an_ipv6_flow_label_is_not_part_of_the_connected_address() {
    let mut net = Net::new(1);
    let a = net.add_host("a", &["fd00::1".parse().unwrap()]).unwrap();
    let server = net.create_udp_socket(a, Family::Ipv6).unwrap();
    net.udp_bind(server, addr("[::1]:9")).unwrap();
    let client = net.create_udp_socket(a, Family::Ipv6).unwrap();
    net.udp_bind(client, addr("[::1]:0")).unwrap();
    let labelled = SocketAddr::V6(std::net::SocketAddrV6::new("::1".parse().unwrap(), 9, 7, 0));
    net.udp_connect(client, labelled).unwrap();
    assert_eq!(net.udp_remote_address(client).unwrap(), addr("[::1]:9"));
    // wasmtime-wasi compares a send's address with the kernel's (label-free) one.
    assert_eq!(
        net.udp_send(client, Bytes::from_static(b"x"), Some(labelled)),
        Err(ErrorCode::InvalidArgument)
    );
    net.udp_send(client, Bytes::from_static(b"ping"), None)
        .unwrap();
    net.settle();
    let d = net.udp_receive(server).unwrap().unwrap();
    net.udp_send(server, d.payload, Some(d.src)).unwrap();
    net.settle();
    assert_eq!(
        &net.udp_receive(client).unwrap().unwrap().payload[..],
        b"ping"
    );
}

#[test]
fn an_empty_queue_takes_a_datagram_larger_than_the_buffer() {
    let (mut net, a, b) = world(LinkConfig::default());
    let server = bound(&mut net, b, "10.0.0.2:9");
    net.udp_set_receive_buffer_size(server, 1).unwrap();
    let client = bound(&mut net, a, "10.0.0.1:0");
    for _ in 0..2 {
        net.udp_send(
            client,
            Bytes::from(vec![0u8; 2000]),
            Some(addr("10.0.0.2:9")),
        )
        .unwrap();
    }
    net.run_until_idle();
    assert_eq!(drain(&mut net, server).len(), 1);
}

#[test]
fn datagrams_held_by_a_clog_meet_a_host_that_went_down_meanwhile() {
    let (mut net, a, b) = world(LinkConfig::with_latency(Duration::from_millis(1)));
    let _server = bound(&mut net, b, "10.0.0.2:9");
    let client = bound(&mut net, a, "10.0.0.1:0");
    net.apply_fault(&Fault::Clog {
        from: a,
        to: b,
        one_way: true,
    })
    .unwrap();
    net.udp_send(client, Bytes::from_static(b"x"), Some(addr("10.0.0.2:9")))
        .unwrap();
    net.run_until_idle();
    net.apply_fault(&Fault::Crash {
        host: b,
        mode: simnet_core::CrashMode::Silent,
    })
    .unwrap();
    net.apply_fault(&Fault::Release { from: a, to: b }).unwrap();
    net.run_until_idle();
    let events: Vec<String> = net
        .trace()
        .records()
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::DatagramDropped { reason, .. } => Some(format!("{reason:?}")),
            TraceEvent::DatagramSent { .. } => Some("sent".into()),
            _ => None,
        })
        .collect();
    // No ICMP answer from the host that is down.
    assert_eq!(events, vec!["sent", "HostDown"]);
}
