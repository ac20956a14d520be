//! The four workloads on turmoil-net 0.1.0 (the program in shared/notes/anchor-bench),
//! with its 1 ms latency rule. turmoil-net has no RNG, so there is no seed to set.

use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use turmoil_net::fixture::ClientServer;
use turmoil_net::shim::tokio::net::{TcpListener, TcpStream};
use turmoil_net::{Packet, Verdict};

use crate::{MSG, Outcome};

fn install_latency() {
    turmoil_net::rule(|_p: &Packet| Verdict::Deliver(Duration::from_millis(1))).forget();
}

async fn echo_server() {
    let l = TcpListener::bind("0.0.0.0:9000").await.expect("bind");
    let mut conns = FuturesUnordered::new();
    loop {
        tokio::select! {
            r = l.accept() => {
                let (mut s, _) = r.expect("accept");
                conns.push(async move {
                    let mut buf = [0u8; MSG];
                    while s.read_exact(&mut buf).await.is_ok() {
                        s.write_all(&buf).await.expect("echo");
                    }
                });
            }
            Some(()) = conns.next(), if !conns.is_empty() => {}
        }
    }
}

async fn pingpong(n: usize) {
    let mut s = TcpStream::connect("server:9000").await.expect("connect");
    let msg = [7u8; MSG];
    let mut buf = [0u8; MSG];
    for _ in 0..n {
        s.write_all(&msg).await.expect("write");
        s.read_exact(&mut buf).await.expect("read");
    }
}

pub fn round_trips(clients: usize, n: usize) -> Outcome {
    if clients == 1 {
        let sim = ClientServer::new()
            .server("server", echo_server())
            .run("client", async move {
                install_latency();
                let start = tokio::time::Instant::now();
                pingpong(n).await;
                start.elapsed()
            });
        return Outcome { sim, ops: n };
    }
    // Its fixture has N servers and one client: the clients run as extra "servers"
    // and the client host only waits for them.
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut cs = ClientServer::new().server("server", echo_server());
    for i in 0..clients {
        let tx = tx.clone();
        cs = cs.server(format!("client{i}"), async move {
            pingpong(n).await;
            tx.send(()).expect("driver alive");
            std::future::pending::<()>().await;
        });
    }
    let sim = cs.run("driver", async move {
        install_latency();
        let start = tokio::time::Instant::now();
        for _ in 0..clients {
            rx.recv().await.expect("client done");
        }
        start.elapsed()
    });
    Outcome {
        sim,
        ops: clients * n,
    }
}

pub fn bulk(total: usize, chunk: usize) -> Outcome {
    let sim = ClientServer::new()
        .server("server", async move {
            let l = TcpListener::bind("0.0.0.0:9000").await.expect("bind");
            let (mut s, _) = l.accept().await.expect("accept");
            let mut buf = vec![0u8; chunk];
            let mut got = 0usize;
            while got < total {
                got += s.read(&mut buf).await.expect("read");
            }
            s.write_all(&[1u8]).await.expect("write");
            std::future::pending::<()>().await;
        })
        .run("client", async move {
            install_latency();
            let start = tokio::time::Instant::now();
            let mut s = TcpStream::connect("server:9000").await.expect("connect");
            let data = vec![0xABu8; chunk];
            for _ in 0..total / chunk {
                s.write_all(&data).await.expect("write");
            }
            let mut one = [0u8; 1];
            s.read_exact(&mut one).await.expect("read");
            start.elapsed()
        });
    Outcome { sim, ops: total }
}

pub fn sleep_then_round_trip() -> Outcome {
    let sim = ClientServer::new()
        .server("server", echo_server())
        .run("client", async {
            install_latency();
            let start = tokio::time::Instant::now();
            tokio::time::sleep(Duration::from_secs(60)).await;
            pingpong(1).await;
            start.elapsed()
        });
    Outcome { sim, ops: 1 }
}

/// One client sending `n` datagrams of 64 bytes to an echo server, one at a time.
pub fn udp_round_trips(n: usize) -> Outcome {
    use turmoil_net::shim::tokio::net::UdpSocket;
    let sim = ClientServer::new()
        .server("server", async {
            let s = UdpSocket::bind("0.0.0.0:9000").await.expect("bind");
            let mut buf = [0u8; 1500];
            loop {
                let (k, from) = s.recv_from(&mut buf).await.expect("recv");
                s.send_to(&buf[..k], from).await.expect("echo");
            }
        })
        .run("client", async move {
            install_latency();
            let s = UdpSocket::bind("0.0.0.0:0").await.expect("bind");
            s.connect("server:9000").await.expect("connect");
            let start = tokio::time::Instant::now();
            let msg = [7u8; MSG];
            let mut buf = [0u8; 1500];
            for _ in 0..n {
                s.send(&msg).await.expect("send");
                s.recv(&mut buf).await.expect("recv");
            }
            start.elapsed()
        });
    Outcome { sim, ops: n }
}
