//! The conformance cases as a Rust program sees them through `std::net` (wasi-libc
//! underneath): every call's result or error kind and message is printed, in an order
//! that does not depend on timing. simnet's tests run it on simnet and on
//! wasmtime-wasi's real sockets and require the same output.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

fn show<T: std::fmt::Debug>(what: &str, r: std::io::Result<T>) {
    match r {
        Ok(v) => println!("{what}: ok {v:?}"),
        Err(e) => println!("{what}: error {:?}: {e}", e.kind()),
    }
}

fn status<T>(what: &str, r: std::io::Result<T>) -> Option<T> {
    match r {
        Ok(v) => {
            println!("{what}: ok");
            Some(v)
        }
        Err(e) => {
            println!("{what}: error {:?}: {e}", e.kind());
            None
        }
    }
}

fn read_some(s: &mut TcpStream, n: usize) -> std::io::Result<String> {
    let mut buf = vec![0; n];
    let got = s.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..got]).into_owned())
}

/// A connected pair over loopback: (client, accepted).
fn pair(l: &TcpListener) -> (TcpStream, TcpStream) {
    let addr = l.local_addr().expect("listener address");
    let c = TcpStream::connect(addr).expect("connect");
    let (a, _) = l.accept().expect("accept");
    (c, a)
}

fn settle() {
    std::thread::sleep(Duration::from_millis(50));
}

fn main() {
    println!("== listener");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let laddr = l.local_addr().expect("local");
    println!("listener port assigned: {}", laddr.port() != 0);
    show("listener ttl", l.ttl());
    show("listener take-error", l.take_error());
    show("listener set-nonblocking", l.set_nonblocking(true));
    show("accept with nothing pending", l.accept().map(|_| ()));
    show("listener set-nonblocking false", l.set_nonblocking(false));
    show("bind the same port", TcpListener::bind(laddr).map(|_| ()));
    show(
        "bind a foreign address",
        TcpListener::bind("192.0.2.1:0").map(|_| ()),
    );
    show(
        "bind [::1]:0",
        TcpListener::bind("[::1]:0").map(|l| l.local_addr().map(|a| a.is_ipv6())),
    );

    println!("== connect");
    let closed = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("local")
    };
    show(
        "connect to a closed port",
        TcpStream::connect(closed).map(|_| ()),
    );
    show(
        "connect to port 0",
        TcpStream::connect("127.0.0.1:0").map(|_| ()),
    );
    show(
        "connect to 0.0.0.0",
        TcpStream::connect(SocketAddr::from(([0, 0, 0, 0], laddr.port()))).map(|_| ()),
    );
    show(
        "connect-timeout to a closed port",
        TcpStream::connect_timeout(&closed, Duration::from_secs(1)).map(|_| ()),
    );

    println!("== connected");
    let (mut c, mut a) = pair(&l);
    println!(
        "peer is the listener: {}",
        c.peer_addr().ok() == Some(laddr)
    );
    println!(
        "accepted peer is the client: {}",
        a.peer_addr().ok() == c.local_addr().ok()
    );
    show("nodelay", c.nodelay());
    show("set-nodelay", c.set_nodelay(true));
    show("ttl", c.ttl());
    show("set-ttl 42", c.set_ttl(42));
    show("ttl after", c.ttl());
    show("set-ttl 0", c.set_ttl(0));
    show("read-timeout", c.read_timeout());
    show(
        "set-read-timeout 0",
        c.set_read_timeout(Some(Duration::ZERO)),
    );
    show("take-error", c.take_error());
    show("write", c.write(b"hello"));
    show("flush", c.flush());
    // A blocking zero-length read spins in wasi-libc (it waits for the stream to be
    // ready, reads nothing, and takes that as "not yet"), on wasmtime as on simnet;
    // a non-blocking one reports would-block.
    show(
        "set-nonblocking for a zero-length read",
        a.set_nonblocking(true),
    );
    show("read 0 bytes with data buffered", a.read(&mut []));
    show("set-nonblocking false again", a.set_nonblocking(false));
    show("read", read_some(&mut a, 3));
    show("read rest", read_some(&mut a, 100));
    show("set-nonblocking", a.set_nonblocking(true));
    show("read with nothing buffered", read_some(&mut a, 100));
    show("read 0 bytes with nothing buffered", a.read(&mut []));
    show("set-nonblocking false", a.set_nonblocking(false));
    show("write empty", c.write(b""));

    println!("== half-close");
    show("shutdown write", c.shutdown(Shutdown::Write));
    show("shutdown write again", c.shutdown(Shutdown::Write));
    show("write after shutdown write", c.write(b"x"));
    show("peer reads end of stream", read_some(&mut a, 100));
    show("peer reads again", read_some(&mut a, 100));
    show("peer writes back", a.write(b"reply"));
    show("client reads the reply", read_some(&mut c, 100));
    show("shutdown read", c.shutdown(Shutdown::Read));
    show("read after shutdown read", read_some(&mut c, 100));
    show("shutdown both", c.shutdown(Shutdown::Both));
    drop(a);
    drop(c);

    println!("== reset");
    let (mut c, mut a) = pair(&l);
    show("write", c.write(b"never read"));
    show("peer sees data", a.read(&mut [0; 1]));
    drop(a);
    show("read after the peer reset", read_some(&mut c, 100));
    show("read again", read_some(&mut c, 100));
    show("write after the reset", c.write(b"x"));
    show("write again", c.write(b"x"));
    show("take-error", c.take_error());
    drop(c);

    println!("== peer closed");
    let (mut c, a) = pair(&l);
    drop(a);
    show("read at end of stream", read_some(&mut c, 100));
    show("write to a closed peer", c.write(b"x"));
    settle();
    show("write after the peer's reset", c.write(b"x"));
    show("write again", c.write(b"x"));
    drop(c);

    println!("== bulk");
    let (mut c, mut a) = pair(&l);
    c.set_nonblocking(true).expect("nonblocking");
    a.set_nonblocking(true).expect("nonblocking");
    let total = 100_000usize;
    let data: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = vec![0; 65536];
    while got.len() < total {
        if sent < total {
            match c.write(&data[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
        }
        match a.read(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    println!("bulk transfer intact: {}", got == data);
    drop((c, a));

    writes_beyond_the_send_buffer(&l);
    self_connect();
    ack_timing(&l);

    println!("== name lookup");
    for name in [
        "127.0.0.1:80",
        "[::1]:80",
        "127.1:80",
        "[::]:0",
        "0x7f.1:80",
        "1.2.3.256:80",
        "a b:80",
        ":80",
        "[::1:80",
    ] {
        match name.to_socket_addrs() {
            Ok(addrs) => println!("lookup {name:?}: ok {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => println!("lookup {name:?}: error {:?}: {e}", e.kind()),
        }
    }
    status("listener still accepts", {
        let _ = TcpStream::connect(laddr).expect("connect");
        l.accept().map(|_| ())
    });
    udp();
    println!("== done");
}

/// An address with its port shown only as zero or not (ephemeral ports differ).
fn shown(a: std::io::Result<SocketAddr>) -> std::io::Result<String> {
    a.map(|a| format!("{}:{}", a.ip(), if a.port() == 0 { "0" } else { "port" }))
}

fn recv_text(s: &UdpSocket, n: usize) -> std::io::Result<String> {
    let mut buf = vec![0; n];
    let got = s.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..got]).into_owned())
}

fn udp() {
    println!("== udp");
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (a_addr, b_addr) = (a.local_addr().expect("a"), b.local_addr().expect("b"));
    show("local-addr", shown(a.local_addr()));
    show("peer-addr unconnected", a.peer_addr());
    show("bind the same port", UdpSocket::bind(a_addr).map(|_| ()));
    show(
        "bind a foreign address",
        UdpSocket::bind("192.0.2.1:0").map(|_| ()),
    );
    show("ttl", a.ttl());
    show("set-ttl 7", a.set_ttl(7));
    show("ttl after", a.ttl());
    show("take-error", a.take_error());
    show("send-to", a.send_to(b"hello", b_addr));
    let mut buf = [0u8; 64];
    match b.recv_from(&mut buf) {
        Ok((n, from)) => println!(
            "recv-from: {:?} from a: {}",
            String::from_utf8_lossy(&buf[..n]),
            from == a_addr
        ),
        Err(e) => println!("recv-from: error {:?}", e.kind()),
    }
    show("send-to empty", a.send_to(b"", b_addr));
    show("recv empty", recv_text(&b, 64));
    show(
        "send-to a long one",
        a.send_to(b"truncated datagram", b_addr),
    );
    show("recv into 9 bytes", recv_text(&b, 9));
    show("set-nonblocking", b.set_nonblocking(true));
    show("recv with nothing", recv_text(&b, 64));
    show("set-nonblocking false", b.set_nonblocking(false));
    // wasi-libc has no receive timeout for UDP (the option is refused).
    show(
        "set-read-timeout",
        b.set_read_timeout(Some(Duration::from_millis(100))),
    );
    show("send-to 65507", a.send_to(&vec![1u8; 65_507], b_addr));
    show("send-to 65508", a.send_to(&vec![1u8; 65_508], b_addr));
    show("recv 65507", recv_text(&b, 70_000).map(|t| t.len()));
    show("connect", a.connect(b_addr));
    show("peer-addr", shown(a.peer_addr()));
    show("send", a.send(b"connected"));
    show("recv", recv_text(&b, 64));
    show("b answers", b.send_to(b"answer", a_addr));
    show("a receives", recv_text(&a, 64));
    let gone = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let gone_addr = gone.local_addr().expect("gone");
    drop(gone);
    let c = UdpSocket::bind("127.0.0.1:0").expect("bind");
    show("connect to a closed port", c.connect(gone_addr));
    show("send to a closed port", c.send(b"anyone?"));
    settle();
    show("recv refused", recv_text(&c, 64));
    show("take-error after", c.take_error());
    let six = UdpSocket::bind("[::1]:0").expect("bind ipv6");
    show("ipv6 local-addr", shown(six.local_addr()));
    show("ipv6 send to ipv4", six.send_to(b"x", a_addr));
}

/// A write takes as much as wasmtime-wasi's `check-write` grants (64 KiB), whatever
/// the send buffer's size; a shutdown right after it loses none of it.
fn writes_beyond_the_send_buffer(l: &TcpListener) {
    println!("== writes beyond the send buffer");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (mut c, mut a) = pair(l);
    show("write 200000 bytes", c.write(&data));
    drop((c, a));

    let (mut c, mut a) = pair(l);
    let size: libc::c_int = 1024;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given size.
    let set = unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    println!("set SO_SNDBUF 1024: {set}");
    let written = c.write(&data).unwrap_or(0);
    println!("write 200000 bytes with a small buffer: {written}");
    show("shutdown write at once", c.shutdown(Shutdown::Write));
    let mut got = Vec::new();
    show("peer reads to the end", a.read_to_end(&mut got));
    println!("peer read all of it, in order: {}", got[..] == data[..written]);
}

/// A socket connected to its own address and port: Linux completes the simultaneous
/// open, and the socket reads what it writes.
fn self_connect() {
    println!("== connect to itself");
    // SAFETY: plain socket calls on a descriptor this function owns, with a
    // sockaddr_in and its true length.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let addr = (&raw mut sin).cast::<libc::sockaddr>();
        println!("bind: {}", libc::bind(fd, addr, len));
        println!("getsockname: {}", libc::getsockname(fd, addr, &mut len));
        println!("connect to its own address: {}", libc::connect(fd, addr, len));
        TcpStream::from_raw_fd(fd)
    };
    let mut s = stream;
    println!(
        "peer is itself: {}",
        s.peer_addr().ok().is_some() && s.peer_addr().ok() == s.local_addr().ok()
    );
    show("write", s.write(b"echo"));
    show("reads back", read_some(&mut s, 100));
    show("shutdown write", s.shutdown(Shutdown::Write));
    show("then reads", read_some(&mut s, 100));
}

/// How long patterns of small writes take, as programs feel the receiver's ACK
/// policy: at once on a fresh connection, delayed in an interactive exchange (the
/// second of two small writes waits behind Nagle for the delayed ACK). Real time on
/// the kernel, virtual time on simnet: printed as categories, each the fastest of
/// three fresh connections.
fn ack_timing(l: &TcpListener) {
    println!("== ack timing");
    let fresh = fastest(|| {
        let (mut c, mut a) = pair(l);
        let start = Instant::now();
        for _ in 0..5 {
            c.write_all(b"tick").expect("write");
            a.read_exact(&mut [0; 4]).expect("read");
        }
        start.elapsed()
    });
    println!("five small writes on a fresh connection: {}", speed(fresh));
    // Past the quick ACKs a connection starts with, the read that empties the
    // buffer sends the ACK.
    let many = fastest(|| {
        let (mut c, mut a) = pair(l);
        let start = Instant::now();
        for _ in 0..40 {
            c.write_all(b"t").expect("write");
            a.read_exact(&mut [0; 1]).expect("read");
        }
        start.elapsed()
    });
    println!("forty small writes, each read at once: {}", speed(many));
    let mut exchange = Duration::ZERO;
    let stalled = fastest(|| {
        let (mut c, mut a) = pair(l);
        let start = Instant::now();
        for _ in 0..5 {
            c.write_all(b"request").expect("write");
            a.read_exact(&mut [0; 7]).expect("read");
            a.write_all(b"response").expect("write");
            c.read_exact(&mut [0; 8]).expect("read");
        }
        exchange = exchange.max(start.elapsed());
        let start = Instant::now();
        c.write_all(b"head").expect("write");
        a.read_exact(&mut [0; 4]).expect("read");
        c.write_all(b"body").expect("write");
        a.read_exact(&mut [0; 4]).expect("read");
        start.elapsed()
    });
    println!("five requests and responses: {}", speed(exchange));
    println!("then two writes without an answer: {}", speed(stalled));
}

/// The shortest of three runs of `f`.
fn fastest(mut f: impl FnMut() -> Duration) -> Duration {
    (0..3).map(|_| f()).min().unwrap_or(Duration::MAX)
}

/// A duration as a category that a loaded machine does not blur.
fn speed(d: Duration) -> String {
    match d.as_millis() {
        0..25 => "at once".into(),
        35..250 => "after a delayed ACK".into(),
        ms => format!("{ms} ms"),
    }
}
