//! Network faults: partitions, clogs, link changes, crashes, restarts and resets act
//! on segments in flight and show in the trace.

use std::time::Duration;

use simnet_core::{
    CrashMode, DropReason, ErrorCode, Fault, FaultEvent, HostId, LinkConfig, Net, SocketId,
    StreamError, TraceEvent,
};

/// Two hosts 10 ms apart with an established connection (client on a, server on b).
fn connected() -> (Net, HostId, HostId, SocketId, SocketId) {
    let mut net = Net::new(1);
    let a = net.add_host("a", &["10.0.0.1".parse().unwrap()]).unwrap();
    let b = net.add_host("b", &["10.0.0.2".parse().unwrap()]).unwrap();
    net.set_link(a, b, LinkConfig::with_latency(Duration::from_millis(10)))
        .unwrap();
    let l = net.create_tcp_socket(b, simnet_core::Family::Ipv4).unwrap();
    net.bind(l, "10.0.0.2:80".parse().unwrap()).unwrap();
    net.listen(l).unwrap();
    let c = net.create_tcp_socket(a, simnet_core::Family::Ipv4).unwrap();
    net.connect(c, "10.0.0.2:80".parse().unwrap()).unwrap();
    net.run_until_idle();
    let (s, _) = net.accept(l).unwrap();
    (net, a, b, c, s)
}

fn read_all(net: &mut Net, s: SocketId) -> Result<Vec<u8>, StreamError> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match net.read(s, &mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(StreamError::Closed) => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

fn faults(net: &Net) -> Vec<FaultEvent> {
    net.trace()
        .records()
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::Fault(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn dropped(net: &Net, reason: DropReason) -> usize {
    net.trace()
        .records()
        .iter()
        .filter(
            |r| matches!(r.event, TraceEvent::SegmentDropped { reason: r2, .. } if r2 == reason),
        )
        .count()
}

#[test]
fn a_partition_drops_segments_in_flight_and_healing_lets_retransmissions_through() {
    let (mut net, a, b, c, s) = connected();
    net.write(c, b"hello").unwrap();
    // The segment is on the wire (10 ms); the partition catches it on arrival.
    net.run_for(Duration::from_millis(5));
    net.apply_fault(&Fault::Partition {
        from: vec![a],
        to: vec![b],
        one_way: false,
    })
    .unwrap();
    net.run_for(Duration::from_millis(100));
    assert!(dropped(&net, DropReason::Partitioned) >= 1);
    assert_eq!(read_all(&mut net, s).unwrap(), b"");
    assert!(net.is_partitioned(a, b) && net.is_partitioned(b, a));
    net.apply_fault(&Fault::Heal {
        from: vec![a],
        to: vec![b],
    })
    .unwrap();
    net.run_for(Duration::from_secs(3));
    assert_eq!(read_all(&mut net, s).unwrap(), b"hello");
    assert_eq!(
        faults(&net),
        vec![
            FaultEvent::Partitioned { from: a, to: b },
            FaultEvent::Partitioned { from: b, to: a },
            FaultEvent::Healed { from: a, to: b },
            FaultEvent::Healed { from: b, to: a },
        ]
    );
}

#[test]
fn a_one_way_partition_blocks_one_direction_only() {
    let (mut net, a, b, c, s) = connected();
    net.apply_fault(&Fault::Partition {
        from: vec![b],
        to: vec![a],
        one_way: true,
    })
    .unwrap();
    net.write(c, b"up").unwrap();
    net.write(s, b"down").unwrap();
    net.run_for(Duration::from_millis(50));
    assert_eq!(read_all(&mut net, s).unwrap(), b"up");
    assert_eq!(read_all(&mut net, c).unwrap(), b"");
}

#[test]
fn a_clog_holds_segments_and_releases_them_in_order() {
    let (mut net, a, b, c, s) = connected();
    net.apply_fault(&Fault::Clog {
        from: a,
        to: b,
        one_way: true,
    })
    .unwrap();
    for chunk in [&b"one "[..], b"two ", b"three"] {
        net.write(c, chunk).unwrap();
        net.run_for(Duration::from_millis(1));
    }
    net.run_for(Duration::from_millis(150));
    assert_eq!(read_all(&mut net, s).unwrap(), b"", "held, not delivered");
    assert_eq!(dropped(&net, DropReason::Partitioned), 0);
    net.apply_fault(&Fault::Release { from: a, to: b }).unwrap();
    // The held segments arrive at once; Nagle sent only the first chunk before the
    // clog, the rest follows its acknowledgement.
    net.run_for(Duration::from_millis(10));
    assert_eq!(read_all(&mut net, s).unwrap(), b"one ");
    net.run_for(Duration::from_millis(500));
    assert_eq!(read_all(&mut net, s).unwrap(), b"two three");
    assert!(
        matches!(faults(&net)[1], FaultEvent::Released { from, to, segments } if from == a && to == b && segments == 1)
    );
}

#[test]
fn changing_a_link_applies_from_then_on() {
    let (mut net, a, b, c, s) = connected();
    net.apply_fault(&Fault::SetLink {
        a,
        b,
        config: LinkConfig::with_latency(Duration::from_millis(300)),
    })
    .unwrap();
    let start = net.now();
    net.write(c, b"slow").unwrap();
    net.run_while_not(|n| n.readable_bytes(s) > 0);
    assert_eq!(net.now().since(start), Duration::from_millis(300));
    assert_eq!(faults(&net), vec![FaultEvent::LinkChanged { a, b }]);
}

#[test]
fn a_reset_crash_resets_the_peers() {
    let (mut net, _a, b, c, _s) = connected();
    net.apply_fault(&Fault::Crash {
        host: b,
        mode: CrashMode::Reset,
    })
    .unwrap();
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        read_all(&mut net, c),
        Err(StreamError::Failed(ErrorCode::ConnectionReset))
    );
    assert_eq!(net.open_sockets(b), 0);
    assert!(!net.is_host_down(b));
}

#[test]
fn a_silent_crash_leaves_the_peer_to_its_timeouts_and_a_restart_answers_with_rst() {
    let (mut net, _a, b, c, _s) = connected();
    net.apply_fault(&Fault::Crash {
        host: b,
        mode: CrashMode::Silent,
    })
    .unwrap();
    assert!(net.is_host_down(b));
    assert_eq!(net.open_sockets(b), 0);
    net.write(c, b"anyone?").unwrap();
    net.run_for(Duration::from_secs(5));
    // Nothing came back: the write is still being retransmitted.
    assert_eq!(read_all(&mut net, c).unwrap(), b"");
    assert!(dropped(&net, DropReason::HostDown) >= 2);
    // After the restart the host has no such connection and resets it.
    net.apply_fault(&Fault::Restart { host: b }).unwrap();
    net.run_for(Duration::from_secs(20));
    assert_eq!(
        read_all(&mut net, c),
        Err(StreamError::Failed(ErrorCode::ConnectionReset))
    );
    assert!(faults(&net).contains(&FaultEvent::HostRestarted { host: b }));
}

#[test]
fn resetting_a_connection_fails_both_ends() {
    let (mut net, a, b, c, s) = connected();
    net.apply_fault(&Fault::ResetRandomConnection {
        between: vec![a, b],
    })
    .unwrap();
    assert_eq!(
        read_all(&mut net, c),
        Err(StreamError::Failed(ErrorCode::ConnectionReset))
    );
    assert_eq!(
        read_all(&mut net, s),
        Err(StreamError::Failed(ErrorCode::ConnectionReset))
    );
    assert!(matches!(
        faults(&net)[..],
        [FaultEvent::ConnectionReset { .. }]
    ));
}

#[test]
fn faults_are_deterministic_and_change_the_trace_hash() {
    let run = |with_fault: bool| {
        let (mut net, a, b, c, _) = connected();
        if with_fault {
            net.apply_fault(&Fault::Partition {
                from: vec![a],
                to: vec![b],
                one_way: true,
            })
            .unwrap();
        }
        net.write(c, b"x").unwrap();
        net.run_for(Duration::from_secs(2));
        net.trace_hash()
    };
    assert_eq!(run(true), run(true));
    assert_ne!(run(true), run(false));
}

/// A partition or clog that names a host on both sides, or no host on a side, cuts
/// nothing: it is refused rather than traced as applied.
#[test]
fn faults_that_would_cut_nothing_are_refused() {
    let (mut net, a, b, _, _) = connected();
    let partition = |from: Vec<HostId>, to: Vec<HostId>| Fault::Partition {
        from,
        to,
        one_way: false,
    };
    for bad in [
        partition(vec![a], vec![a]),
        partition(vec![a, b], vec![b]),
        partition(vec![], vec![b]),
        Fault::Heal {
            from: vec![b],
            to: vec![b],
        },
        Fault::Clog {
            from: a,
            to: a,
            one_way: true,
        },
    ] {
        let before = net.trace().len();
        assert!(net.apply_fault(&bad).is_err(), "{bad:?}");
        assert!(
            net.schedule_fault(net.now(), bad.clone()).is_err(),
            "{bad:?}"
        );
        assert_eq!(net.trace().len(), before, "{bad:?} left a record");
    }
    assert!(net.apply_fault(&partition(vec![a], vec![b])).is_ok());
}

/// Host names are what guests resolve: names a lookup would read as an address,
/// `localhost`, and names that are no domain name are refused with the reason.
#[test]
fn host_names_must_be_names_a_guest_can_resolve() {
    let mut net = Net::new(1);
    let ip = |i: u8| std::net::IpAddr::from([10, 0, 0, i]);
    for (i, bad) in [
        "localhost",
        "LocalHost",
        "10.0.0.2",
        "127.1",
        "0x7f.0.0.1",
        "..",
        "-",
        "a..b",
        "-a",
        "a-",
        "",
        "has space",
    ]
    .into_iter()
    .enumerate()
    {
        let e = net.add_host(bad, &[ip(i as u8 + 1)]).unwrap_err();
        assert!(
            matches!(e, simnet_core::NetError::InvalidHostName(_)),
            "{bad:?}: {e}"
        );
    }
    for (i, good) in ["server", "db-1", "a_b.c", "Bücher", "n1.cluster.local"]
        .into_iter()
        .enumerate()
    {
        net.add_host(good, &[ip(i as u8 + 100)])
            .unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    assert_eq!(
        net.add_host("server", &[ip(200)]),
        Err(simnet_core::NetError::DuplicateHost("server".into()))
    );
}
