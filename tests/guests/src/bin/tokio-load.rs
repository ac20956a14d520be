//! Many concurrent connections from one tokio guest (tokio's `net` on wasip2, built
//! with `--cfg tokio_unstable`), for the guest benchmark.
//!
//! `tokio-load ADDR CONNS ROUNDS SIZE`: CONNS tasks at once each connect to an echo
//! server at ADDR, make ROUNDS round trips of SIZE bytes, check every echo and close.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn parse<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    match args.get(i).map(|s| s.parse()) {
        Some(Ok(v)) => v,
        _ => {
            eprintln!("usage: tokio-load ADDR CONNS ROUNDS SIZE (bad or missing {what})");
            std::process::exit(2)
        }
    }
}

async fn client(addr: SocketAddr, id: usize, rounds: usize, size: usize) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    let message: Vec<u8> = (0..size).map(|i| (id * 31 + i) as u8).collect();
    let mut back = vec![0; size];
    for _ in 0..rounds {
        s.write_all(&message).await?;
        s.read_exact(&mut back).await?;
        if back != message {
            return Err(std::io::Error::other("the echo differs"));
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = parse(&args, 0, "address");
    let conns: usize = parse(&args, 1, "connection count");
    let rounds: usize = parse(&args, 2, "round trips");
    let size: usize = parse(&args, 3, "message size");
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..conns {
        tasks.spawn(client(addr, id, rounds, size));
    }
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r.expect("task") {
            eprintln!("connection failed: {e}");
            failed += 1;
        }
    }
    println!(
        "{} connections made {rounds} round trips of {size} bytes",
        conns - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
