//! A WASI 0.3 guest (the `wasip3` bindings, async `run`): a TCP echo server that
//! serves each connection as its own task, a TCP echo client, a UDP echo pair, and
//! a sleep on the 0.3 monotonic clock. It prints through std (WASI 0.2 stdout), so
//! the component imports both versions, as 0.3 programs built with std do.
//!
//! ```text
//! p3-net echo-server PORT [CONNS]        TCP echo, one task per connection; with
//!                                        CONNS, exit once that many were served
//! p3-net echo-client IP:PORT ROUNDS MSG  send MSG ROUNDS times, print the echoes
//! p3-net bulk IP:PORT BYTES              send BYTES, then read the echo back
//! p3-net clients IP:PORT CONNS ROUNDS SIZE  CONNS connections at once, each
//!                                        ROUNDS round trips of SIZE bytes
//! p3-net sink PORT                       take one connection, count its bytes
//! p3-net source IP:PORT BYTES            send BYTES of one repeated 64 KiB buffer
//! p3-net udp-server PORT COUNT           echo COUNT datagrams
//! p3-net udp-client IP:PORT ROUNDS MSG   send and receive ROUNDS datagrams
//! p3-net sleep MILLIS                    wait, printing the clock before and after
//! p3-net resolve NAME                    print the addresses NAME resolves to
//! p3-net spin MILLIONS                   compute (no host calls), print the clock
//! p3-net std-client IP:PORT ROUNDS       echo round trips over Rust std's sockets
//!                                        (WASI 0.2's) from the 0.3 `run`
//! p3-net race-then-hang IP:PORT          an echo that wins a race against an hour's
//!                                        timeout, then a read nothing answers
//! p3-net await-result IP:PORT            connect, then await the receive stream's
//!                                        result without reading the stream
//! ```

use wasip3::clocks::monotonic_clock;
use wasip3::sockets::types::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, TcpSocket, UdpSocket,
};
use wasip3::wit_bindgen::StreamResult;
use wasip3::wit_stream;

wasip3::cli::command::export!(P3Net);

struct P3Net;

/// The 0.3 `run` export is the program; a 0.2 runner finds nothing to do here.
fn main() {
    eprintln!("p3-net runs as a WASI 0.3 command");
}

impl wasip3::exports::cli::run::Guest for P3Net {
    async fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let result = match a.as_slice() {
            ["echo-server", port] => echo_server(port.parse().map_err(|_| ())?, None).await,
            ["echo-server", port, conns] => {
                let conns = conns.parse().map_err(|_| ())?;
                echo_server(port.parse().map_err(|_| ())?, Some(conns)).await
            }
            ["clients", addr, conns, rounds, size] => {
                let (conns, rounds, size) = (
                    conns.parse().map_err(|_| ())?,
                    rounds.parse().map_err(|_| ())?,
                    size.parse().map_err(|_| ())?,
                );
                clients(parse_addr(addr)?, conns, rounds, size).await
            }
            ["sink", port] => sink(port.parse().map_err(|_| ())?).await,
            ["std-client", addr, rounds] => {
                use std::io::{Read, Write};
                let rounds: u32 = rounds.parse().map_err(|_| ())?;
                let mut conn = std::net::TcpStream::connect(addr).map_err(|e| eprintln!("{e}"))?;
                let mut buf = [0u8; 5];
                for i in 0..rounds {
                    conn.write_all(b"hello").map_err(|e| eprintln!("{e}"))?;
                    conn.read_exact(&mut buf).map_err(|e| eprintln!("{e}"))?;
                    println!("std round {i}: {}", String::from_utf8_lossy(&buf));
                }
                Ok(())
            }
            ["race-then-hang", addr] => {
                use futures::FutureExt;
                let (_socket, mut tx, mut rx) = connect(parse_addr(addr)?).await.map_err(|_| ())?;
                tx.write_all(b"x".to_vec()).await;
                {
                    let echo = read_exactly(&mut rx, 1).fuse();
                    let hour = monotonic_clock::wait_for(3_600_000_000_000).fuse();
                    futures::pin_mut!(echo, hour);
                    futures::select! {
                        _ = echo => println!("the echo won"),
                        () = hour => println!("the hour won"),
                    }
                }
                read_exactly(&mut rx, 1).await;
                Ok(())
            }
            ["await-result", addr] => {
                let socket = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|_| ())?;
                socket.connect(parse_addr(addr)?).await.map_err(|_| ())?;
                let (_unread, result) = socket.receive();
                println!("awaiting the receive result");
                println!("receive result: {:?}", result.await);
                Ok(())
            }
            ["source", addr, bytes] => {
                source(parse_addr(addr)?, bytes.parse().map_err(|_| ())?).await
            }
            ["echo-client", addr, rounds, msg] => {
                echo_client(parse_addr(addr)?, rounds.parse().map_err(|_| ())?, msg).await
            }
            ["bulk", addr, bytes] => bulk(parse_addr(addr)?, bytes.parse().map_err(|_| ())?).await,
            ["udp-server", port, count] => {
                udp_server(port.parse().map_err(|_| ())?, count.parse().map_err(|_| ())?).await
            }
            ["udp-client", addr, rounds, msg] => {
                udp_client(parse_addr(addr)?, rounds.parse().map_err(|_| ())?, msg).await
            }
            ["sleep", millis] => {
                let millis: u64 = millis.parse().map_err(|_| ())?;
                let before = monotonic_clock::now();
                monotonic_clock::wait_for(millis * 1_000_000).await;
                let after = monotonic_clock::now();
                println!("slept {} ns", after - before);
                Ok(())
            }
            ["spin", millions] => {
                let millions: u64 = millions.parse().map_err(|_| ())?;
                let before = monotonic_clock::now();
                let mut x = 1u64;
                for i in 0..millions * 1_000_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
                }
                let after = monotonic_clock::now();
                println!("spun {millions} million in {} ns ({})", after - before, x % 10);
                Ok(())
            }
            ["resolve", name] => {
                match wasip3::sockets::ip_name_lookup::resolve_addresses(name.to_string()).await {
                    Ok(addrs) => {
                        for a in addrs {
                            println!("address {a:?}");
                        }
                    }
                    Err(e) => println!("resolve error {e:?}"),
                }
                Ok(())
            }
            _ => {
                eprintln!("usage: p3-net echo-server|echo-client|bulk|udp-server|udp-client|sleep|resolve ...");
                return Err(());
            }
        };
        result.map_err(|e| eprintln!("error: {e:?}"))
    }
}

fn parse_addr(s: &str) -> Result<IpSocketAddress, ()> {
    let addr: std::net::SocketAddrV4 = s.parse().map_err(|_| eprintln!("bad address {s}"))?;
    Ok(v4(addr))
}

fn v4(addr: std::net::SocketAddrV4) -> IpSocketAddress {
    let [a, b, c, d] = addr.ip().octets();
    IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: addr.port(),
        address: (a, b, c, d),
    })
}

async fn echo_server(port: u16, conns: Option<u32>) -> Result<(), ErrorCode> {
    let listener = TcpSocket::create(IpAddressFamily::Ipv4)?;
    listener.bind(v4(std::net::SocketAddrV4::new([0, 0, 0, 0].into(), port)))?;
    let mut accepted = listener.listen()?;
    println!("listening on {port}");
    let (done_tx, mut done_rx) = futures::channel::mpsc::unbounded::<()>();
    let mut n = 0u32;
    while conns.is_none_or(|c| n < c) {
        let Some(conn) = accepted.next().await else {
            break;
        };
        n += 1;
        let id = n;
        println!("accepted connection {id}");
        let done = done_tx.clone();
        wasip3::wit_bindgen::spawn_local(async move {
            let (total, receive_result, send_result) = echo(conn).await;
            println!("connection {id} done: {total} bytes, {receive_result:?}, {send_result:?}");
            let _ = done.unbounded_send(());
        });
    }
    // With CONNS: wait for every connection to finish.
    for _ in 0..n {
        use futures::StreamExt;
        done_rx.next().await;
    }
    Ok(())
}

/// Echo one connection until its peer ends it.
async fn echo(conn: TcpSocket) -> (usize, Result<(), ErrorCode>, Result<(), ErrorCode>) {
    let (mut incoming, received) = conn.receive();
    let (mut outgoing, to_send) = wit_stream::new::<u8>();
    let sent = conn.send(to_send);
    let mut total = 0usize;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (status, data) = incoming.read(buf).await;
        match status {
            StreamResult::Complete(_) => {
                total += data.len();
                let rest = outgoing.write_all(data).await;
                if !rest.is_empty() {
                    break;
                }
                buf = Vec::with_capacity(64 * 1024);
            }
            StreamResult::Dropped | StreamResult::Cancelled => break,
        }
    }
    drop(outgoing);
    (total, received.await, sent.await)
}

async fn clients(addr: IpSocketAddress, conns: u32, rounds: u32, size: usize) -> Result<(), ErrorCode> {
    let one = |_| async move {
        let (_socket, mut tx, mut rx) = connect(addr).await?;
        for _ in 0..rounds {
            tx.write_all(vec![b'x'; size]).await;
            if read_exactly(&mut rx, size).await.len() < size {
                return Err(ErrorCode::ConnectionReset);
            }
        }
        Ok(())
    };
    let results = futures::future::join_all((0..conns).map(one)).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    println!("{ok} of {conns} connections made {rounds} round trips of {size} bytes");
    match ok == conns as usize {
        true => Ok(()),
        false => Err(ErrorCode::ConnectionReset),
    }
}

async fn sink(port: u16) -> Result<(), ErrorCode> {
    let listener = TcpSocket::create(IpAddressFamily::Ipv4)?;
    listener.bind(v4(std::net::SocketAddrV4::new([0, 0, 0, 0].into(), port)))?;
    let mut accepted = listener.listen()?;
    let conn = accepted.next().await.ok_or(ErrorCode::ConnectionAborted)?;
    let (mut incoming, received) = conn.receive();
    let mut total = 0usize;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (status, data) = incoming.read(buf).await;
        total += data.len();
        if !matches!(status, StreamResult::Complete(_)) {
            break;
        }
        buf = data;
        buf.clear();
    }
    println!("sink: {total} bytes, {:?}", received.await);
    Ok(())
}

async fn source(addr: IpSocketAddress, bytes: usize) -> Result<(), ErrorCode> {
    let socket = TcpSocket::create(IpAddressFamily::Ipv4)?;
    socket.connect(addr).await?;
    let (mut tx, rx) = wit_stream::new::<u8>();
    let sent = socket.send(rx);
    let chunk = vec![7u8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        tx.write_all(chunk[..n].to_vec()).await;
        left -= n;
    }
    drop(tx);
    println!("source: sent {bytes} bytes, {:?}", sent.await);
    Ok(())
}

/// Connect, with the send stream and the receive stream of the connection.
async fn connect(
    addr: IpSocketAddress,
) -> Result<
    (
        TcpSocket,
        wasip3::wit_bindgen::StreamWriter<u8>,
        wasip3::wit_bindgen::StreamReader<u8>,
    ),
    ErrorCode,
> {
    let socket = TcpSocket::create(IpAddressFamily::Ipv4)?;
    socket.connect(addr).await?;
    let (tx, rx) = wit_stream::new::<u8>();
    // The send's result is not awaited: dropping the writer ends the stream.
    drop(socket.send(rx));
    let (incoming, _received) = socket.receive();
    Ok((socket, tx, incoming))
}

async fn read_exactly(rx: &mut wasip3::wit_bindgen::StreamReader<u8>, n: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let (status, data) = rx.read(Vec::with_capacity(n - got.len())).await;
        got.extend_from_slice(&data);
        if !matches!(status, StreamResult::Complete(_)) {
            break;
        }
    }
    got
}

async fn echo_client(addr: IpSocketAddress, rounds: u32, msg: &str) -> Result<(), ErrorCode> {
    let (_socket, mut tx, mut rx) = connect(addr).await?;
    println!("connected");
    for i in 0..rounds {
        let start = monotonic_clock::now();
        tx.write_all(msg.as_bytes().to_vec()).await;
        let echo = read_exactly(&mut rx, msg.len()).await;
        let took = monotonic_clock::now() - start;
        if echo.len() < msg.len() {
            // The stream ended: reading it again would trap.
            println!("round {i}: connection lost");
            return Err(ErrorCode::ConnectionReset);
        }
        println!(
            "round {i}: {} in {took} ns",
            String::from_utf8_lossy(&echo)
        );
    }
    drop(tx);
    let (status, rest) = rx.read(Vec::with_capacity(16)).await;
    println!("after close: {status:?} {} bytes", rest.len());
    Ok(())
}

async fn bulk(addr: IpSocketAddress, bytes: usize) -> Result<(), ErrorCode> {
    let (_socket, mut tx, mut rx) = connect(addr).await?;
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let sender = async {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            tx.write_all(chunk[..n].to_vec()).await;
            left -= n;
        }
        drop(tx);
    };
    let receiver = async {
        let mut got = 0usize;
        let mut sum = 0u64;
        loop {
            let (status, data) = rx.read(Vec::with_capacity(64 * 1024)).await;
            got += data.len();
            sum = data.iter().fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
            if got >= bytes || !matches!(status, StreamResult::Complete(_)) {
                break;
            }
        }
        (got, sum)
    };
    let ((), (got, sum)) = futures::join!(sender, receiver);
    println!("bulk: echoed {got} of {bytes} bytes, checksum {sum:x}");
    Ok(())
}

async fn udp_server(port: u16, count: u32) -> Result<(), ErrorCode> {
    let socket = UdpSocket::create(IpAddressFamily::Ipv4)?;
    socket.bind(v4(std::net::SocketAddrV4::new([0, 0, 0, 0].into(), port)))?;
    println!("udp listening on {port}");
    for _ in 0..count {
        let (data, from) = socket.receive().await?;
        println!("udp got {} bytes", data.len());
        socket.send(data, Some(from)).await?;
    }
    Ok(())
}

async fn udp_client(addr: IpSocketAddress, rounds: u32, msg: &str) -> Result<(), ErrorCode> {
    let socket = UdpSocket::create(IpAddressFamily::Ipv4)?;
    socket.connect(addr)?;
    for i in 0..rounds {
        socket.send(msg.as_bytes().to_vec(), None).await?;
        let (data, _) = socket.receive().await?;
        println!("udp round {i}: {}", String::from_utf8_lossy(&data));
    }
    Ok(())
}
