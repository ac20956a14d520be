//! The conformance cases as a tokio program sees them (tokio's `net` on wasip2,
//! built with `--cfg tokio_unstable`): results and error kinds printed in an order
//! that does not depend on timing. simnet's tests run it on simnet and on
//! wasmtime-wasi's real sockets and require the same output.
//!
//! tokio's own listener cannot accept on wasip2 (mio's wasip2 selector does not
//! handle listening sockets: `accept` fails with `EINVAL`, on wasmtime as on simnet),
//! so connections are accepted from a non-blocking `std` listener and handed to tokio.
//!
//! - `conformance-tokio`: the cases.
//! - `conformance-tokio serve ADDR`: accept and echo forever.
//! - `conformance-tokio burst ADDR CLIENTS CONNS`: CLIENTS tasks each open CONNS
//!   connections at once, echo a line on each, and report how many succeeded.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

fn show<T: std::fmt::Debug>(what: &str, r: std::io::Result<T>) {
    match r {
        Ok(v) => println!("{what}: ok {v:?}"),
        Err(e) => println!("{what}: error {:?}: {e}", e.kind()),
    }
}

async fn read_some(s: &mut TcpStream, n: usize) -> std::io::Result<String> {
    let mut buf = vec![0; n];
    let got = s.read(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf[..got]).into_owned())
}

/// A non-blocking `std` listener on an ephemeral loopback port.
fn listener() -> std::net::TcpListener {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    l
}

/// Accept from a non-blocking `std` listener, as a tokio stream.
async fn accept(l: &std::net::TcpListener) -> std::io::Result<TcpStream> {
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(true)?;
                return TcpStream::from_std(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                tokio::time::sleep(Duration::from_millis(1)).await
            }
            Err(e) => return Err(e),
        }
    }
}

async fn pair(l: &std::net::TcpListener) -> (TcpStream, TcpStream) {
    let addr = l.local_addr().expect("listener address");
    let connect = tokio::spawn(TcpStream::connect(addr));
    let a = accept(l).await.expect("accept");
    (connect.await.expect("task").expect("connect"), a)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => cases().await,
        Some("serve") => serve(parse(&args, 1)).await,
        Some("burst") => burst(parse(&args, 1), parse(&args, 2), parse(&args, 3)).await,
        Some(other) => panic!("unknown mode {other}"),
    }
}

fn parse<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} missing or malformed"))
}

async fn cases() {
    println!("== listener");
    show(
        "listener from bind",
        TcpListener::bind("127.0.0.1:0")
            .await
            .map(|l| l.local_addr().map(|a| a.port() != 0)),
    );
    let l = listener();
    let laddr = l.local_addr().expect("local");
    println!("port assigned: {}", laddr.port() != 0);
    show(
        "bind the same port",
        TcpListener::bind(laddr).await.map(|_| ()),
    );
    show(
        "bind a foreign address",
        TcpListener::bind("192.0.2.1:0").await.map(|_| ()),
    );
    let s = TcpSocket::new_v4().expect("socket");
    show("socket set-reuseaddr", s.set_reuseaddr(true));
    show("socket bind", s.bind("127.0.0.1:0".parse().unwrap()));
    show("socket listen", s.listen(16).map(|_| ()));

    println!("== connect");
    let closed = {
        let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        probe.local_addr().expect("local")
    };
    show(
        "connect to a closed port",
        TcpStream::connect(closed).await.map(|_| ()),
    );
    show(
        "connect to 0.0.0.0",
        TcpStream::connect(SocketAddr::from(([0, 0, 0, 0], laddr.port())))
            .await
            .map(|_| ()),
    );
    println!("== data");
    let (mut c, mut a) = pair(&l).await;
    println!(
        "peer is the listener: {}",
        c.peer_addr().ok() == Some(laddr)
    );
    show("nodelay", c.nodelay());
    show("set-nodelay", c.set_nodelay(true));
    show("ttl", c.ttl());
    show("set-ttl 9", c.set_ttl(9));
    show("write-all", c.write_all(b"hello").await);
    show("read", read_some(&mut a, 100).await);
    show("try-read with nothing buffered", a.try_read(&mut [0; 8]));
    show("try-read 0 bytes", a.try_read(&mut []));
    show("try-write", a.try_write(b"hi"));
    show("client read", read_some(&mut c, 100).await);

    println!("== half-close");
    show("client shutdown", c.shutdown().await);
    show("peer reads end of stream", read_some(&mut a, 100).await);
    show("peer read-to-end", {
        let mut v = Vec::new();
        a.read_to_end(&mut v).await.map(|n| n)
    });
    show("write after shutdown", c.write(b"x").await);
    show("peer writes back", a.write_all(b"reply").await);
    show("client reads the reply", read_some(&mut c, 100).await);
    drop((c, a));

    println!("== reset");
    let (mut c, a) = pair(&l).await;
    show("write", c.write_all(b"never read").await);
    show("peer sees data", a.readable().await);
    drop(a);
    show("read after the peer reset", read_some(&mut c, 100).await);
    show("write after the reset", c.write(b"x").await);
    drop(c);

    println!("== peer closed");
    let (mut c, a) = pair(&l).await;
    drop(a);
    show("read at end of stream", read_some(&mut c, 100).await);
    show("write to a closed peer", c.write(b"x").await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    show("write after the peer's reset", c.write(b"x").await);
    drop(c);

    println!("== concurrency");
    let server = {
        let l = listener();
        let addr = l.local_addr().expect("local");
        tokio::spawn(echo_server(l));
        addr
    };
    let mut tasks = Vec::new();
    for i in 0..50u32 {
        tasks.push(tokio::spawn(async move { echo_once(server, i).await }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.expect("task").is_ok() {
            ok += 1;
        }
    }
    println!("concurrent echoes: {ok} of 50");

    println!("== timers");
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(250)).await;
    println!(
        "slept at least 250 ms: {}",
        start.elapsed() >= Duration::from_millis(250)
    );
    udp().await;
    println!("== done");
}

async fn echo_server(l: std::net::TcpListener) {
    loop {
        let Ok(mut s) = accept(&l).await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = vec![0; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

async fn echo_once(addr: SocketAddr, i: u32) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    let line = format!("line {i}\n");
    s.write_all(line.as_bytes()).await?;
    let mut back = vec![0; line.len()];
    s.read_exact(&mut back).await?;
    if back != line.as_bytes() {
        return Err(std::io::Error::other("echo differs"));
    }
    Ok(())
}

async fn serve(addr: SocketAddr) {
    let l = std::net::TcpListener::bind(addr).expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    println!("serving on {addr}");
    echo_server(l).await;
}

async fn burst(addr: SocketAddr, clients: u32, conns: u32) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        for i in 0..conns {
            tasks.spawn(async move {
                let line = format!("client {c} conn {i}\n");
                let mut s = TcpStream::connect(addr).await?;
                s.write_all(line.as_bytes()).await?;
                let mut back = vec![0; line.len()];
                s.read_exact(&mut back).await?;
                Ok::<_, std::io::Error>(())
            });
        }
    }
    let (mut ok, mut failed) = (0, std::collections::BTreeMap::new());
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(()) => ok += 1,
            Err(e) => *failed.entry(format!("{:?}", e.kind())).or_insert(0) += 1,
        }
    }
    println!(
        "{ok} of {} connections echoed; failures: {failed:?}",
        clients * conns
    );
}

/// UDP through tokio: request and answer, concurrent receivers, a timeout.
async fn udp() {
    println!("== udp");
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server_addr = server.local_addr().expect("addr");
    let echo = tokio::spawn(async move {
        let mut buf = vec![0; 1500];
        for _ in 0..20 {
            let (n, from) = server.recv_from(&mut buf).await.expect("recv");
            server.send_to(&buf[..n], from).await.expect("send");
        }
    });
    let mut clients = Vec::new();
    for i in 0..4u32 {
        clients.push(tokio::spawn(async move {
            let c = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
            c.connect(server_addr).await?;
            let mut ok = 0;
            for j in 0..5u32 {
                let msg = format!("client {i} message {j}");
                c.send(msg.as_bytes()).await?;
                let mut buf = vec![0; 1500];
                let n = c.recv(&mut buf).await?;
                ok += u32::from(buf[..n] == *msg.as_bytes());
            }
            Ok::<u32, std::io::Error>(ok)
        }));
    }
    let mut total = 0;
    for c in clients {
        total += c.await.expect("join").unwrap_or(0);
    }
    println!("udp echoes: {total} of 20");
    show("udp server done", echo.await.map_err(std::io::Error::other));
    let quiet = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut buf = [0u8; 16];
    let waited = tokio::time::timeout(Duration::from_millis(100), quiet.recv_from(&mut buf)).await;
    println!("udp receive timed out: {}", waited.is_err());
    show(
        "udp try-recv with nothing",
        quiet.try_recv_from(&mut buf).map(|_| ()),
    );
}
