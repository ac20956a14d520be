//! Request and response over UDP with retries: a client asks a server for ten
//! answers across a link that loses a quarter of all datagrams, resending each request
//! after a timeout that doubles, and ignoring answers to requests it already has.
//! Run with `cargo run --release --example udp-retry [SEED]`; `cargo test` runs its
//! checks over many seeds.

use std::net::SocketAddr;
use std::time::Duration;

use simnet::{Bytes, Family, HostId, Interest, LinkConfig, Net, SimTime, SocketId};

const SERVER: &str = "10.0.0.1:53";
const REQUESTS: u32 = 10;
const FIRST_TIMEOUT: Duration = Duration::from_millis(50);
const ATTEMPTS: u32 = 12;

/// How one request went.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    request: u32,
    attempts: u32,
    /// When the answer arrived, if one did.
    answered_at: Option<SimTime>,
}

fn world(seed: u64) -> (Net, HostId, HostId) {
    let mut net = Net::new(seed);
    let server = net
        .add_host("server", &["10.0.0.1".parse().unwrap()])
        .unwrap();
    let client = net
        .add_host("client", &["10.0.0.2".parse().unwrap()])
        .unwrap();
    let link = LinkConfig {
        loss: 0.25,
        jitter: Duration::from_millis(5),
        ..LinkConfig::with_latency(Duration::from_millis(10))
    };
    net.set_link(server, client, link).unwrap();
    (net, server, client)
}

/// The server answers every request it receives: "answer N" for "request N".
fn serve(net: &mut Net, server: SocketId) {
    while let Ok(Some(d)) = net.udp_receive(server) {
        let text = String::from_utf8_lossy(&d.payload).replace("request", "answer");
        net.udp_send(server, Bytes::from(text), Some(d.src))
            .unwrap();
    }
}

/// Run the exchange: each request is sent until its answer comes or the attempts
/// run out, waiting twice as long after every try.
fn run(seed: u64) -> (Vec<Outcome>, Net) {
    let (mut net, server_host, client_host) = world(seed);
    let server = net.create_udp_socket(server_host, Family::Ipv4).unwrap();
    let server_addr: SocketAddr = SERVER.parse().unwrap();
    net.udp_bind(server, server_addr).unwrap();
    let client = net.create_udp_socket(client_host, Family::Ipv4).unwrap();
    net.udp_bind(client, "0.0.0.0:0".parse().unwrap()).unwrap();
    net.udp_connect(client, server_addr).unwrap();

    let mut outcomes = Vec::new();
    for request in 0..REQUESTS {
        let mut outcome = Outcome {
            request,
            attempts: 0,
            answered_at: None,
        };
        let mut timeout = FIRST_TIMEOUT;
        while outcome.answered_at.is_none() && outcome.attempts < ATTEMPTS {
            outcome.attempts += 1;
            let text = format!("request {request}");
            net.udp_send(client, Bytes::from(text), None).unwrap();
            let deadline = net.now() + timeout;
            while net.now() < deadline && outcome.answered_at.is_none() {
                match net.next_event_time() {
                    Some(t) if t <= deadline => {
                        net.step();
                    }
                    _ => net.run_until(deadline),
                }
                serve(&mut net, server);
                while net.is_ready(client, Interest::Read) {
                    let Ok(Some(d)) = net.udp_receive(client) else {
                        break;
                    };
                    // A late answer to an earlier request is ignored.
                    if d.payload == format!("answer {request}").as_bytes() {
                        outcome.answered_at = Some(net.now());
                    }
                }
            }
            timeout *= 2;
        }
        outcomes.push(outcome);
    }
    (outcomes, net)
}

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let (outcomes, net) = run(seed);
    for o in &outcomes {
        match o.answered_at {
            Some(t) => println!(
                "request {}: answered at {t} after {} attempt(s)",
                o.request, o.attempts
            ),
            None => println!(
                "request {}: no answer after {} attempts",
                o.request, o.attempts
            ),
        }
    }
    let lost = net
        .trace()
        .count(|e| matches!(e, simnet::TraceEvent::DatagramLost { .. }));
    println!(
        "seed {seed}: {lost} datagrams lost, finished at {}",
        net.now()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_get_every_answer_through_the_loss() {
        let mut retried = false;
        for seed in 0..50 {
            let (outcomes, _) = run(seed);
            assert!(
                outcomes.iter().all(|o| o.answered_at.is_some()),
                "seed {seed}: {outcomes:?}"
            );
            retried |= outcomes.iter().any(|o| o.attempts > 1);
        }
        // Some request needed more than one try: the loss is real.
        assert!(retried);
    }

    #[test]
    fn a_seed_replays_exactly() {
        let (a, net_a) = run(9);
        let (b, net_b) = run(9);
        assert_eq!(a, b);
        assert_eq!(net_a.trace_hash(), net_b.trace_hash());
    }
}
