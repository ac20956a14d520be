//! The four workloads on turmoil 0.7.2 (the program in shared/notes/anchor-bench).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

use crate::{MSG, Outcome};

fn builder() -> turmoil::Builder {
    let mut b = turmoil::Builder::new();
    b.simulation_duration(Duration::from_secs(10_000_000))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .rng_seed(42);
    // The default capacity (64) overflows when 100 SYNs arrive in one tick.
    b.tcp_capacity(128);
    // Likewise for 100 datagrams arriving at once (turmoil drops what overflows).
    b.udp_capacity(128);
    b
}

async fn echo_server() -> turmoil::Result {
    let l = TcpListener::bind("0.0.0.0:9000").await?;
    loop {
        let (mut s, _) = l.accept().await?;
        tokio::spawn(async move {
            let mut buf = [0u8; MSG];
            while s.read_exact(&mut buf).await.is_ok() {
                s.write_all(&buf).await.expect("echo");
            }
        });
    }
}

async fn pingpong(n: usize) -> turmoil::Result {
    let mut s = TcpStream::connect("server:9000").await?;
    let msg = [7u8; MSG];
    let mut buf = [0u8; MSG];
    for _ in 0..n {
        s.write_all(&msg).await?;
        s.read_exact(&mut buf).await?;
    }
    Ok(())
}

pub fn round_trips(clients: usize, n: usize) -> Outcome {
    let mut sim = builder().build();
    sim.host("server", echo_server);
    for i in 0..clients {
        sim.client(format!("client{i}"), pingpong(n));
    }
    sim.run().expect("turmoil run");
    Outcome {
        sim: sim.elapsed(),
        ops: clients * n,
    }
}

pub fn bulk(total: usize, chunk: usize) -> Outcome {
    let mut sim = builder().build();
    sim.host("server", move || async move {
        let l = TcpListener::bind("0.0.0.0:9000").await?;
        let (mut s, _) = l.accept().await?;
        let mut buf = vec![0u8; chunk];
        let mut got = 0usize;
        while got < total {
            got += s.read(&mut buf).await?;
        }
        s.write_all(&[1u8]).await?;
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.client("client", async move {
        let mut s = TcpStream::connect("server:9000").await?;
        let data = vec![0xABu8; chunk];
        for _ in 0..total / chunk {
            s.write_all(&data).await?;
        }
        let mut one = [0u8; 1];
        s.read_exact(&mut one).await?;
        Ok(())
    });
    sim.run().expect("turmoil run");
    Outcome {
        sim: sim.elapsed(),
        ops: total,
    }
}

pub fn sleep_then_round_trip() -> Outcome {
    let mut sim = builder().build();
    sim.host("server", echo_server);
    sim.client("client", async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        pingpong(1).await
    });
    sim.run().expect("turmoil run");
    Outcome {
        sim: sim.elapsed(),
        ops: 1,
    }
}

async fn udp_echo_server() -> turmoil::Result {
    let s = turmoil::net::UdpSocket::bind("0.0.0.0:9000").await?;
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = s.recv_from(&mut buf).await?;
        s.send_to(&buf[..n], from).await?;
    }
}

/// `clients` clients each sending `n` datagrams of 64 bytes, one at a time.
pub fn udp_round_trips(clients: usize, n: usize) -> Outcome {
    let mut sim = builder().build();
    sim.host("server", udp_echo_server);
    for i in 0..clients {
        sim.client(format!("client{i}"), async move {
            let s = turmoil::net::UdpSocket::bind("0.0.0.0:0").await?;
            let server = (turmoil::lookup("server"), 9000);
            let msg = [7u8; MSG];
            let mut buf = [0u8; 1500];
            for _ in 0..n {
                s.send_to(&msg, server).await?;
                s.recv_from(&mut buf).await?;
            }
            Ok(())
        });
    }
    sim.run().expect("turmoil run");
    Outcome {
        sim: sim.elapsed(),
        ops: clients * n,
    }
}
