//! A small native scenario: an echo server and three clients over a lossy, jittery
//! link, printing a timeline. Run with `cargo run --release --example echo [SEED]`.

use std::net::SocketAddr;
use std::time::Duration;

use simnet::{Family, LinkConfig, Net, SocketId, StreamError, TcpState};

const PORT: u16 = 7;

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut net = Net::new(seed);
    let server_host = net
        .add_host("server", &["10.0.0.1".parse().unwrap()])
        .expect("add server");
    let link = LinkConfig {
        latency: simnet::Latency::Fixed(Duration::from_millis(20)),
        jitter: Duration::from_millis(10),
        loss: 0.05,
        bandwidth: Some(10_000_000),
        duplicate: 0.0,
    };
    net.set_default_link(link).expect("valid link");

    let listener = net
        .create_tcp_socket(server_host, Family::Ipv4)
        .expect("socket");
    net.bind(listener, SocketAddr::new("10.0.0.1".parse().unwrap(), PORT))
        .expect("bind");
    net.listen(listener).expect("listen");

    let mut clients = Vec::new();
    for i in 0..3u8 {
        let ip = format!("10.0.0.{}", 10 + i).parse().unwrap();
        let host = net
            .add_host(&format!("client{i}"), &[ip])
            .expect("add client");
        let sock = net.create_tcp_socket(host, Family::Ipv4).expect("socket");
        net.begin_connect(sock, SocketAddr::new("10.0.0.1".parse().unwrap(), PORT))
            .expect("connect");
        clients.push((
            format!("client{i}"),
            sock,
            format!("hello from client{i}, seed {seed}"),
            Vec::new(),
            false,
        ));
    }

    let mut accepted: Vec<SocketId> = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = net.now() + Duration::from_secs(120);
    while net.now() < deadline && clients.iter().any(|c| !c.4) {
        while let Ok((conn, peer)) = net.accept(listener) {
            println!("{} server: accepted {peer}", net.now());
            accepted.push(conn);
        }
        for &conn in &accepted {
            if let Ok(n) = net.read(conn, &mut buf)
                && n > 0
            {
                let _ = net.write(conn, &buf[..n]);
            }
        }
        for (name, sock, msg, got, done) in clients.iter_mut() {
            if *done {
                continue;
            }
            let connecting = net.state(*sock) == Ok(TcpState::Connecting);
            if connecting && net.connect_outcome(*sock) == Some(Ok(())) {
                println!(
                    "{} {name}: connected, sending {} bytes",
                    net.now(),
                    msg.len()
                );
                net.write(*sock, msg.as_bytes()).expect("write");
            }
            match net.read(*sock, &mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(StreamError::Closed) | Err(StreamError::Failed(_)) => {}
            }
            if got.len() == msg.len() {
                println!(
                    "{} {name}: echo received: {:?}",
                    net.now(),
                    String::from_utf8_lossy(got)
                );
                *done = true;
            }
        }
        if !net.step() {
            break;
        }
    }
    let lost = net
        .trace()
        .records()
        .iter()
        .filter(|r| matches!(r.event, simnet::TraceEvent::SegmentLost { .. }))
        .count();
    println!(
        "done at {}: {} trace events, {lost} segments lost and retransmitted, trace hash {:016x}",
        net.now(),
        net.trace().len(),
        net.trace_hash()
    );
}
