//! One test per state transition and per error-code path of the socket API, checked
//! against the semantics of wasmtime-wasi 48 on Linux (which the model copies).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use simnet_core::{
    BacklogOverflow, ErrorCode, Family, HostId, Interest, LinkConfig, Net, NetConfig, ShutdownType,
    SimTime, SocketId, StreamError, TcpConfig, TcpState, TraceEvent,
};

// ---- helpers ----

const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn secs(s: u64) -> SimTime {
    SimTime::from_nanos(s * 1_000_000_000)
}

/// Host `a` owns 10.0.0.1 and fd00::1, host `b` owns 10.0.0.2 and fd00::2.
fn net_with(config: NetConfig) -> (Net, HostId, HostId) {
    let mut net = Net::with_config(7, config);
    let a = net.add_host("a", &[ip("10.0.0.1"), ip("fd00::1")]).unwrap();
    let b = net.add_host("b", &[ip("10.0.0.2"), ip("fd00::2")]).unwrap();
    (net, a, b)
}

fn two_hosts() -> (Net, HostId, HostId) {
    net_with(NetConfig::default())
}

/// Two hosts whose link takes 5 ms each way (a handshake takes 10 ms).
fn two_hosts_slow() -> (Net, HostId, HostId) {
    let (mut net, a, b) = two_hosts();
    net.set_link(a, b, LinkConfig::with_latency(Duration::from_millis(5)))
        .unwrap();
    (net, a, b)
}

fn v4(net: &mut Net, host: HostId) -> SocketId {
    net.create_tcp_socket(host, Family::Ipv4).unwrap()
}

fn v6(net: &mut Net, host: HostId) -> SocketId {
    net.create_tcp_socket(host, Family::Ipv6).unwrap()
}

fn state(net: &Net, s: SocketId) -> TcpState {
    net.state(s).unwrap()
}

/// A listening socket on `host` at `addr`.
fn listener(net: &mut Net, host: HostId, addr: &str) -> SocketId {
    let s = v4(net, host);
    net.bind(s, sa(addr)).unwrap();
    net.listen(s).unwrap();
    s
}

/// A socket of `a` bound to 10.0.0.1:0.
fn bound(net: &mut Net, a: HostId) -> SocketId {
    let s = v4(net, a);
    net.bind(s, sa("10.0.0.1:0")).unwrap();
    s
}

/// A socket of `a` connecting to 10.0.0.2:80 (needs a slow link or no stepping to
/// stay there).
fn connecting(net: &mut Net, a: HostId) -> SocketId {
    let s = v4(net, a);
    net.begin_connect(s, sa("10.0.0.2:80")).unwrap();
    s
}

/// A connected pair: (client on `a`, accepted socket on `b`, listener on `b`).
fn connected_pair(net: &mut Net, a: HostId, b: HostId) -> (SocketId, SocketId, SocketId) {
    let l = listener(net, b, "10.0.0.2:80");
    let c = v4(net, a);
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    net.run_until_idle();
    let (s, _) = net.accept(l).unwrap();
    (c, s, l)
}

/// A socket of `a` whose connect to 10.0.0.2:81 (no listener) failed: state Closed.
fn refused(net: &mut Net, a: HostId) -> SocketId {
    let s = v4(net, a);
    assert_eq!(
        net.connect(s, sa("10.0.0.2:81")),
        Err(ErrorCode::ConnectionRefused)
    );
    s
}

/// The state transitions the trace recorded for `s`, in order.
fn transitions(net: &Net, s: SocketId) -> Vec<(TcpState, TcpState)> {
    net.trace()
        .records()
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::StateChanged { socket, from, to } if socket == s => Some((from, to)),
            _ => None,
        })
        .collect()
}

/// Read everything available now (until `Ok(0)`).
fn drain(net: &mut Net, s: SocketId) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match net.read(s, &mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed: {e:?}"),
        }
    }
}

// ---- create ----

#[test]
fn create_socket_starts_unbound_with_its_family() {
    let (mut net, a, _) = two_hosts();
    let s4 = v4(&mut net, a);
    let s6 = v6(&mut net, a);
    assert_eq!(state(&net, s4), TcpState::Unbound);
    assert_eq!(state(&net, s6), TcpState::Unbound);
    assert_eq!(net.address_family(s4), Ok(Family::Ipv4));
    assert_eq!(net.address_family(s6), Ok(Family::Ipv6));
    assert_eq!(net.is_listening(s4), Ok(false));
}

#[test]
fn create_socket_beyond_limit_is_new_socket_limit() {
    let (mut net, a, _) = two_hosts();
    net.set_socket_limit(a, 2);
    let s1 = v4(&mut net, a);
    let _s2 = v4(&mut net, a);
    assert_eq!(
        net.create_tcp_socket(a, Family::Ipv4),
        Err(ErrorCode::NewSocketLimit)
    );
    assert_eq!(
        net.create_tcp_socket(a, Family::Ipv6),
        Err(ErrorCode::NewSocketLimit)
    );
    assert_eq!(net.open_sockets(a), 2);
    // Closing one frees a slot.
    net.close(s1).unwrap();
    assert_eq!(net.open_sockets(a), 1);
    assert!(net.create_tcp_socket(a, Family::Ipv4).is_ok());
}

// ---- bind: transitions ----

#[test]
fn bind_when_bound_is_invalid_state() {
    let (mut net, a, _) = two_hosts();
    let s = bound(&mut net, a);
    assert_eq!(
        net.bind(s, sa("10.0.0.1:9000")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(state(&net, s), TcpState::Bound);
}

#[test]
fn bind_when_listening_is_invalid_state() {
    let (mut net, _, b) = two_hosts();
    let l = listener(&mut net, b, "10.0.0.2:80");
    assert_eq!(
        net.bind(l, sa("10.0.0.2:9000")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(state(&net, l), TcpState::Listening);
}

#[test]
fn bind_when_connected_is_invalid_state() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(
        net.bind(c, sa("10.0.0.1:9000")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(
        net.bind(s, sa("10.0.0.2:9000")),
        Err(ErrorCode::InvalidState)
    );
}

#[test]
fn bind_when_closed_is_invalid_state() {
    let (mut net, a, _) = two_hosts();
    let s = refused(&mut net, a);
    assert_eq!(
        net.bind(s, sa("10.0.0.1:9000")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(state(&net, s), TcpState::Closed);
}

// ---- bind: invalid-argument ----

#[test]
fn bind_multicast_v4_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.bind(s, sa("224.0.0.1:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
}

#[test]
fn bind_broadcast_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.bind(s, sa("255.255.255.255:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
}

#[test]
fn bind_multicast_v6_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v6(&mut net, a);
    assert_eq!(
        net.bind(s, sa("[ff02::1]:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
}

#[test]
fn bind_v6_address_on_v4_socket_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.bind(s, sa("[fd00::1]:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(net.bind(s, sa("[::]:80")), Err(ErrorCode::InvalidArgument));
    assert_eq!(state(&net, s), TcpState::Unbound);
}

#[test]
fn bind_v4_address_on_v6_socket_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v6(&mut net, a);
    assert_eq!(
        net.bind(s, sa("10.0.0.1:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        net.bind(s, sa("0.0.0.0:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
}

#[test]
fn bind_ipv4_mapped_address_on_v6_socket_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v6(&mut net, a);
    assert_eq!(
        net.bind(s, sa("[::ffff:1.2.3.4]:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        net.bind(s, sa("[::ffff:10.0.0.1]:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
}

// ---- bind: address-not-bindable ----

#[test]
fn bind_other_hosts_address_is_address_not_bindable() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.bind(s, sa("10.0.0.2:80")),
        Err(ErrorCode::AddressNotBindable)
    );
    let s6 = v6(&mut net, a);
    assert_eq!(
        net.bind(s6, sa("[fd00::2]:80")),
        Err(ErrorCode::AddressNotBindable)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
    assert_eq!(state(&net, s6), TcpState::Unbound);
}

#[test]
fn bind_unknown_address_is_address_not_bindable() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.bind(s, sa("10.9.9.9:80")),
        Err(ErrorCode::AddressNotBindable)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
}

// ---- bind: what is bindable ----

#[test]
fn bind_unspecified_v4_is_allowed() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(net.bind(s, sa("0.0.0.0:80")), Ok(()));
    assert_eq!(net.local_address(s), Ok(sa("0.0.0.0:80")));
}

#[test]
fn bind_unspecified_v6_is_allowed() {
    let (mut net, a, _) = two_hosts();
    let s = v6(&mut net, a);
    assert_eq!(net.bind(s, sa("[::]:80")), Ok(()));
    assert_eq!(net.local_address(s), Ok(sa("[::]:80")));
}

#[test]
fn bind_loopback_range_is_allowed() {
    let (mut net, a, _) = two_hosts();
    let s1 = v4(&mut net, a);
    assert_eq!(net.bind(s1, sa("127.0.0.1:80")), Ok(()));
    let s2 = v4(&mut net, a);
    assert_eq!(net.bind(s2, sa("127.1.2.3:81")), Ok(()));
    assert_eq!(net.local_address(s2), Ok(sa("127.1.2.3:81")));
    let s3 = v6(&mut net, a);
    assert_eq!(net.bind(s3, sa("[::1]:80")), Ok(()));
}

#[test]
fn bind_own_address_is_allowed() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(net.bind(s, sa("10.0.0.1:80")), Ok(()));
    let s6 = v6(&mut net, a);
    assert_eq!(net.bind(s6, sa("[fd00::1]:80")), Ok(()));
    assert_eq!(net.local_address(s6), Ok(sa("[fd00::1]:80")));
}

#[test]
fn bind_port_zero_picks_an_ephemeral_port() {
    let (mut net, a, _) = two_hosts();
    let mut ports = Vec::new();
    for _ in 0..50 {
        let s = v4(&mut net, a);
        net.bind(s, sa("10.0.0.1:0")).unwrap();
        let port = net.local_address(s).unwrap().port();
        assert!(
            EPHEMERAL.contains(&port),
            "port {port} outside 32768..=60999"
        );
        ports.push(port);
    }
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ports.len(),
        "ephemeral ports reused: {ports:?}"
    );
}

// ---- bind: address-in-use and reuse ----

#[test]
fn bind_on_port_of_listener_is_address_in_use() {
    let (mut net, _, b) = two_hosts();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let s = v4(&mut net, b);
    assert_eq!(net.bind(s, sa("10.0.0.2:80")), Err(ErrorCode::AddressInUse));
    assert_eq!(state(&net, s), TcpState::Unbound);
    // The failed bind left the socket usable.
    assert_eq!(net.bind(s, sa("10.0.0.2:81")), Ok(()));
}

#[test]
fn bind_specific_address_under_wildcard_listener_is_address_in_use() {
    let (mut net, _, b) = two_hosts();
    let _l = listener(&mut net, b, "0.0.0.0:80");
    let s = v4(&mut net, b);
    assert_eq!(net.bind(s, sa("10.0.0.2:80")), Err(ErrorCode::AddressInUse));
    assert_eq!(
        net.bind(s, sa("127.0.0.1:80")),
        Err(ErrorCode::AddressInUse)
    );
}

#[test]
fn bind_wildcard_over_specific_listener_is_address_in_use() {
    let (mut net, _, b) = two_hosts();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let s = v4(&mut net, b);
    assert_eq!(net.bind(s, sa("0.0.0.0:80")), Err(ErrorCode::AddressInUse));
}

#[test]
fn bind_non_overlapping_address_next_to_listener_is_allowed() {
    let (mut net, _, b) = two_hosts();
    let _l = listener(&mut net, b, "127.0.0.1:80");
    let s = v4(&mut net, b);
    assert_eq!(net.bind(s, sa("10.0.0.2:80")), Ok(()));
    // A v6 socket does not overlap a v4 listener (v6-only sockets).
    let _l4 = listener(&mut net, b, "0.0.0.0:90");
    let s6 = v6(&mut net, b);
    assert_eq!(net.bind(s6, sa("[::]:90")), Ok(()));
}

#[test]
fn bind_same_port_as_bound_socket_is_allowed() {
    let (mut net, a, _) = two_hosts();
    let s1 = v4(&mut net, a);
    net.bind(s1, sa("10.0.0.1:5000")).unwrap();
    let s2 = v4(&mut net, a);
    assert_eq!(net.bind(s2, sa("10.0.0.1:5000")), Ok(()));
    let s3 = v4(&mut net, a);
    assert_eq!(net.bind(s3, sa("0.0.0.0:5000")), Ok(()));
    assert_eq!(net.local_address(s2), Ok(sa("10.0.0.1:5000")));
}

#[test]
fn bind_after_listener_closed_is_allowed() {
    let (mut net, _, b) = two_hosts();
    let l = listener(&mut net, b, "10.0.0.2:80");
    net.close(l).unwrap();
    let s = v4(&mut net, b);
    assert_eq!(net.bind(s, sa("10.0.0.2:80")), Ok(()));
    assert_eq!(net.listen(s), Ok(()));
}

// ---- listen: transitions ----

#[test]
fn bind_then_listen_moves_unbound_to_bound_to_listening() {
    let (mut net, _, b) = two_hosts();
    let s = v4(&mut net, b);
    assert_eq!(net.bind(s, sa("10.0.0.2:80")), Ok(()));
    assert_eq!(state(&net, s), TcpState::Bound);
    assert_eq!(net.is_listening(s), Ok(false));
    assert_eq!(net.listen(s), Ok(()));
    assert_eq!(state(&net, s), TcpState::Listening);
    assert_eq!(net.is_listening(s), Ok(true));
    assert_eq!(net.local_address(s), Ok(sa("10.0.0.2:80")));
    assert_eq!(
        transitions(&net, s),
        vec![
            (TcpState::Unbound, TcpState::Bound),
            (TcpState::Bound, TcpState::Listening),
        ]
    );
}

#[test]
fn bind_and_listen_while_connecting_are_invalid_state() {
    let (mut net, a, _) = two_hosts_slow();
    let s = connecting(&mut net, a);
    assert_eq!(
        net.bind(s, sa("10.0.0.1:9000")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(net.listen(s), Err(ErrorCode::InvalidState));
    assert_eq!(
        net.begin_connect(s, sa("10.0.0.2:80")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(state(&net, s), TcpState::Connecting);
}

#[test]
fn connect_outcome_of_a_socket_not_connecting() {
    let (mut net, a, b) = two_hosts();
    let u = v4(&mut net, a);
    let bo = bound(&mut net, a);
    assert_eq!(net.connect_outcome(u), Some(Err(ErrorCode::InvalidState)));
    assert_eq!(net.connect_outcome(bo), Some(Err(ErrorCode::InvalidState)));
    let (c, s, l) = connected_pair(&mut net, a, b);
    assert_eq!(net.connect_outcome(l), Some(Err(ErrorCode::InvalidState)));
    assert_eq!(net.connect_outcome(c), Some(Ok(())));
    assert_eq!(net.connect_outcome(s), Some(Ok(())));
    let r = refused(&mut net, a);
    assert_eq!(
        net.connect_outcome(r),
        Some(Err(ErrorCode::ConnectionRefused))
    );
    assert_eq!(state(&net, r), TcpState::Closed);
}

#[test]
fn is_listening_is_false_outside_listen_states() {
    let (mut net, a, b) = two_hosts_slow();
    let u = v4(&mut net, a);
    let bo = bound(&mut net, a);
    let ci = connecting(&mut net, a);
    assert_eq!(net.is_listening(u), Ok(false));
    assert_eq!(net.is_listening(bo), Ok(false));
    assert_eq!(net.is_listening(ci), Ok(false));
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(net.is_listening(c), Ok(false));
    assert_eq!(net.is_listening(s), Ok(false));
}

#[test]
fn listen_on_unbound_is_invalid_state() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(net.listen(s), Err(ErrorCode::InvalidState));
    assert_eq!(state(&net, s), TcpState::Unbound);
}

#[test]
fn listen_on_listening_is_invalid_state() {
    let (mut net, _, b) = two_hosts();
    let l = listener(&mut net, b, "10.0.0.2:80");
    assert_eq!(net.listen(l), Err(ErrorCode::InvalidState));
    assert_eq!(state(&net, l), TcpState::Listening);
}

#[test]
fn listen_on_connected_is_invalid_state() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(net.listen(c), Err(ErrorCode::InvalidState));
    assert_eq!(net.listen(s), Err(ErrorCode::InvalidState));
    assert_eq!(state(&net, c), TcpState::Connected);
}

#[test]
fn listen_on_closed_is_invalid_state() {
    let (mut net, a, _) = two_hosts();
    let s = refused(&mut net, a);
    assert_eq!(net.listen(s), Err(ErrorCode::InvalidState));
    assert_eq!(state(&net, s), TcpState::Closed);
}

#[test]
fn second_listener_on_same_address_is_address_in_use() {
    let (mut net, _, b) = two_hosts();
    // Both bind first (allowed: neither listens yet), then both try to listen.
    let s1 = v4(&mut net, b);
    net.bind(s1, sa("10.0.0.2:80")).unwrap();
    let s2 = v4(&mut net, b);
    net.bind(s2, sa("10.0.0.2:80")).unwrap();
    net.listen(s1).unwrap();
    assert_eq!(net.listen(s2), Err(ErrorCode::AddressInUse));
    assert_eq!(state(&net, s2), TcpState::Bound);
}

#[test]
fn second_listener_on_overlapping_wildcard_is_address_in_use() {
    let (mut net, _, b) = two_hosts();
    let s1 = v4(&mut net, b);
    net.bind(s1, sa("10.0.0.2:80")).unwrap();
    let s2 = v4(&mut net, b);
    net.bind(s2, sa("0.0.0.0:80")).unwrap();
    net.listen(s1).unwrap();
    assert_eq!(net.listen(s2), Err(ErrorCode::AddressInUse));
    assert_eq!(state(&net, s2), TcpState::Bound);
}

// ---- accept ----

#[test]
fn accept_with_empty_queue_is_would_block() {
    let (mut net, _, b) = two_hosts();
    let l = listener(&mut net, b, "10.0.0.2:80");
    assert_eq!(net.accept(l), Err(ErrorCode::WouldBlock));
    assert!(!net.is_ready(l, Interest::Socket));
}

#[test]
fn accept_on_non_listening_socket_is_invalid_state() {
    let (mut net, a, b) = two_hosts();
    let u = v4(&mut net, a);
    let bo = bound(&mut net, a);
    assert_eq!(net.accept(u), Err(ErrorCode::InvalidState));
    assert_eq!(net.accept(bo), Err(ErrorCode::InvalidState));
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(net.accept(c), Err(ErrorCode::InvalidState));
    assert_eq!(net.accept(s), Err(ErrorCode::InvalidState));
}

/// Not in the brief's list: wasmtime-wasi's `accept` only works in its `Listening`
/// state (reached by `finish-listen`); `ListenStarted` answers invalid-state.
#[test]
fn accept_returns_connected_socket_and_peer_address() {
    let (mut net, a, b) = two_hosts();
    let l = listener(&mut net, b, "10.0.0.2:80");
    let c = v4(&mut net, a);
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    net.run_until_idle();
    assert!(net.is_ready(l, Interest::Socket));
    let client_addr = net.local_address(c).unwrap();
    let (s, peer) = net.accept(l).unwrap();
    assert_eq!(peer, client_addr);
    assert_eq!(state(&net, s), TcpState::Connected);
    assert_eq!(net.local_address(s), Ok(sa("10.0.0.2:80")));
    assert_eq!(net.remote_address(s), Ok(client_addr));
    assert_eq!(net.address_family(s), Ok(Family::Ipv4));
    assert_eq!(
        transitions(&net, s),
        vec![(TcpState::Unbound, TcpState::Connected)]
    );
    // The listener keeps listening, its queue now empty.
    assert_eq!(state(&net, l), TcpState::Listening);
    assert_eq!(net.accept(l), Err(ErrorCode::WouldBlock));
}

#[test]
fn accept_beyond_socket_limit_is_new_socket_limit() {
    let (mut net, a, b) = two_hosts();
    let l = listener(&mut net, b, "10.0.0.2:80");
    net.set_socket_limit(b, 1);
    let c = v4(&mut net, a);
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    net.run_until_idle();
    assert_eq!(net.accept(l), Err(ErrorCode::NewSocketLimit));
    assert_eq!(net.open_sockets(b), 1);
    // The connection stays queued: once the limit allows it, accept succeeds.
    net.set_socket_limit(b, 2);
    let (s, peer) = net.accept(l).unwrap();
    assert_eq!(peer, net.local_address(c).unwrap());
    assert_eq!(state(&net, s), TcpState::Connected);
}

// ---- connect: transitions ----

#[test]
fn begin_connect_moves_unbound_to_connecting() {
    let (mut net, a, b) = two_hosts_slow();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let c = v4(&mut net, a);
    assert_eq!(net.begin_connect(c, sa("10.0.0.2:80")), Ok(()));
    assert_eq!(state(&net, c), TcpState::Connecting);
    assert!(!net.is_ready(c, Interest::Socket));
}

#[test]
fn connect_outcome_before_the_handshake_is_none() {
    let (mut net, a, b) = two_hosts_slow();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let c = connecting(&mut net, a);
    assert_eq!(net.connect_outcome(c), None);
    // Half a round trip later the SYN-ACK is still on its way.
    net.run_until(SimTime::from_nanos(9_999_999));
    assert_eq!(net.connect_outcome(c), None);
    assert_eq!(state(&net, c), TcpState::Connecting);
}

#[test]
fn connect_outcome_after_the_handshake_moves_to_connected() {
    let (mut net, a, b) = two_hosts_slow();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let c = connecting(&mut net, a);
    net.run_until(SimTime::from_nanos(10_000_000));
    assert!(net.is_ready(c, Interest::Socket));
    assert_eq!(net.connect_outcome(c), Some(Ok(())));
    assert_eq!(state(&net, c), TcpState::Connected);
    let local = net.local_address(c).unwrap();
    assert_eq!(local.ip(), ip("10.0.0.1"));
    assert!(EPHEMERAL.contains(&local.port()));
    assert_eq!(net.remote_address(c), Ok(sa("10.0.0.2:80")));
    assert_eq!(
        transitions(&net, c),
        vec![
            (TcpState::Unbound, TcpState::Connecting),
            (TcpState::Connecting, TcpState::Connected),
        ]
    );
}

#[test]
fn connect_from_bound_keeps_the_bound_port() {
    let (mut net, a, b) = two_hosts();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let c = v4(&mut net, a);
    net.bind(c, sa("0.0.0.0:5000")).unwrap();
    assert_eq!(net.connect(c, sa("10.0.0.2:80")), Ok(()));
    assert_eq!(state(&net, c), TcpState::Connected);
    assert_eq!(net.local_address(c), Ok(sa("10.0.0.1:5000")));
    assert_eq!(net.remote_address(c), Ok(sa("10.0.0.2:80")));
}

#[test]
fn begin_connect_on_listening_is_invalid_state() {
    let (mut net, _, b) = two_hosts();
    let l = listener(&mut net, b, "10.0.0.2:80");
    assert_eq!(
        net.begin_connect(l, sa("10.0.0.1:80")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(state(&net, l), TcpState::Listening);
}

#[test]
fn begin_connect_on_connected_is_invalid_state() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(
        net.begin_connect(c, sa("10.0.0.2:80")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(
        net.begin_connect(s, sa("10.0.0.1:80")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(state(&net, c), TcpState::Connected);
}

#[test]
fn begin_connect_on_closed_is_invalid_state() {
    let (mut net, a, b) = two_hosts();
    let s = refused(&mut net, a);
    // Even towards a port that now listens.
    let _l = listener(&mut net, b, "10.0.0.2:81");
    assert_eq!(
        net.begin_connect(s, sa("10.0.0.2:81")),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(state(&net, s), TcpState::Closed);
}

#[test]
fn begin_connect_to_unspecified_address_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.begin_connect(s, sa("0.0.0.0:80")),
        Err(ErrorCode::InvalidArgument)
    );
    let s6 = v6(&mut net, a);
    assert_eq!(
        net.begin_connect(s6, sa("[::]:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
    assert_eq!(state(&net, s6), TcpState::Unbound);
}

#[test]
fn begin_connect_to_port_zero_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.begin_connect(s, sa("10.0.0.2:0")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
}

#[test]
fn begin_connect_to_multicast_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.begin_connect(s, sa("224.0.0.1:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        net.begin_connect(s, sa("255.255.255.255:80")),
        Err(ErrorCode::InvalidArgument)
    );
    let s6 = v6(&mut net, a);
    assert_eq!(
        net.begin_connect(s6, sa("[ff02::1]:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
}

#[test]
fn begin_connect_with_wrong_family_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.begin_connect(s, sa("[fd00::2]:80")),
        Err(ErrorCode::InvalidArgument)
    );
    let s6 = v6(&mut net, a);
    assert_eq!(
        net.begin_connect(s6, sa("10.0.0.2:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        net.begin_connect(s6, sa("[::ffff:10.0.0.2]:80")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(state(&net, s), TcpState::Unbound);
    assert_eq!(state(&net, s6), TcpState::Unbound);
}

#[test]
fn rejected_begin_connect_leaves_socket_usable() {
    let (mut net, a, b) = two_hosts();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let s = v4(&mut net, a);
    assert_eq!(
        net.begin_connect(s, sa("10.0.0.2:0")),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(net.connect(s, sa("10.0.0.2:80")), Ok(()));
    assert_eq!(state(&net, s), TcpState::Connected);
}

// ---- connect: failures of finish-connect ----

#[test]
fn connect_to_closed_port_is_connection_refused() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.connect(s, sa("10.0.0.2:81")),
        Err(ErrorCode::ConnectionRefused)
    );
    assert_eq!(net.now(), SimTime::ZERO);
    assert_eq!(state(&net, s), TcpState::Closed);
    assert_eq!(
        transitions(&net, s),
        vec![
            (TcpState::Unbound, TcpState::Connecting),
            (TcpState::Connecting, TcpState::Closed),
        ]
    );
}

#[test]
fn connect_to_unowned_address_is_remote_unreachable_after_3s() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    net.begin_connect(s, sa("10.0.0.99:80")).unwrap();
    net.run_until(SimTime::from_nanos(2_999_999_999));
    assert_eq!(net.connect_outcome(s), None);
    net.run_until(secs(3));
    assert_eq!(
        net.connect_outcome(s),
        Some(Err(ErrorCode::RemoteUnreachable))
    );
    assert_eq!(state(&net, s), TcpState::Closed);
}

#[test]
fn connect_helper_reports_remote_unreachable_at_3s() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.connect(s, sa("10.0.0.99:80")),
        Err(ErrorCode::RemoteUnreachable)
    );
    assert_eq!(net.now(), secs(3));
}

#[test]
fn failed_connect_makes_addresses_report_the_error() {
    let (mut net, a, _) = two_hosts();
    let s = refused(&mut net, a);
    assert_eq!(net.local_address(s), Err(ErrorCode::ConnectionRefused));
    assert_eq!(net.remote_address(s), Err(ErrorCode::ConnectionRefused));
}

#[test]
fn failed_connect_makes_option_getters_report_the_error() {
    let (mut net, a, _) = two_hosts();
    let s = refused(&mut net, a);
    let e = Err(ErrorCode::ConnectionRefused);
    assert_eq!(net.keep_alive_enabled(s), e.map(|()| false));
    assert_eq!(net.keep_alive_idle_time(s), e.map(|()| 0));
    assert_eq!(net.keep_alive_interval(s), e.map(|()| 0));
    assert_eq!(net.keep_alive_count(s), e.map(|()| 0));
    assert_eq!(net.hop_limit(s), e.map(|()| 0));
    assert_eq!(net.receive_buffer_size(s), e.map(|()| 0));
    assert_eq!(net.send_buffer_size(s), e.map(|()| 0));
}

#[test]
fn unreachable_connect_makes_getters_report_remote_unreachable() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.connect(s, sa("10.0.0.99:80")),
        Err(ErrorCode::RemoteUnreachable)
    );
    assert_eq!(net.local_address(s), Err(ErrorCode::RemoteUnreachable));
    assert_eq!(net.remote_address(s), Err(ErrorCode::RemoteUnreachable));
    assert_eq!(net.hop_limit(s), Err(ErrorCode::RemoteUnreachable));
    assert_eq!(
        net.begin_connect(s, sa("10.0.0.2:80")),
        Err(ErrorCode::InvalidState)
    );
}

// ---- backlog ----

#[test]
fn set_listen_backlog_size_zero_is_invalid_argument() {
    let (mut net, a, b) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.set_listen_backlog_size(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    let l = listener(&mut net, b, "10.0.0.2:80");
    assert_eq!(
        net.set_listen_backlog_size(l, 0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(net.set_listen_backlog_size(s, 1), Ok(()));
}

#[test]
fn set_listen_backlog_size_on_connected_is_invalid_state() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(
        net.set_listen_backlog_size(c, 10),
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(
        net.set_listen_backlog_size(s, 10),
        Err(ErrorCode::InvalidState)
    );
}

/// A listener with backlog 1 on host `b` at 10.0.0.2:80, and two clients of `a`
/// connected to it (Linux queues backlog + 1).
fn full_backlog(net: &mut Net, a: HostId, b: HostId) -> SocketId {
    let l = v4(net, b);
    net.bind(l, sa("10.0.0.2:80")).unwrap();
    net.set_listen_backlog_size(l, 1).unwrap();
    net.listen(l).unwrap();
    for _ in 0..2 {
        let c = v4(net, a);
        assert_eq!(net.connect(c, sa("10.0.0.2:80")), Ok(()));
    }
    assert_eq!(net.now(), SimTime::ZERO);
    l
}

#[test]
fn backlog_overflow_drops_syn_and_connect_times_out_after_127s() {
    let (mut net, a, b) = two_hosts();
    let _l = full_backlog(&mut net, a, b);
    let c = v4(&mut net, a);
    net.begin_connect(c, sa("10.0.0.2:80")).unwrap();
    net.run_until(SimTime::from_nanos(126_999_999_999));
    assert_eq!(net.connect_outcome(c), None);
    net.run_until(secs(127));
    assert_eq!(net.connect_outcome(c), Some(Err(ErrorCode::Timeout)));
    assert_eq!(state(&net, c), TcpState::Closed);
}

#[test]
fn backlog_overflow_connect_helper_reports_timeout_at_127s() {
    let (mut net, a, b) = two_hosts();
    let _l = full_backlog(&mut net, a, b);
    let c = v4(&mut net, a);
    assert_eq!(net.connect(c, sa("10.0.0.2:80")), Err(ErrorCode::Timeout));
    assert_eq!(net.now(), secs(127));
}

#[test]
fn backlog_overflow_with_refuse_is_connection_refused() {
    let tcp = TcpConfig {
        backlog_overflow: BacklogOverflow::Refuse,
        ..Default::default()
    };
    let (mut net, a, b) = net_with(NetConfig {
        tcp,
        ..Default::default()
    });
    let _l = full_backlog(&mut net, a, b);
    let c = v4(&mut net, a);
    assert_eq!(
        net.connect(c, sa("10.0.0.2:80")),
        Err(ErrorCode::ConnectionRefused)
    );
    assert_eq!(net.now(), SimTime::ZERO);
    assert_eq!(state(&net, c), TcpState::Closed);
}

#[test]
fn accept_frees_a_backlog_slot() {
    let (mut net, a, b) = two_hosts();
    let l = full_backlog(&mut net, a, b);
    net.accept(l).unwrap();
    let c = v4(&mut net, a);
    assert_eq!(net.connect(c, sa("10.0.0.2:80")), Ok(()));
    assert_eq!(net.now(), SimTime::ZERO);
}

/// A listener with `backlog` on host `b` at 10.0.0.2:80.
fn listener_with_backlog(net: &mut Net, b: HostId, backlog: u64) -> SocketId {
    let l = v4(net, b);
    net.bind(l, sa("10.0.0.2:80")).unwrap();
    net.set_listen_backlog_size(l, backlog).unwrap();
    net.listen(l).unwrap();
    l
}

/// `n` clients of `a` that start connecting to 10.0.0.2:80 at the same instant.
fn connect_burst(net: &mut Net, a: HostId, n: usize) -> Vec<SocketId> {
    (0..n)
        .map(|_| {
            let c = v4(net, a);
            net.begin_connect(c, sa("10.0.0.2:80")).unwrap();
            c
        })
        .collect()
}

fn syn_retransmissions(net: &Net) -> usize {
    net.trace()
        .records()
        .iter()
        .filter(|r| {
            matches!(r.event, TraceEvent::SegmentSent { seg, retransmit: true }
                if seg.flags.contains(simnet_core::Flags::SYN))
        })
        .count()
}

#[test]
fn a_connect_burst_far_beyond_the_backlog_completes_without_retransmission() {
    // Linux answers SYNs beyond a full SYN queue with SYN cookies, and a server that
    // accepts as fast as it can keeps its accept queue short: every connect of the
    // burst completes in one round trip.
    let (mut net, a, b) = two_hosts_slow();
    let l = listener_with_backlog(&mut net, b, 16);
    let clients = connect_burst(&mut net, a, 1000);
    let mut accepted = Vec::new();
    while accepted.len() < 1000 && net.step() {
        while let Ok((s, _)) = net.accept(l) {
            accepted.push(s);
        }
    }
    assert_eq!(accepted.len(), 1000);
    for c in clients {
        assert_eq!(net.connect_outcome(c), Some(Ok(())));
    }
    assert_eq!(syn_retransmissions(&net), 0);
    assert!(net.now() < secs(1), "took until {}", net.now());
}

#[test]
fn syn_cookie_handshakes_complete_for_the_client_and_queue_on_its_data() {
    // Backlog 1, never accepting yet: four SYNs arriving together all find the accept
    // queue empty, so all four clients connect (two from the SYN queue, two with
    // cookies). The server queues backlog + 1 = 2 and ignores the other final ACKs;
    // a cookie connection is queued once its client sends data.
    let (mut net, a, b) = two_hosts_slow();
    let l = listener_with_backlog(&mut net, b, 1);
    let clients = connect_burst(&mut net, a, 4);
    net.run_until(SimTime::from_nanos(500_000_000));
    for &c in &clients {
        assert_eq!(net.connect_outcome(c), Some(Ok(())));
    }
    let mut queued = 0;
    while net.accept(l).is_ok() {
        queued += 1;
    }
    assert_eq!(queued, 2);
    for &c in &clients {
        net.write(c, b"x").unwrap();
    }
    net.run_until(secs(1));
    let mut late = 0;
    while net.accept(l).is_ok() {
        late += 1;
    }
    assert_eq!(late, 2);
}

#[test]
fn without_syn_cookies_syns_beyond_the_syn_queue_are_dropped_and_retried() {
    let tcp = TcpConfig {
        syn_cookies: false,
        ..Default::default()
    };
    let (mut net, a, b) = net_with(NetConfig {
        tcp,
        ..Default::default()
    });
    net.set_link(a, b, LinkConfig::with_latency(Duration::from_millis(5)))
        .unwrap();
    let l = listener_with_backlog(&mut net, b, 1);
    let clients = connect_burst(&mut net, a, 4);
    net.run_until(SimTime::from_nanos(500_000_000));
    let connected = clients
        .iter()
        .filter(|&&c| net.connect_outcome(c) == Some(Ok(())))
        .count();
    assert_eq!(connected, 2);
    while net.accept(l).is_ok() {}
    net.run_until(secs(2));
    for c in clients {
        assert_ne!(net.connect_outcome(c), None);
    }
    assert!(syn_retransmissions(&net) >= 2);
}

#[test]
fn a_syn_cookie_connection_whose_listener_closed_is_reset() {
    let (mut net, a, b) = two_hosts_slow();
    let l = listener_with_backlog(&mut net, b, 1);
    let clients = connect_burst(&mut net, a, 4);
    net.run_until(SimTime::from_nanos(500_000_000));
    net.close(l).unwrap();
    for &c in &clients {
        assert_eq!(net.connect_outcome(c), Some(Ok(())));
        net.write(c, b"x").unwrap();
    }
    net.run_until(secs(1));
    for c in clients {
        let mut buf = [0u8; 4];
        assert_eq!(
            net.read(c, &mut buf),
            Err(StreamError::Failed(ErrorCode::ConnectionReset))
        );
    }
}

// ---- local-address / remote-address ----

#[test]
fn local_address_on_unbound_is_invalid_state() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(net.local_address(s), Err(ErrorCode::InvalidState));
}

/// The kernel knows the address the SYN left from. (wasmtime-wasi answers
/// invalid-state until `finish-connect`; its WASI 0.2 layer, like simnet's, says so.)
#[test]
fn local_address_while_connecting_is_where_the_syn_left_from() {
    let (mut net, a, _) = two_hosts_slow();
    let s = connecting(&mut net, a);
    let local = net.local_address(s).unwrap();
    assert_eq!(local.ip(), ip("10.0.0.1"));
    assert!(EPHEMERAL.contains(&local.port()));
}

#[test]
fn local_address_when_bound_listening_and_connected_is_the_address() {
    let (mut net, a, b) = two_hosts();
    let s = v4(&mut net, a);
    net.bind(s, sa("10.0.0.1:7000")).unwrap();
    assert_eq!(net.local_address(s), Ok(sa("10.0.0.1:7000")));
    let l = v4(&mut net, b);
    net.bind(l, sa("10.0.0.2:80")).unwrap();
    net.listen(l).unwrap();
    assert_eq!(net.local_address(l), Ok(sa("10.0.0.2:80")));
    net.connect(s, sa("10.0.0.2:80")).unwrap();
    assert_eq!(net.local_address(s), Ok(sa("10.0.0.1:7000")));
}

#[test]
fn remote_address_when_not_connected_is_invalid_state() {
    let (mut net, a, b) = two_hosts_slow();
    let u = v4(&mut net, a);
    let bo = bound(&mut net, a);
    let l = listener(&mut net, b, "10.0.0.2:80");
    let ci = connecting(&mut net, a);
    for s in [u, bo, l, ci] {
        assert_eq!(
            net.remote_address(s),
            Err(ErrorCode::InvalidState),
            "socket in state {}",
            state(&net, s)
        );
    }
}

#[test]
fn remote_address_when_connected_is_the_peer() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(net.remote_address(c), Ok(sa("10.0.0.2:80")));
    assert_eq!(net.remote_address(s), net.local_address(c));
}

// ---- options: defaults and zero values ----

#[test]
fn option_defaults_follow_linux() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(net.keep_alive_enabled(s), Ok(false));
    assert_eq!(net.keep_alive_idle_time(s), Ok(7_200_000_000_000));
    assert_eq!(net.keep_alive_interval(s), Ok(75_000_000_000));
    assert_eq!(net.keep_alive_count(s), Ok(9));
    assert_eq!(net.hop_limit(s), Ok(64));
    assert_eq!(net.receive_buffer_size(s), Ok(65536));
    assert_eq!(net.send_buffer_size(s), Ok(8192));
}

#[test]
fn set_keep_alive_enabled_round_trips() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(net.set_keep_alive_enabled(s, true), Ok(()));
    assert_eq!(net.keep_alive_enabled(s), Ok(true));
    assert_eq!(net.set_keep_alive_enabled(s, false), Ok(()));
    assert_eq!(net.keep_alive_enabled(s), Ok(false));
}

#[test]
fn set_keep_alive_idle_time_zero_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.set_keep_alive_idle_time(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(net.keep_alive_idle_time(s), Ok(7_200_000_000_000));
}

#[test]
fn set_keep_alive_interval_zero_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.set_keep_alive_interval(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(net.keep_alive_interval(s), Ok(75_000_000_000));
}

#[test]
fn set_keep_alive_count_zero_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.set_keep_alive_count(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(net.keep_alive_count(s), Ok(9));
}

#[test]
fn set_hop_limit_zero_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(net.set_hop_limit(s, 0), Err(ErrorCode::InvalidArgument));
    assert_eq!(net.hop_limit(s), Ok(64));
}

#[test]
fn set_receive_buffer_size_zero_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.set_receive_buffer_size(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(net.receive_buffer_size(s), Ok(65536));
}

#[test]
fn set_send_buffer_size_zero_is_invalid_argument() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    assert_eq!(
        net.set_send_buffer_size(s, 0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(net.send_buffer_size(s), Ok(8192));
}

/// Options set while the SYN is out apply to the connection, as setsockopt does
/// on a connecting kernel socket. (wasmtime-wasi refuses them until
/// `finish-connect`; simnet's WASI 0.2 layer does too.)
#[test]
fn options_set_while_connecting_apply_to_the_connection() {
    let (mut net, a, b) = two_hosts_slow();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let s = connecting(&mut net, a);
    assert_eq!(net.set_keep_alive_enabled(s, true), Ok(()));
    assert_eq!(net.set_keep_alive_idle_time(s, 10_000_000_000), Ok(()));
    assert_eq!(net.set_hop_limit(s, 10), Ok(()));
    assert_eq!(net.set_receive_buffer_size(s, 10_000), Ok(()));
    assert_eq!(net.set_send_buffer_size(s, 10_000), Ok(()));
    assert_eq!(net.keep_alive_enabled(s), Ok(true));
    assert_eq!(net.hop_limit(s), Ok(10));
    net.run_until(SimTime::from_nanos(10_000_000));
    assert_eq!(net.connect_outcome(s), Some(Ok(())));
    assert_eq!(net.hop_limit(s), Ok(10));
    assert_eq!(net.keep_alive_idle_time(s), Ok(10_000_000_000));
    assert_eq!(net.receive_buffer_size(s), Ok(10_000));
    assert_eq!(net.send_buffer_size(s), Ok(10_000));
    // Ten idle seconds after the handshake the first keep-alive probe goes out.
    net.run_until(secs(11));
    let probes = net.trace().count(|e| {
        matches!(
            e,
            TraceEvent::TimerFired {
                kind: simnet_core::TimerKind::KeepAlive,
                ..
            }
        )
    });
    assert!(probes >= 1, "no keep-alive timer fired");
}

/// Set each value on a fresh socket's option and check what the getter then reports.
fn assert_set_then_get<T: Copy + std::fmt::Debug + PartialEq>(
    set: fn(&mut Net, SocketId, T) -> Result<(), ErrorCode>,
    get: fn(&Net, SocketId) -> Result<T, ErrorCode>,
    cases: &[(T, T)],
) {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    for &(value, want) in cases {
        set(&mut net, s, value).unwrap();
        assert_eq!(get(&net, s), Ok(want), "set {value:?}");
    }
}

// ---- options: clamping ----

#[test]
fn keep_alive_idle_time_clamps_to_whole_seconds_in_range() {
    assert_set_then_get(
        Net::set_keep_alive_idle_time,
        Net::keep_alive_idle_time,
        &[
            (1, 1_000_000_000),
            (999_999_999, 1_000_000_000),
            (1_500_000_000, 1_000_000_000),
            (2_999_999_999, 2_000_000_000),
            (60_000_000_000, 60_000_000_000),
            (32_767_000_000_000, 32_767_000_000_000),
            (40_000_000_000_000, 32_767_000_000_000),
            (u64::MAX, 32_767_000_000_000),
        ],
    );
}

#[test]
fn keep_alive_interval_clamps_to_whole_seconds_in_range() {
    assert_set_then_get(
        Net::set_keep_alive_interval,
        Net::keep_alive_interval,
        &[
            (1, 1_000_000_000),
            (1_500_000_000, 1_000_000_000),
            (2_999_999_999, 2_000_000_000),
            (30_000_000_000, 30_000_000_000),
            (40_000_000_000_000, 32_767_000_000_000),
            (u64::MAX, 32_767_000_000_000),
        ],
    );
}

#[test]
fn keep_alive_count_clamps_to_1_through_127() {
    assert_set_then_get(
        Net::set_keep_alive_count,
        Net::keep_alive_count,
        &[(1, 1), (5, 5), (127, 127), (128, 127), (u32::MAX, 127)],
    );
}

#[test]
fn hop_limit_accepts_1_through_255() {
    let (mut net, a, _) = two_hosts();
    let s = v4(&mut net, a);
    for v in [1u8, 32, 255] {
        assert_eq!(net.set_hop_limit(s, v), Ok(()));
        assert_eq!(net.hop_limit(s), Ok(v));
    }
}

#[test]
fn receive_buffer_size_clamps_to_configured_range() {
    assert_set_then_get(
        Net::set_receive_buffer_size,
        Net::receive_buffer_size,
        &[
            (1, 1152),
            (1151, 1152),
            (1152, 1152),
            (100_000, 100_000),
            (4_194_304, 4_194_304),
            (4_194_305, 4_194_304),
            (u64::MAX, 4_194_304),
        ],
    );
}

#[test]
fn send_buffer_size_clamps_to_configured_range() {
    assert_set_then_get(
        Net::set_send_buffer_size,
        Net::send_buffer_size,
        &[
            (1, 2304),
            (2303, 2304),
            (2304, 2304),
            (10_000, 10_000),
            (4_194_304, 4_194_304),
            (4_194_305, 4_194_304),
            (u64::MAX, 4_194_304),
        ],
    );
}

#[test]
fn accepted_socket_inherits_listener_options() {
    let (mut net, a, b) = two_hosts();
    let l = v4(&mut net, b);
    net.bind(l, sa("10.0.0.2:80")).unwrap();
    net.set_keep_alive_enabled(l, true).unwrap();
    net.set_keep_alive_idle_time(l, 100_000_000_000).unwrap();
    net.set_keep_alive_interval(l, 10_000_000_000).unwrap();
    net.set_keep_alive_count(l, 5).unwrap();
    net.set_hop_limit(l, 32).unwrap();
    net.set_receive_buffer_size(l, 100_000).unwrap();
    net.set_send_buffer_size(l, 20_000).unwrap();
    net.listen(l).unwrap();
    let c = v4(&mut net, a);
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    net.run_until(secs(1));
    let (s, _) = net.accept(l).unwrap();
    assert_eq!(net.keep_alive_enabled(s), Ok(true));
    assert_eq!(net.keep_alive_idle_time(s), Ok(100_000_000_000));
    assert_eq!(net.keep_alive_interval(s), Ok(10_000_000_000));
    assert_eq!(net.keep_alive_count(s), Ok(5));
    assert_eq!(net.hop_limit(s), Ok(32));
    assert_eq!(net.receive_buffer_size(s), Ok(100_000));
    assert_eq!(net.send_buffer_size(s), Ok(20_000));
    // The inherited send buffer is the one in force.
    assert_eq!(net.check_write(s), Ok(20_000));
    // The client kept the defaults, its send buffer tuned for the new connection.
    assert_eq!(net.keep_alive_enabled(c), Ok(false));
    assert_eq!(net.send_buffer_size(c), Ok(29_200));
}

// ---- streams: shutdown ----

#[test]
fn shutdown_on_non_connected_socket_is_invalid_state() {
    let (mut net, a, b) = two_hosts_slow();
    let u = v4(&mut net, a);
    let bo = bound(&mut net, a);
    let l = listener(&mut net, b, "10.0.0.2:80");
    let ci = connecting(&mut net, a);
    for s in [u, bo, l, ci] {
        for how in [
            ShutdownType::Receive,
            ShutdownType::Send,
            ShutdownType::Both,
        ] {
            assert_eq!(
                net.shutdown(s, how),
                Err(ErrorCode::InvalidState),
                "shutdown({how:?}) in state {}",
                state(&net, s)
            );
        }
    }
}

#[test]
fn shutdown_on_closed_socket_is_invalid_state() {
    let (mut net, a, _) = two_hosts();
    let s = refused(&mut net, a);
    assert_eq!(
        net.shutdown(s, ShutdownType::Both),
        Err(ErrorCode::InvalidState)
    );
}

#[test]
fn shutdown_send_delivers_data_then_end_of_stream() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(net.write(c, b"hello"), Ok(5));
    assert_eq!(net.shutdown(c, ShutdownType::Send), Ok(()));
    net.run_until_idle();
    let mut buf = [0u8; 16];
    assert_eq!(net.read(s, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(net.read(s, &mut buf), Err(StreamError::Closed));
    assert!(net.is_ready(s, Interest::Read));
}

#[test]
fn shutdown_send_closes_our_output_stream() {
    let (mut net, a, b) = two_hosts();
    let (c, _s, _) = connected_pair(&mut net, a, b);
    net.shutdown(c, ShutdownType::Send).unwrap();
    assert_eq!(net.write(c, b"more"), Err(StreamError::Closed));
    assert_eq!(net.check_write(c), Err(StreamError::Closed));
    net.run_until_idle();
    assert_eq!(net.write(c, b"more"), Err(StreamError::Closed));
    assert_eq!(net.check_write(c), Err(StreamError::Closed));
}

#[test]
fn shutdown_send_keeps_the_other_direction_open() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    net.shutdown(c, ShutdownType::Send).unwrap();
    net.run_until_idle();
    assert_eq!(net.write(s, b"bye"), Ok(3));
    net.run_until_idle();
    let mut buf = [0u8; 16];
    assert_eq!(net.read(c, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"bye");
}

#[test]
fn shutdown_receive_closes_our_input_stream() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    net.write(s, b"data").unwrap();
    net.run_until_idle();
    assert_eq!(net.shutdown(c, ShutdownType::Receive), Ok(()));
    let mut buf = [0u8; 16];
    assert_eq!(net.read(c, &mut buf), Err(StreamError::Closed));
    // Writing still works.
    assert_eq!(net.write(c, b"ok"), Ok(2));
    net.run_until_idle();
    assert_eq!(net.read(s, &mut buf), Ok(2));
}

#[test]
fn shutdown_both_closes_both_streams() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    assert_eq!(net.shutdown(c, ShutdownType::Both), Ok(()));
    let mut buf = [0u8; 16];
    assert_eq!(net.read(c, &mut buf), Err(StreamError::Closed));
    assert_eq!(net.write(c, b"x"), Err(StreamError::Closed));
    net.run_until_idle();
    assert_eq!(net.read(s, &mut buf), Err(StreamError::Closed));
    // shutdown again on a still-connected socket is fine.
    assert_eq!(net.shutdown(c, ShutdownType::Send), Ok(()));
    assert_eq!(state(&net, c), TcpState::Connected);
}

// ---- streams: close ----

#[test]
fn close_with_unread_data_resets_peer_read() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    net.write(c, b"unread").unwrap();
    net.run_until_idle();
    assert_eq!(net.readable_bytes(s), 6);
    net.close(s).unwrap();
    net.run_until_idle();
    let mut buf = [0u8; 16];
    assert_eq!(
        net.read(c, &mut buf),
        Err(StreamError::Failed(ErrorCode::ConnectionReset))
    );
    // The error is reported once; the stream is closed afterwards.
    assert_eq!(net.read(c, &mut buf), Err(StreamError::Closed));
}

#[test]
fn close_with_unread_data_resets_peer_write() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    net.write(c, b"unread").unwrap();
    net.run_until_idle();
    net.close(s).unwrap();
    net.run_until_idle();
    assert_eq!(
        net.write(c, b"more"),
        Err(StreamError::Failed(ErrorCode::ConnectionReset))
    );
    assert_eq!(net.write(c, b"more"), Err(StreamError::Closed));
}

#[test]
fn close_without_unread_data_ends_the_stream_gracefully() {
    let (mut net, a, b) = two_hosts();
    let (c, s, _) = connected_pair(&mut net, a, b);
    net.write(s, b"bye").unwrap();
    net.close(s).unwrap();
    net.run_until_idle();
    let mut buf = [0u8; 16];
    assert_eq!(net.read(c, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"bye");
    assert_eq!(net.read(c, &mut buf), Err(StreamError::Closed));
}

// ---- streams: flow control ----

#[test]
fn check_write_reports_free_send_buffer_space() {
    let (mut net, a, b) = two_hosts();
    let (c, _s, _) = connected_pair(&mut net, a, b);
    // An established connection's send buffer holds twenty segments.
    assert_eq!(net.check_write(c), Ok(29_200));
    assert_eq!(net.write(c, &[7u8; 1000]), Ok(1000));
    assert_eq!(net.check_write(c), Ok(28_200));
    // Beyond the free space, write takes only what fits.
    assert_eq!(net.write(c, &[7u8; 30_000]), Ok(28_200));
    assert_eq!(net.check_write(c), Ok(0));
    assert_eq!(net.write(c, &[7u8; 10]), Ok(0));
    assert!(!net.is_ready(c, Interest::Write));
    // Acknowledgements free the buffer again.
    net.run_until_idle();
    assert_eq!(
        net.check_write(c),
        Ok(net.send_buffer_size(c).unwrap() as usize)
    );
    assert!(net.is_ready(c, Interest::Write));
}

#[test]
fn send_buffer_size_sets_check_write_capacity() {
    let (mut net, a, b) = two_hosts();
    let _l = listener(&mut net, b, "10.0.0.2:80");
    let c = v4(&mut net, a);
    net.set_send_buffer_size(c, 10_000).unwrap();
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    assert_eq!(net.check_write(c), Ok(10_000));
    net.set_send_buffer_size(c, 3000).unwrap();
    assert_eq!(net.check_write(c), Ok(3000));
}

/// A connected pair (client, accepted) where the client wrote as long as it could and
/// the accepted socket never read: the writer is stalled by the receive window.
fn stalled_writer(net: &mut Net, a: HostId, b: HostId) -> (SocketId, SocketId, usize) {
    let (c, s, _) = connected_pair(net, a, b);
    let chunk = [0xabu8; 4096];
    let mut written = 0usize;
    for _ in 0..100 {
        let room = net.check_write(c).unwrap();
        if room > 0 {
            written += net.write(c, &chunk[..room.min(chunk.len())]).unwrap();
        }
        net.run_for(Duration::from_millis(500));
    }
    (c, s, written)
}

#[test]
fn slow_reader_stalls_writer() {
    let (mut net, a, b) = two_hosts();
    let (c, s, written) = stalled_writer(&mut net, a, b);
    // Receive window (65536) plus the send buffer, then nothing more. The buffer grew
    // from its initial twenty segments while data was flowing.
    let send_buffer = net.send_buffer_size(c).unwrap() as usize;
    assert!(send_buffer > 29_200, "{send_buffer}");
    assert_eq!(written, 65536 + send_buffer);
    assert_eq!(net.readable_bytes(s), 65536);
    assert_eq!(net.check_write(c), Ok(0));
    assert!(!net.is_ready(c, Interest::Write));
}

#[test]
fn reading_lets_a_stalled_writer_continue() {
    let (mut net, a, b) = two_hosts();
    let (c, s, written) = stalled_writer(&mut net, a, b);
    // Window updates go out at once on a zero-latency link, so the buffered bytes
    // start to follow while the reader drains the first 64 KiB.
    let got = drain(&mut net, s);
    assert!(got.len() >= 65536, "{}", got.len());
    assert!(got.iter().all(|&x| x == 0xab));
    // They keep coming as far as the window allows (reading grew the receive
    // buffer), are acknowledged, and free their room in the send buffer.
    net.run_for(Duration::from_secs(1));
    let delivered = got.len() + net.readable_bytes(s);
    assert!(
        delivered > 65536 && delivered <= written,
        "{delivered} of {written}"
    );
    let size = net.send_buffer_size(c).unwrap() as usize;
    assert_eq!(net.check_write(c), Ok(size - (written - delivered)));
}

// ---- keep-alive ----

/// A connected pair whose client has keep-alive on: idle 10 s, interval 2 s, 3 probes.
fn keep_alive_pair(net: &mut Net, a: HostId, b: HostId) -> (SocketId, SocketId) {
    let l = listener(net, b, "10.0.0.2:80");
    let c = v4(net, a);
    net.set_keep_alive_enabled(c, true).unwrap();
    net.set_keep_alive_idle_time(c, 10_000_000_000).unwrap();
    net.set_keep_alive_interval(c, 2_000_000_000).unwrap();
    net.set_keep_alive_count(c, 3).unwrap();
    net.connect(c, sa("10.0.0.2:80")).unwrap();
    assert_eq!(net.now(), SimTime::ZERO);
    net.run_for(Duration::from_millis(100));
    let (s, _) = net.accept(l).unwrap();
    (c, s)
}

#[test]
fn keep_alive_on_dead_link_times_out_after_idle_plus_count_intervals() {
    let (mut net, a, b) = two_hosts();
    let (c, _s) = keep_alive_pair(&mut net, a, b);
    net.set_link(
        a,
        b,
        LinkConfig {
            loss: 1.0,
            ..Default::default()
        },
    )
    .unwrap();
    let mut buf = [0u8; 16];
    // idle 10 s + 3 probes * 2 s = 16 s after the last segment received (t = 0).
    net.run_until(SimTime::from_nanos(15_999_999_999));
    assert_eq!(net.read(c, &mut buf), Ok(0));
    net.run_until(secs(16));
    assert_eq!(
        net.read(c, &mut buf),
        Err(StreamError::Failed(ErrorCode::Timeout))
    );
    let failed_at: Vec<SimTime> = net
        .trace()
        .records()
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::ConnectionFailed {
                error: ErrorCode::Timeout,
                ..
            } => Some(r.time),
            _ => None,
        })
        .collect();
    assert_eq!(failed_at, vec![secs(16)]);
}

#[test]
fn keep_alive_on_healthy_link_stays_up() {
    let (mut net, a, b) = two_hosts();
    let (c, s) = keep_alive_pair(&mut net, a, b);
    net.run_until(secs(600));
    let mut buf = [0u8; 16];
    assert_eq!(net.read(c, &mut buf), Ok(0));
    assert_eq!(net.write(c, b"ping"), Ok(4));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.read(s, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"ping");
    assert!(
        !net.trace()
            .records()
            .iter()
            .any(|r| matches!(r.event, TraceEvent::ConnectionFailed { .. }))
    );
}

#[test]
fn keep_alive_off_by_default_idle_connection_survives_dead_link() {
    let (mut net, a, b) = two_hosts();
    let (c, _s, _) = connected_pair(&mut net, a, b);
    net.set_link(
        a,
        b,
        LinkConfig {
            loss: 1.0,
            ..Default::default()
        },
    )
    .unwrap();
    net.run_until(secs(3 * 3600));
    let mut buf = [0u8; 16];
    assert_eq!(net.read(c, &mut buf), Ok(0));
    assert_eq!(net.check_write(c), Ok(29_200));
}

// ---- name resolution ----

#[test]
fn resolve_ip_literal_is_itself() {
    let (net, _, _) = two_hosts();
    assert_eq!(net.resolve("10.0.0.1"), Ok(vec![ip("10.0.0.1")]));
    assert_eq!(net.resolve("192.0.2.7"), Ok(vec![ip("192.0.2.7")]));
    assert_eq!(net.resolve("fd00::9"), Ok(vec![ip("fd00::9")]));
}

#[test]
fn resolve_localhost_is_both_loopbacks() {
    let (net, _, _) = two_hosts();
    assert_eq!(
        net.resolve("localhost"),
        Ok(vec![ip("127.0.0.1"), ip("::1")])
    );
}

#[test]
fn resolve_host_name_is_its_addresses() {
    let (mut net, _, _) = two_hosts();
    net.add_host("server", &[ip("10.0.0.3")]).unwrap();
    assert_eq!(net.resolve("server"), Ok(vec![ip("10.0.0.3")]));
    assert_eq!(net.resolve("b"), Ok(vec![ip("10.0.0.2"), ip("fd00::2")]));
}

#[test]
fn resolve_malformed_name_is_invalid_argument() {
    let (net, _, _) = two_hosts();
    for name in ["", "a b", "host:80", "[::]:80", "http://x"] {
        assert_eq!(
            net.resolve(name),
            Err(ErrorCode::InvalidArgument),
            "resolve({name:?})"
        );
    }
}

#[test]
fn resolve_parses_names_as_url_hosts_like_wasmtime_wasi() {
    let (mut net, _, _) = two_hosts();
    net.add_host("Bücher", &[ip("10.0.0.9")]).unwrap();
    for (name, want) in [
        ("[::]", "::"),
        ("[::1]", "::1"),
        ("[fd00::2]", "fd00::2"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("10.0.0.1.", "10.0.0.1"),
    ] {
        assert_eq!(net.resolve(name), Ok(vec![ip(want)]), "resolve({name:?})");
    }
    let b = Ok(vec![ip("10.0.0.2"), ip("fd00::2")]);
    for name in ["B", "b.", "%62"] {
        assert_eq!(net.resolve(name), b, "resolve({name:?})");
    }
    for name in ["bücher", "BÜCHER", "xn--bcher-kva"] {
        assert_eq!(net.resolve(name), Ok(vec![ip("10.0.0.9")]), "{name}");
    }
    for name in [
        "1.2.3.256",
        "1.2.3.4.5",
        "[::1",
        "[1.2.3.4]",
        "a%20b",
        "a/b",
        "a?b",
        "a#b",
        "a@b",
        "::1:80:x",
    ] {
        assert_eq!(
            net.resolve(name),
            Err(ErrorCode::InvalidArgument),
            "resolve({name:?})"
        );
    }
}

#[test]
fn resolve_unknown_name_is_name_unresolvable() {
    let (net, _, _) = two_hosts();
    assert_eq!(net.resolve("nosuchhost"), Err(ErrorCode::NameUnresolvable));
    assert_eq!(
        net.resolve("nosuch.example.com"),
        Err(ErrorCode::NameUnresolvable)
    );
}

#[test]
fn closed_connections_are_freed_and_their_ports_released() {
    let (mut net, a, b) = two_hosts();
    let (c, s, l) = connected_pair(&mut net, a, b);
    assert_eq!(net.socket_host(c), Ok(a));
    assert_eq!(net.socket_host(s), Ok(b));
    let port = net.local_address(c).unwrap().port();
    assert_eq!(net.live_connections(), 1);
    // Graceful: both sides close with nothing unread; the lingering ends finish the
    // FIN exchange and the connection state is freed.
    net.write(c, b"bye").unwrap();
    net.run_until_idle();
    assert_eq!(drain(&mut net, s), b"bye");
    net.close(c).unwrap();
    net.close(s).unwrap();
    net.run_until_idle();
    assert_eq!(net.live_connections(), 0);
    // The client's ephemeral port is free again: binding it explicitly works.
    let again = v4(&mut net, a);
    assert_eq!(
        net.bind(again, SocketAddr::new(ip("10.0.0.1"), port)),
        Ok(())
    );
    // Abortive: closing with unread data resets, and the peer's close frees the rest.
    let (c2, s2) = {
        let c2 = v4(&mut net, a);
        net.connect(c2, sa("10.0.0.2:80")).unwrap();
        net.run_until_idle();
        let (s2, _) = net.accept(l).unwrap();
        (c2, s2)
    };
    net.write(c2, b"unread").unwrap();
    net.run_until_idle();
    net.close(s2).unwrap();
    net.run_until_idle();
    assert_eq!(
        net.live_connections(),
        1,
        "the client's socket still holds its end"
    );
    net.close(c2).unwrap();
    assert_eq!(net.live_connections(), 0);
}

/// A connect that cannot send its SYN (no address of the socket's family to send
/// from) stays connecting, holding its bound port, until its outcome is asked for.
#[test]
fn a_connect_failing_before_its_syn_reports_at_its_outcome() {
    // One ephemeral port, 5000, so a port in use shows as exhaustion.
    let mut config = NetConfig::default();
    config.tcp.ephemeral_ports = 5000..=5000;
    let mut net = Net::with_config(7, config);
    let a = net.add_host("a", &[ip("10.0.0.1")]).unwrap();
    let _b = net.add_host("b", &[ip("fd00::2")]).unwrap();
    let s = v6(&mut net, a);
    net.bind(s, sa("[::]:5000")).unwrap();
    assert_eq!(net.begin_connect(s, sa("[fd00::2]:80")), Ok(()));
    let other = v6(&mut net, a);
    assert_eq!(net.bind(other, sa("[::]:0")), Err(ErrorCode::AddressInUse));
    assert_eq!(state(&net, s), TcpState::Connecting);
    assert!(net.is_ready(s, Interest::Socket));
    assert_eq!(net.local_address(s), Ok(sa("[::]:5000")));
    assert_eq!(
        net.connect_outcome(s),
        Some(Err(ErrorCode::RemoteUnreachable))
    );
    assert_eq!(state(&net, s), TcpState::Closed);
    assert_eq!(net.local_address(s), Err(ErrorCode::RemoteUnreachable));
    assert_eq!(
        transitions(&net, s),
        vec![
            (TcpState::Unbound, TcpState::Bound),
            (TcpState::Bound, TcpState::Connecting),
            (TcpState::Connecting, TcpState::Closed),
        ]
    );
    // Its port was given back.
    assert_eq!(net.bind(other, sa("[::]:0")), Ok(()));
    assert_eq!(net.local_address(other), Ok(sa("[::]:5000")));
}

/// A fault at the connect's outcome ends even a connect whose handshake finished:
/// the socket closes with the fault's error, gives its port back, and the peer is
/// reset.
#[test]
fn fail_connect_closes_a_connected_socket_with_the_error() {
    // One ephemeral port, so a port in use shows as exhaustion.
    let mut config = NetConfig::default();
    config.tcp.ephemeral_ports = 40000..=40000;
    let (mut net, a, b) = net_with(config);
    let (c, s, _) = connected_pair(&mut net, a, b);
    let other = v4(&mut net, a);
    assert_eq!(
        net.bind(other, sa("10.0.0.1:0")),
        Err(ErrorCode::AddressInUse)
    );
    assert_eq!(net.fail_connect(c, ErrorCode::Timeout), Ok(()));
    assert_eq!(state(&net, c), TcpState::Closed);
    assert_eq!(net.local_address(c), Err(ErrorCode::Timeout));
    assert_eq!(net.connect_outcome(c), Some(Err(ErrorCode::Timeout)));
    net.run_until_idle();
    let mut buf = [0u8; 4];
    assert_eq!(
        net.read(s, &mut buf),
        Err(StreamError::Failed(ErrorCode::ConnectionReset))
    );
    // The port is free again.
    assert_eq!(net.bind(other, sa("10.0.0.1:0")), Ok(()));
    assert_eq!(net.local_address(other), Ok(sa("10.0.0.1:40000")));
    let u = v4(&mut net, a);
    assert_eq!(
        net.fail_connect(u, ErrorCode::Timeout),
        Err(ErrorCode::InvalidState)
    );
}

#[test]
fn a_socket_connected_to_its_own_address_reads_what_it_writes() {
    let (mut net, a, _) = two_hosts();
    for addr in ["127.0.0.1:5000", "10.0.0.1:5001"] {
        let s = v4(&mut net, a);
        net.bind(s, sa(addr)).unwrap();
        // Linux completes the simultaneous open of the SYN the socket sends itself.
        net.connect(s, sa(addr)).unwrap();
        assert_eq!(state(&net, s), TcpState::Connected);
        assert_eq!(net.remote_address(s).unwrap(), sa(addr));
        assert_eq!(net.local_address(s).unwrap(), sa(addr));
        assert_eq!(net.write(s, b"echo").unwrap(), 4);
        net.settle();
        assert_eq!(drain(&mut net, s), b"echo");
        // Its FIN comes back too: it reads the end of the stream.
        net.shutdown(s, ShutdownType::Send).unwrap();
        net.settle();
        let mut buf = [0; 8];
        assert_eq!(net.read(s, &mut buf), Err(StreamError::Closed));
        net.close(s).unwrap();
        net.run_for(Duration::from_secs(120));
        assert_eq!(net.live_connections(), 0, "{addr}");
        // The port is free again.
        let again = v4(&mut net, a);
        net.bind(again, sa(addr)).unwrap();
        net.close(again).unwrap();
    }
}

#[test]
fn a_prepared_connect_sends_nothing_until_its_syn_is_sent() {
    let (mut net, a, b) = two_hosts();
    let l = listener(&mut net, b, "10.0.0.2:80");
    net.enable_capture();
    // Prepared and closed without being sent: the server never hears of it.
    let quiet = v4(&mut net, a);
    net.prepare_connect(quiet, sa("10.0.0.2:80")).unwrap();
    assert_eq!(state(&net, quiet), TcpState::Connecting);
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.captured().count(), 0);
    assert_eq!(net.connect_error(quiet), None);
    net.close(quiet).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.captured().count(), 0);
    assert_eq!(net.accept(l).map(|_| ()), Err(ErrorCode::WouldBlock));

    // Sent: the handshake runs; a second send does nothing.
    let c = v4(&mut net, a);
    net.prepare_connect(c, sa("10.0.0.2:80")).unwrap();
    assert!(net.send_connect(c));
    assert!(!net.send_connect(c));
    net.run_until_idle();
    assert_eq!(net.connect_outcome(c), Some(Ok(())));
    assert!(net.accept(l).is_ok());

    // A refusal shows as the connect's error before its outcome is taken.
    let r = v4(&mut net, a);
    net.prepare_connect(r, sa("10.0.0.2:81")).unwrap();
    assert!(net.send_connect(r));
    net.run_until_idle();
    assert_eq!(net.connect_error(r), Some(ErrorCode::ConnectionRefused));
    assert_eq!(state(&net, r), TcpState::Connecting);
    assert_eq!(
        net.connect_outcome(r),
        Some(Err(ErrorCode::ConnectionRefused))
    );
}
