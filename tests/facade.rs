//! The `simnet` crate as users meet it: an echo exchange through the re-exported API,
//! reproducible from its seed.

use std::time::Duration;

use simnet::{Family, LinkConfig, Net, SocketId, StreamError};

/// Read until end of stream, running the network while nothing is available.
fn read_to_end(net: &mut Net, s: SocketId) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match net.read(s, &mut buf) {
            Ok(0) => assert!(net.step(), "the network went idle before end of stream"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(StreamError::Closed) => return got,
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

fn echo_once(seed: u64) -> (Vec<u8>, u64) {
    let mut net = Net::new(seed);
    net.set_default_link(LinkConfig {
        loss: 0.1,
        jitter: Duration::from_millis(2),
        ..LinkConfig::with_latency(Duration::from_millis(10))
    })
    .unwrap();
    let server = net
        .add_host("server", &["192.0.2.1".parse().unwrap()])
        .unwrap();
    let client = net
        .add_host("client", &["192.0.2.2".parse().unwrap()])
        .unwrap();
    let l = net.create_tcp_socket(server, Family::Ipv4).unwrap();
    net.bind(l, "0.0.0.0:7".parse().unwrap()).unwrap();
    net.listen(l).unwrap();
    let addr = net.resolve("server").unwrap()[0];
    let c = net.create_tcp_socket(client, Family::Ipv4).unwrap();
    net.connect(c, (addr, 7).into()).unwrap();
    net.write(c, b"ping").unwrap();
    net.shutdown(c, simnet::ShutdownType::Send).unwrap();
    assert!(net.run_while_not(|n| n.is_ready(l, simnet::Interest::Socket)));
    let (s, _) = net.accept(l).unwrap();
    let got = read_to_end(&mut net, s);
    net.write(s, &got).unwrap();
    net.close(s).unwrap();
    let echoed = read_to_end(&mut net, c);
    (echoed, net.trace_hash())
}

#[test]
fn echo_through_the_facade_is_reproducible() {
    let (a, ha) = echo_once(5);
    let (b, hb) = echo_once(5);
    assert_eq!(a, b"ping");
    assert_eq!((a, ha), (b, hb));
}
