//! Same seed, same run: a non-trivial scenario (several hosts, loss, jitter, latency
//! distributions, bandwidth) gives the same trace hash and the same records every time,
//! and different seeds give different traces.

use std::net::SocketAddr;
use std::time::Duration;

use simnet_core::{Family, Interest, Latency, LinkConfig, Net, SocketId, TraceRecord};

const SERVER: &str = "10.1.0.1:9000";

/// Five clients exchange 20 KiB each with one server over lossy, jittery links.
fn scenario(seed: u64) -> (u64, Vec<TraceRecord>, Vec<u8>) {
    let mut net = Net::new(seed);
    net.set_default_link(LinkConfig {
        latency: Latency::Normal {
            mean: Duration::from_millis(5),
            std_dev: Duration::from_millis(2),
        },
        jitter: Duration::from_millis(3),
        loss: 0.05,
        bandwidth: Some(50_000_000),
        duplicate: 0.0,
    })
    .unwrap();
    let server_host = net
        .add_host("server", &["10.1.0.1".parse().unwrap()])
        .unwrap();
    let listener = net.create_tcp_socket(server_host, Family::Ipv4).unwrap();
    net.bind(listener, SERVER.parse().unwrap()).unwrap();
    net.listen(listener).unwrap();
    let mut clients = Vec::new();
    for i in 0..5u8 {
        let h = net
            .add_host(&format!("c{i}"), &[format!("10.1.1.{i}").parse().unwrap()])
            .unwrap();
        if i == 3 {
            let tail = Latency::Pareto {
                min: Duration::from_millis(2),
                alpha: 1.5,
                max: Duration::from_millis(400),
            };
            net.set_link(
                h,
                server_host,
                LinkConfig {
                    latency: tail,
                    loss: 0.1,
                    ..LinkConfig::default()
                },
            )
            .unwrap();
        }
        let s = net.create_tcp_socket(h, Family::Ipv4).unwrap();
        net.begin_connect(s, SERVER.parse::<SocketAddr>().unwrap())
            .unwrap();
        clients.push((s, 0usize));
    }
    let payload: Vec<u8> = (0..20_480u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut accepted: Vec<SocketId> = Vec::new();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while net.step() {
        while let Ok((s, _)) = net.accept(listener) {
            accepted.push(s);
        }
        for &s in &accepted {
            while let Ok(n) = net.read(s, &mut buf) {
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buf[..n]);
            }
        }
        for (s, sent) in clients.iter_mut() {
            if net.is_ready(*s, Interest::Socket) {
                let _ = net.connect_outcome(*s);
            }
            if *sent < payload.len()
                && let Ok(n) = net.write(*s, &payload[*sent..])
            {
                *sent += n;
            }
        }
    }
    assert!(
        clients.iter().all(|&(_, sent)| sent == payload.len()),
        "every client sent everything"
    );
    (net.trace_hash(), net.trace().records().to_vec(), received)
}

#[test]
fn same_seed_gives_identical_trace_and_bytes() {
    let (h1, r1, b1) = scenario(0xfeed);
    let (h2, r2, b2) = scenario(0xfeed);
    assert_eq!(b1.len(), 5 * 20_480);
    assert_eq!(h1, h2);
    assert_eq!(r1, r2);
    assert_eq!(b1, b2);
    let lost = r1
        .iter()
        .filter(|r| matches!(r.event, simnet_core::TraceEvent::SegmentLost { .. }))
        .count();
    assert!(lost > 0, "the scenario must exercise loss");
}

#[test]
fn different_seeds_give_different_traces() {
    let (h1, r1, _) = scenario(1);
    let (h2, r2, _) = scenario(2);
    assert_ne!(h1, h2);
    assert_ne!(r1, r2);
}

#[test]
fn adding_a_host_does_not_perturb_another_links_draws() {
    // Loss on the a->b link depends only on the seed and the link's name.
    let lost_on_ab = |extra_host: bool| {
        let mut net = Net::new(77);
        net.set_default_link(LinkConfig {
            loss: 0.3,
            ..LinkConfig::default()
        })
        .unwrap();
        let a = net.add_host("a", &["10.0.0.1".parse().unwrap()]).unwrap();
        if extra_host {
            net.add_host("z", &["10.0.0.9".parse().unwrap()]).unwrap();
        }
        let b = net.add_host("b", &["10.0.0.2".parse().unwrap()]).unwrap();
        let l = net.create_tcp_socket(b, Family::Ipv4).unwrap();
        net.bind(l, "10.0.0.2:1".parse().unwrap()).unwrap();
        net.listen(l).unwrap();
        let s = net.create_tcp_socket(a, Family::Ipv4).unwrap();
        let _ = net.connect(s, "10.0.0.2:1".parse().unwrap());
        net.trace()
            .records()
            .iter()
            .filter_map(|r| match r.event {
                simnet_core::TraceEvent::SegmentLost { seg } => Some((r.time, seg.flags, seg.from)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(lost_on_ab(false), lost_on_ab(true));
}
