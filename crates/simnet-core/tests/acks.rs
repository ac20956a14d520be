//! When receivers acknowledge data, as Linux decides it: at once at the start of a
//! connection and after idle spells (quick-ACK mode), delayed to ride on the answer in
//! interactive exchanges (ping-pong mode). Programs feel the difference as latency:
//! a writer whose next small segment waits behind Nagle for an ACK.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use simnet_core::{Family, HostId, LinkConfig, Net, SimTime, SocketId};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Hosts `a` and `b` over a link of 5 ms each way, with a client on `a` connected to
/// a listener on `b`: (net, client, accepted).
fn connected() -> (Net, SocketId, SocketId) {
    let mut net = Net::new(11);
    let a = net.add_host("a", &[ip("10.0.0.1")]).unwrap();
    let b = net.add_host("b", &[ip("10.0.0.2")]).unwrap();
    link(&mut net, a, b);
    let l = net.create_tcp_socket(b, Family::Ipv4).unwrap();
    net.bind(l, sa("10.0.0.2:80")).unwrap();
    net.listen(l).unwrap();
    let c = net.create_tcp_socket(a, Family::Ipv4).unwrap();
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    net.run_for(Duration::from_millis(20));
    let (s, _) = net.accept(l).unwrap();
    (net, c, s)
}

fn link(net: &mut Net, a: HostId, b: HostId) {
    net.set_link(a, b, LinkConfig::with_latency(Duration::from_millis(5)))
        .unwrap();
}

/// Run until `to` has `n` bytes to read, then read them; returns when they came.
fn receive(net: &mut Net, to: SocketId, n: usize) -> SimTime {
    assert!(
        net.run_while_not(|net| net.readable_bytes(to) >= n),
        "{n} bytes never arrived"
    );
    let mut buf = vec![0; n];
    assert_eq!(net.read(to, &mut buf).unwrap(), n);
    net.now()
}

fn millis(from: SimTime, to: SimTime) -> u64 {
    (to.as_nanos() - from.as_nanos()) / 1_000_000
}

/// Segments the capture holds so far.
fn segments(net: &Net) -> usize {
    net.captured().count()
}

#[test]
fn small_writes_on_a_fresh_connection_are_acknowledged_at_once() {
    let (mut net, c, s) = connected();
    let start = net.now();
    // Each write waits (Nagle) for the previous one's ACK; quick ACKs come back after
    // one round trip, so each write takes one round trip (10 ms), not a delayed ACK
    // (40 ms) on top.
    for _ in 0..5 {
        net.write(c, b"tick").unwrap();
        receive(&mut net, s, 4);
    }
    let took = millis(start, net.now());
    assert!(took <= 45, "five small writes took {took} ms");
}

#[test]
fn an_interactive_exchange_lets_acks_ride_on_the_answers() {
    let (mut net, c, s) = connected();
    net.enable_capture();
    let mut per_round = Vec::new();
    for _ in 0..10 {
        let before = segments(&net);
        net.write(c, b"request").unwrap();
        receive(&mut net, s, 7);
        net.write(s, b"response").unwrap();
        receive(&mut net, c, 8);
        // Let any ACK still owed go out before the next request.
        net.run_for(Duration::from_millis(1));
        per_round.push(segments(&net) - before);
    }
    // At first the server acknowledges a request at once (request, ACK, response,
    // ACK); once both ends answer what they receive, each ACK rides on the next
    // message: two segments a round.
    assert!(per_round[0] > 2, "{per_round:?}");
    assert!(
        per_round[3..].iter().all(|&n| n == 2),
        "segments per round: {per_round:?}"
    );
}

#[test]
fn an_unanswered_segment_in_an_interactive_exchange_waits_for_the_delayed_ack() {
    let (mut net, c, s) = connected();
    for _ in 0..3 {
        net.write(c, b"request").unwrap();
        receive(&mut net, s, 7);
        net.write(s, b"response").unwrap();
        receive(&mut net, c, 8);
    }
    // The client now writes twice without waiting for an answer: the second small
    // write waits behind Nagle for the server's ACK of the first, which the server
    // holds back for its answer until its delayed-ACK timer (40 ms) fires.
    let start = net.now();
    net.write(c, b"head").unwrap();
    receive(&mut net, s, 4);
    net.write(c, b"body").unwrap();
    let took = millis(start, receive(&mut net, s, 4));
    assert!((45..=60).contains(&took), "the second write took {took} ms");
    // The timeout ended the interactive mode: ACKs go out at once again, and two
    // more small writes take two round trips (the first waits for the ACK of "body").
    let start = net.now();
    net.write(c, b"more").unwrap();
    receive(&mut net, s, 4);
    net.write(c, b"again").unwrap();
    let took = millis(start, receive(&mut net, s, 5));
    assert!(took <= 20, "after the timeout two writes took {took} ms");
}

/// The peer leaves what it gets unread, so only the ACK policy sends ACKs: the
/// client's second small write waits behind Nagle for the first one's ACK.
fn second_write_waits(net: &mut Net, c: SocketId, s: SocketId) -> u64 {
    let start = net.now();
    net.write(c, b"a").unwrap();
    assert!(net.run_while_not(|net| net.readable_bytes(s) >= 1));
    net.write(c, b"b").unwrap();
    assert!(net.run_while_not(|net| net.readable_bytes(s) >= 2));
    let took = millis(start, net.now());
    let mut buf = [0; 2];
    assert_eq!(net.read(s, &mut buf).unwrap(), 2);
    took
}

#[test]
fn a_connection_idle_longer_than_its_rto_acknowledges_at_once_again() {
    let (mut net, c, s) = connected();
    // Spend the quick ACKs a fresh connection starts with.
    for _ in 0..10 {
        second_write_waits(&mut net, c, s);
    }
    let spent = second_write_waits(&mut net, c, s);
    assert!(spent >= 40, "without quick ACKs the write took {spent} ms");
    net.run_for(Duration::from_secs(1));
    let idle = second_write_waits(&mut net, c, s);
    assert!(idle <= 15, "after idle the write took {idle} ms");
}

#[test]
fn a_reader_that_empties_its_buffer_acknowledges_a_small_segment_at_once() {
    let (mut net, c, s) = connected();
    // Long after the quick ACKs are spent, each small write is read at once, and the
    // read that empties the buffer sends the ACK (Linux's tcp_cleanup_rbuf): no
    // write waits for the delayed-ACK timer.
    let mut slowest = 0;
    for _ in 0..60 {
        let start = net.now();
        net.write(c, b"x").unwrap();
        receive(&mut net, s, 1);
        net.write(c, b"y").unwrap();
        slowest = slowest.max(millis(start, receive(&mut net, s, 1)));
    }
    // Two round trips at most (each write may wait for the previous one's ACK).
    assert!(slowest <= 20, "a pair of writes took {slowest} ms");
}
